"""Typed messages between workers and the UI thread."""

from __future__ import annotations

from typing import Any

from textual.message import Message

from labconsole.lab.state import LabState


class StateUpdated(Message):
    """A fresh LabState (a private copy: the UI may read it freely)."""

    def __init__(
        self, state: LabState, cursor: int | None = None, event: Any = None, decisions: list[int] | None = None
    ) -> None:
        super().__init__()
        self.state = state
        self.cursor = cursor  # the replay cursor this state belongs to; None when live
        self.event = event  # replay: the event at the cursor (read by the worker, not the UI thread)
        self.decisions = decisions  # replay: seqs of decision events

    def can_replace(self, message: Message) -> bool:
        # Only the newest state matters: a queued older one can be dropped.
        return isinstance(message, StateUpdated)


class CommandDone(Message):
    """A Lab command (approve, merge, pause, …) finished in a worker."""

    def __init__(self, action: str, ok: bool, text: str) -> None:
        super().__init__()
        self.action = action
        self.ok = ok
        self.text = text


class LabEvent(Message):
    """Nudge: the lab appended something (posted from the lab's thread; coalesced)."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, LabEvent)
