"""Kernel benchmarks: a table of GB/s per shape and candidate, and a GB/s-vs-shape bar chart."""

from __future__ import annotations

import math
from pathlib import Path

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from labconsole.tui import benchdata, keymap
from labconsole.tui.colors import theme_colors
from labconsole.tui.screens.base import LabScreen, box
from labconsole.tui.screens.loaded import EmptyHelp, Listing, Loaded

EMPTY = EmptyHelp(
    "benchmark results",
    "each kernel variant's GB/s per shape, as a table and a log-scale chart, one file and section at a time",
    "<lab>/benchmarks/results/*.json and ./benchmarks/results/*.json",
    (
        "labconsole bench kernels/rmsnorm --json benchmarks/results/rmsnorm.json",
        "labconsole bench kernels/rmsnorm --cpu-smoke --json benchmarks/results/rmsnorm-cpu.json  # no GPU here",
    ),
)


class BenchScreen(LabScreen):
    TITLE_TEXT = "Benchmarks"
    BINDINGS = keymap.bindings("bench")

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.files: Listing[benchdata.BenchFile] = Listing()
        self.section_index = 0

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        yield Static(id="bench-title")
        yield box(
            "GB/s per shape", Static(id="bench-table"), Static(id="bench-chart"), id="bench-body", kind=VerticalScroll
        )
        yield from self.compose_footer()

    def on_mount(self) -> None:
        self._load(self.console.source.lab_root, Path.cwd())

    @work(thread=True, exclusive=True, group="bench-load")
    def _load(self, *roots: Path | None) -> None:
        self.post_message(Loaded(benchdata.load_all(*roots)))

    def on_loaded(self, message: Loaded) -> None:
        self.files.items = message.items
        self._show()

    def action_cycle_file(self, delta: int) -> None:
        if self.files.step(delta):
            self.section_index = 0
            self._show()

    def action_cycle_section(self, delta: int) -> None:
        if self.files.current is not None:
            sections = self.files.current.sections
            self.section_index = (self.section_index + delta) % len(sections)
            self._show()

    def _show(self) -> None:
        f = self.files.shown(self, EMPTY, ("#bench-title", "#bench-table"), "benchmark results")
        if f is None:
            return
        section = f.sections[self.section_index]
        c = theme_colors(self.app)
        title = self.query_one("#bench-title", Static)
        title.update(
            Text.assemble(
                self.files.position(),
                f" {f.path.name}",
                (f" · {f.device}" if f.device else "", c["muted"]),
                "  section ",
                (f"{self.section_index + 1}/{len(f.sections)} {section.name}", "bold"),
                ("   n/p file · ,/. section", c["muted"]),
            )
        )
        table = Table(box=None, padding=(0, 1), header_style="bold")
        table.add_column("shape")
        for cand in section.candidates:
            table.add_column(cand, justify="right")
        for shape in section.shapes:
            cells = []
            for cand in section.candidates:
                stats = section.cells.get((shape, cand), {})
                gbs, pct = stats.get("gb_s"), stats.get("pct_of_copy")
                cells.append("-" if gbs is None else f"{gbs:.0f}" + (f"·{pct:.0f}%" if pct is not None else ""))
            table.add_row(shape, *cells)
        self.query_one("#bench-table", Static).update(table)
        # GB/s vs shape: one row per candidate, one block per shape, log-scaled (shapes span 1 to 64k rows).
        values = [float(gbs) for s in section.cells.values() if (gbs := s.get("gb_s"))]
        lo, hi = (math.log(min(values)), math.log(max(values))) if values else (0.0, 1.0)
        span = (hi - lo) or 1.0
        palette = [c["primary"], c["success"], c["accent"], c["warning"], c["error"], c["secondary"]]
        width = max(len(cand) for cand in section.candidates)
        chart = Text("\nGB/s vs shape (log scale; ", style="bold")
        chart.append(f"{section.shapes[0]} … {section.shapes[-1]})\n", style="bold")
        for i, cand in enumerate(section.candidates):
            chart.append(f"  {cand:<{width}} ")
            last = None
            for shape in section.shapes:
                gbs = section.cells.get((shape, cand), {}).get("gb_s")
                if not gbs:
                    chart.append(" · ", style=c["muted"])
                    continue
                last = gbs
                level = min(7, int((math.log(gbs) - lo) / span * 7.999))
                chart.append(" " + "▁▂▃▄▅▆▇█"[level] * 2, style=palette[i % len(palette)])
            chart.append(f"  {last:,.0f} GB/s\n" if last else "\n")
        self.query_one("#bench-chart", Static).update(chart)
