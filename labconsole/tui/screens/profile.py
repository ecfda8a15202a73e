"""Profile: where a step's time goes — a table of operators and a time-share bar chart coloured by verdict.

Reads profile JSONs (``labconsole profile --json``) in a worker; ``n``/``p`` cycle between them.
``h`` turns the profile's top memory- and overhead-bound operators into hypotheses for the
session this console holds (``Lab.propose_external``, in a worker); the planner dedupes and queues
them like any proposal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.message import Message
from textual.widgets import DataTable, Static

from labconsole.errors import LabError
from labconsole.tui import keymap, profiledata
from labconsole.tui.colors import theme_colors
from labconsole.tui.decisions import decision
from labconsole.tui.screens.base import LabScreen, box
from labconsole.tui.screens.loaded import EmptyHelp, Loaded, show_status
from labconsole.tui.source import Source

CHART_ROWS = 10  # operators in the bar chart
CHART_WIDTH = 40  # cells of the longest bar
LABEL_WIDTH = 44
OP_WIDTH = 54  # Inductor kernel names run to hundreds of characters
HYPOTHESES = 3  # how many hypotheses `h` hands over
EMPTY = EmptyHelp(
    "profiles",
    "where a model's step time goes: each operator's share, achieved GB/s and TFLOP/s and whether it is "
    "memory-, compute- or overhead-bound; h turns the top ones into hypotheses",
    "<lab>/profiles/, <lab>/benchmarks/results/ and ./benchmarks/results/",
    (
        "labconsole profile qwen3-tiny-decode --device cpu --json profiles/qwen3-tiny-decode.json",
        "labconsole profile qwen3-8b-decode --json profiles/qwen3-8b-decode.json  # on a GPU",
    ),
)
VERDICT_COLOR = {
    "memory-bound": "primary",
    "compute-bound": "success",
    "overhead-bound": "error",
    "unknown": "foreground",
}
BLOCKS = " ▏▎▍▌▋▊▉"


def verdict_colors(c: dict[str, str]) -> dict[str, str]:
    """Verdict → a colour of the current theme (so a theme change recolours the chart)."""
    out = {v: c[name] for v, name in VERDICT_COLOR.items()}
    out["unknown"] = f"dim {out['unknown']}"  # no verdict: the text colour, dimmed
    return out


def bar(fraction: float, width: int) -> str:
    """A horizontal bar ``fraction`` of ``width`` cells long, in eighths of a cell."""
    eighths = max(0, round(fraction * width * 8))
    full, part = divmod(eighths, 8)
    return "█" * full + (BLOCKS[part] if part else "")


def hand_off(source: Source, profile: dict[str, Any], top: int = HYPOTHESES) -> tuple[list[str], list[str]]:
    """(ids, titles) of the hypotheses appended to the source's session. Runs in a worker thread."""
    from labconsole.profile.hypotheses import hypotheses_from_profile, profile_bytes

    hypotheses = hypotheses_from_profile(profile, top=top)
    if not hypotheses:
        return [], []
    data = profile_bytes(profile)  # the evidence: stored once, content-addressed
    ids = source.propose_hypotheses(hypotheses, "console", {i: data for i in range(len(hypotheses))})
    return ids, [h["title"] for h in hypotheses]


def _num(x: float | None, fmt: str) -> Text:
    return Text(format(x, fmt) if x else "-", justify="right")


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


class ProfileScreen(LabScreen):
    TITLE_TEXT = "Profile"
    BINDINGS = keymap.bindings("profile")

    class Proposed(Message):
        """The hand-off finished: the new hypothesis ids, or why not."""

        def __init__(self, ids: list[str], titles: list[str], error: str = "") -> None:
            super().__init__()
            self.ids = ids
            self.titles = titles
            self.error = error

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.files: list[profiledata.ProfileFile] | None = None
        self.index = 0
        self.proposing = False

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        yield Static(id="profile-title")
        table: DataTable[str | Text] = DataTable(id="profile-table", cursor_type="row", zebra_stripes=True)
        yield box("Time share per operator", Static(id="profile-chart"), table, id="profile-body")
        yield from self.compose_footer()

    def on_mount(self) -> None:
        table = self.query_one("#profile-table", DataTable)
        for label, key in (
            ("#", "rank"),
            ("operator · scope", "op"),
            ("category", "cat"),
            ("verdict", "verdict"),
            ("time µs", "time"),
            ("share", "share"),
            ("calls", "calls"),
            ("GB/s", "gbps"),
            ("TFLOP/s", "tflops"),
            ("FLOP/B", "intensity"),
        ):
            table.add_column(label, key=key)
        self._load(self.console.source.lab_root, Path.cwd())

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        if self.files == []:  # none found before: one may have been written since (the demo profiles in the background)
            self._load(self.console.source.lab_root, Path.cwd())

    @work(thread=True, exclusive=True, group="profile-load")
    def _load(self, lab_root: Path | None, repo_root: Path | None) -> None:
        self.post_message(Loaded(profiledata.load_all(lab_root, repo_root)))

    def on_loaded(self, message: Loaded) -> None:
        self.files = message.items
        self._show()

    @property
    def current(self) -> profiledata.ProfileFile | None:
        return self.files[self.index] if self.files else None

    def action_cycle(self, delta: int) -> None:
        if self.files:
            self.index = (self.index + delta) % len(self.files)
            self._show()

    # -- hypotheses

    @decision("propose hypotheses")
    def action_propose(self) -> None:
        f = self.current
        if f is None:
            self.notify(f"no profile to propose from: run `{EMPTY.commands[0]}`", title="profile", severity="warning")
            return
        if self.proposing:
            self.notify("already proposing from this profile: wait for it", title="profile")
            return
        self.proposing = True  # one hand-off at a time: a second press would propose the same again
        self.notify(f"{f.label}: proposing the top {HYPOTHESES} hypotheses…", title="profile", timeout=2)
        self._propose(self.console.source, f.raw)  # taken here: the worker touches nothing of the app

    @work(thread=True, group="profile-propose")
    def _propose(self, source: Source, profile: dict[str, Any]) -> None:
        try:
            ids, titles = hand_off(source, profile)
            self.post_message(self.Proposed(ids, titles))
        except LabError as exc:
            self.post_message(self.Proposed([], [], str(exc)))
        except Exception as exc:  # a bug or a full disk must not take the console down
            self.post_message(self.Proposed([], [], f"{type(exc).__name__}: {exc}"))

    def on_profile_screen_proposed(self, message: ProfileScreen.Proposed) -> None:
        self.proposing = False
        if message.error:
            self.notify(message.error, title="propose", severity="error", timeout=8)
        elif not message.ids:
            self.notify(
                "no memory- or overhead-bound operator worth a hypothesis here", title="propose", severity="warning"
            )
        else:
            lines = "\n".join(f"{i}: {t}" for i, t in zip(message.ids, message.titles))
            self.notify(f"proposed {', '.join(message.ids)}\n{lines}", title="propose", timeout=6)

    # -- rendering

    def _show(self) -> None:
        c = theme_colors(self.app)
        title = self.query_one("#profile-title", Static)
        chart = self.query_one("#profile-chart", Static)
        table = self.query_one("#profile-table", DataTable)
        f = self.current
        if not show_status(self.files, EMPTY, title, chart, c, "profiles") or f is None:
            return
        title.update(self._title(f, c))
        chart.update(self._chart(f, c))
        colors = verdict_colors(c)
        table.clear()
        for r in f.operators:
            op = _clip(f"{r.name} · {r.scope}" if r.scope else r.name, OP_WIDTH)
            table.add_row(
                str(r.rank),
                op,
                r.category,
                Text(r.verdict, style=colors[r.verdict]),
                _num(r.time_us, ",.1f"),
                _num(r.share, ".1%"),
                _num(r.calls, "g"),
                _num(r.gbps, ",.1f"),
                _num(r.tflops, ".3g"),
                _num(r.intensity, ".3g"),
                key=str(r.rank),
            )

    def _title(self, f: profiledata.ProfileFile, c: dict[str, str]) -> Text:
        assert self.files is not None
        peaks = f.peaks
        peak_text = (
            f" · peaks {peaks.get('copy_gbps', 0):,.0f} GB/s, {peaks.get('matmul_tflops', 0):.3g} TFLOP/s"
            if peaks
            else ""
        )
        return Text.assemble(
            (f" {self.index + 1}/{len(self.files)} ", "bold reverse"),
            f" {f.path.name} ",
            (f.label, "bold"),
            (f" · {f.device} · step {f.step_time_us / 1000:,.2f} ms{peak_text}", c["muted"]),
        )

    def _chart(self, f: profiledata.ProfileFile, c: dict[str, str]) -> Text:
        colors = verdict_colors(c)
        out = Text("share of the step, top operators   ", style="bold")
        for verdict, color in colors.items():
            out.append("■ ", style=color)
            out.append(verdict.removesuffix("-bound") + "  ", style=c["muted"])
        out.append("\n")
        rows = f.operators[:CHART_ROWS]
        top = max((r.share for r in rows), default=0.0) or 1.0  # the biggest bar fills the width
        for r in rows:
            label = _clip(f"{r.rank:>3} {r.name} · {r.scope}" if r.scope else f"{r.rank:>3} {r.name}", LABEL_WIDTH)
            out.append(f"{label:<{LABEL_WIDTH}} ")
            out.append(f"{bar(r.share / top, CHART_WIDTH):<{CHART_WIDTH}}", style=colors[r.verdict])
            out.append(f" {r.share:6.1%}\n")
        return out
