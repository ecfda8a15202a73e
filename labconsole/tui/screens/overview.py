"""Lab overview: agents, hypothesis queue, leaderboard, GPU, event feed, budget."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import DataTable

from labconsole.lab.state import LabState
from labconsole.tui import keymap
from labconsole.tui.screens.base import LabScreen, box
from labconsole.tui.widgets.panels import AgentsTable, EventFeed, HypothesisQueue, Leaderboard
from labconsole.tui.widgets.status import BudgetBar, GpuPanel


class OverviewScreen(LabScreen):
    TITLE_TEXT = "Overview"
    BINDINGS = keymap.bindings("overview")

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        yield BudgetBar(id="budget")
        with Horizontal(id="row-top", classes="row"):
            yield box("Agents", AgentsTable(compact=True, id="agents"), id="agents-box")
            yield box("GPU", GpuPanel(id="gpu"), id="gpu-box")
        with Horizontal(id="row-mid", classes="row"):
            yield box("Hypotheses", HypothesisQueue(id="queue"), id="queue-box")
            yield box("Leaderboard", Leaderboard(id="leaderboard"), id="board-box")
        yield box("Events", EventFeed(id="feed"), id="feed-box")
        yield from self.compose_footer()

    def show_state(self, state: LabState) -> None:
        super().show_state(state)
        self.query_one(BudgetBar).show(state)
        self.query_one(AgentsTable).show(state)
        self.query_one(GpuPanel).show(state, self.console.gpu_live)
        self.query_one(HypothesisQueue).show(state)
        self.query_one(Leaderboard).show(state)
        self.query_one(EventFeed).show(state)

    def action_open_selected(self) -> None:
        focused = self.focused
        if isinstance(focused, AgentsTable) and focused.selected_key:
            self.console.open_agent(focused.selected_key)
        elif isinstance(focused, HypothesisQueue) and focused.selected_key:
            self.console.open_review(focused.selected_key)
        elif focused is not None and focused.id == "board":
            key = focused.selected_key  # type: ignore[attr-defined]
            if key:
                self.console.open_review(key)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        # Enter on a row: DataTable consumes the key and tells us which row.
        event.stop()
        self.action_open_selected()
