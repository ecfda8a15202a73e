"""Skill evals: per model, pass rate with and without the skill, the lift, cost and tokens; per-case grid.

Reads eval result folders (``sessions/<run>/events.jsonl`` starting with ``eval.started``, written by
``labconsole eval``) in a worker; ``n``/``p`` cycle between runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from labconsole.tui import format as F
from labconsole.tui import keymap
from labconsole.tui.colors import theme_colors
from labconsole.tui.screens.base import LabScreen, box
from labconsole.tui.screens.loaded import EmptyHelp, Listing, Loaded

EMPTY = EmptyHelp(
    "skill eval runs",
    "how often each model passes the skill's cases with and without the skill, the lift, cost per pass and "
    "a per-case grid",
    "<lab>/sessions/ and ./sessions/ (eval run folders)",
    ("labconsole eval cuda-kernels", "labconsole eval lab-protocol --models MODEL --repeats 3"),
)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.0%}"


class EvalsScreen(LabScreen):
    TITLE_TEXT = "Evals"
    BINDINGS = keymap.bindings("evals")

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.runs: Listing[Any] = Listing()

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        yield Static(id="evals-title")
        yield box("With vs without the skill", Static(id="evals-content"), id="evals-body", kind=VerticalScroll)
        yield from self.compose_footer()

    def on_mount(self) -> None:
        roots = [r for r in (self.console.source.lab_root, Path.cwd()) if r is not None]
        self._load(roots)

    @work(thread=True, exclusive=True, group="evals-load")
    def _load(self, roots: list[Path]) -> None:
        from labconsole.evals.results import list_eval_runs, load_results

        runs, seen = [], set()
        for root in roots:
            for d in list_eval_runs(root / "sessions"):
                if d.resolve() not in seen:
                    seen.add(d.resolve())
                    runs.append(load_results(d))
        self.post_message(Loaded(runs))

    def on_loaded(self, message: Loaded) -> None:
        self.runs.items = message.items
        self._show()

    def action_cycle_run(self, delta: int) -> None:
        if self.runs.step(delta):
            self._show()

    def _show(self) -> None:
        res = self.runs.shown(self, EMPTY, ("#evals-title", "#evals-content"), "eval results")
        if res is None:
            return
        c = theme_colors(self.app)
        self.query_one("#evals-title", Static).update(
            Text.assemble(
                self.runs.position(),
                f" {res.out_dir.name} · skill ",
                (res.skill or "-", "bold"),
                f" · {len(res.records)} attempts",
                (" · running" if not res.finished else "", c["warning"]),
                ("   n/p run", c["muted"]),
            )
        )
        models = Table(box=None, padding=(0, 1), header_style="bold")
        for col in ("model", "with skill", "without", "lift", "cost/pass", "tokens", "tool calls", "wall s"):
            models.add_column(col, justify="left" if col == "model" else "right")
        for s in res.summaries:
            w, wo = s.with_skill, s.without_skill
            lift = s.lift
            models.add_row(
                s.model,
                f"{_pct(w.pass_rate)} ({w.passes}/{w.decided})",
                f"{_pct(wo.pass_rate)} ({wo.passes}/{wo.decided})",
                Text("-" if lift is None else f"{lift:+.0%}", style=c["success"] if (lift or 0) > 0 else c["error"]),
                "-" if w.cost_per_pass is None else F.usd(w.cost_per_pass),
                F.tokens(w.input_tokens + w.output_tokens + wo.input_tokens + wo.output_tokens),
                str(w.tool_calls + wo.tool_calls),
                f"{w.mean_wall_s:.1f}/{wo.mean_wall_s:.1f}",
            )
        grid = Table(box=None, padding=(0, 1), header_style="bold", title="per case", title_justify="left")
        grid.add_column("case")
        cols = list(dict.fromkeys((r.model, r.arm) for r in res.case_rows))
        for model, arm in cols:
            grid.add_column(f"{model} {arm}", justify="right")
        cells = {(r.case, r.model, r.arm): r for r in res.case_rows}
        for case in dict.fromkeys(r.case for r in res.case_rows):
            row = []
            for model, arm in cols:
                r = cells.get((case, model, arm))
                row.append(
                    "-" if r is None else f"{r.passes}/{r.decided}" + (f" +{r.incomplete}?" if r.incomplete else "")
                )
            grid.add_row(case, *row)
        self.query_one("#evals-content", Static).update(Group(models, Text(""), grid))
