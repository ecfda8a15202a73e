"""Lab overview: agents, hypothesis queue, leaderboard, GPU, event feed, budget."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable

from labconsole.lab.state import LabState
from labconsole.tui import keymap
from labconsole.tui.screens.base import LabScreen
from labconsole.tui.widgets.panels import AgentsTable, EventFeed, HypothesisQueue, Leaderboard
from labconsole.tui.widgets.status import BudgetBar, GpuPanel


class OverviewScreen(LabScreen):
    TITLE_TEXT = "Overview"
    BINDINGS = keymap.bindings("overview")

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        yield BudgetBar(id="budget")
        with Horizontal(id="row-top", classes="row"):
            with Vertical(id="agents-box", classes="box") as box:
                box.border_title = "Agents"
                yield AgentsTable(compact=True, id="agents")
            with Vertical(id="gpu-box", classes="box") as box:
                box.border_title = "GPU"
                yield GpuPanel(id="gpu")
        with Horizontal(id="row-mid", classes="row"):
            with Vertical(id="queue-box", classes="box") as box:
                box.border_title = "Hypotheses"
                yield HypothesisQueue(id="queue")
            with Vertical(id="board-box", classes="box") as box:
                box.border_title = "Leaderboard"
                yield Leaderboard(id="leaderboard")
        with Vertical(id="feed-box", classes="box") as box:
            box.border_title = "Events"
            yield EventFeed(id="feed")
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
