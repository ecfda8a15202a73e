"""Replay controls for the app: the cursor over the log, its keys ([ ] { } / < >) and the timeline.

A mixin of :class:`LabConsoleApp` (kept apart so app.py stays about wiring). Seeks and searches
run in workers that alone touch the Replay (it shares one file object between calls); the UI
thread only reads what they hand over in ``StateUpdated``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import work

from labconsole.events.log import Event
from labconsole.lab.state import LabState
from labconsole.tui.messages import CommandDone, StateUpdated
from labconsole.tui.screens.dialogs import PromptDialog

if TYPE_CHECKING:
    from textual.app import App

    from labconsole.tui.source import ReplaySource

    _AppBase = App[int]  # what the mixin is mixed into: lets mypy check its calls to the App
else:
    _AppBase = object


HEAD_EVENTS = 2_000  # a cold open shows the state after this many events until the index is built


class ReplayControls(_AppBase):
    replay: ReplaySource | None
    cursor: int
    replay_event: Event | None
    replay_decisions: list[int]
    _search_text: str
    replay_head: int  # events shown from the head of the log while the index is built (0: none)
    lab_state: LabState

    if TYPE_CHECKING:

        def _render_state(self) -> None: ...  # the App's: draws lab_state on every screen

    def show_timeline(self) -> None:
        if self.replay is None or not self.replay.ready:
            return
        from labconsole.tui.widgets.timeline import Timeline

        for timeline in self.screen.query(Timeline):
            timeline.show(self.cursor, self.replay.count, self.replay_decisions, self.replay_event)

    @work(thread=True, exclusive=True, group="replay-open")
    def _open_replay(self) -> None:
        assert self.replay is not None
        if not self.replay.indexed:  # seconds for a million events: show the session's start meanwhile
            head = self.replay.head_state(HEAD_EVENTS)
            self.call_from_thread(self._show_head, head)
        count = self.replay.count  # the first use indexes the log (once: the index is kept)
        self.call_from_thread(self._seek, count - 1)

    def _show_head(self, state: LabState) -> None:
        if self.replay is not None and not self.replay.ready:  # the index did not win the race
            self.replay_head = state.last_seq + 1
            self.lab_state = state
            self._render_state()

    def _seek(self, seq: int) -> None:
        assert self.replay is not None
        if not self.replay.ready or self.replay.count == 0:
            return
        self.cursor = min(max(seq, 0), self.replay.count - 1)
        self._load_replay_state(self.cursor)

    @work(thread=True, exclusive=True, group="replay")
    def _load_replay_state(self, seq: int) -> None:
        assert self.replay is not None
        state = self.replay.state_at(seq)
        self.post_message(
            StateUpdated(state, cursor=seq, event=self.replay.event(seq), decisions=self.replay.decisions())
        )

    def action_replay_step(self, delta: int) -> None:
        self._seek(self.cursor + delta)

    def action_replay_jump(self, where: str) -> None:
        assert self.replay is not None
        self._seek(0 if where == "start" else self.replay.count - 1)

    def action_replay_decision(self, direction: int) -> None:
        seqs = self.replay_decisions
        target = (
            next((s for s in seqs if s > self.cursor), None)
            if direction > 0
            else next((s for s in reversed(seqs) if s < self.cursor), None)
        )
        if target is None:
            self.notify("no further decision" if direction > 0 else "no earlier decision")
            return
        self._seek(target)

    def action_replay_search(self) -> None:
        def answered(text: str | None) -> None:
            if text:
                self._search_text = text
                self._search(text, self.cursor + 1)

        self.push_screen(
            PromptDialog(
                "Search events (raw log text; next match after the cursor, wrapping)", value=self._search_text
            ),
            answered,
        )

    @work(thread=True, exclusive=True, group="replay-search")
    def _search(self, text: str, start: int) -> None:
        assert self.replay is not None
        seq = self.replay.find(text, start) if start < self.replay.count else None
        if seq is None and start > 0:  # past the last match: wrap to the top, like an editor's search
            seq = self.replay.find(text, 0)
            if seq is not None:
                self.post_message(CommandDone("search", True, f"{text!r}: wrapped to the start (event {seq + 1})"))
        if seq is None:
            self.post_message(CommandDone("search", False, f"{text!r}: no match in {self.replay.count} events"))
            return
        self.call_from_thread(self._seek, seq)
