"""Pilot helpers shared by the TUI tests."""

from __future__ import annotations

from textual.message import Message
from textual.pilot import Pilot


class Recorder:
    """A ``message_hook`` that keeps every message, to assert what a key caused."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    def __call__(self, message: Message) -> None:
        self.messages.append(message)

    def of(self, cls: type) -> list:
        return [m for m in self.messages if isinstance(m, cls)]

    def clear(self) -> None:
        self.messages.clear()


async def settle(pilot: Pilot, ticks: float = 0.0) -> None:
    """Let workers finish and the 10 Hz live tick pick their results up."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    if ticks:
        await pilot.pause(ticks)
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def plain(widget: object, width: int = 200) -> str:
    """What a Static shows, as plain text (its content rendered by Rich)."""
    import io

    from rich.console import Console

    content = getattr(widget, "content", "")
    console = Console(file=io.StringIO(), width=width, color_system=None, legacy_windows=False)
    console.print(content)
    return console.file.getvalue()  # type: ignore[attr-defined]


async def press_settled(pilot: Pilot, *keys: str, ticks: float = 0.0) -> None:
    """Settle, then each key followed by settling: the usual 'open this screen' step of a test."""
    await settle(pilot, ticks)
    for key in keys:
        await pilot.press(key)
        await settle(pilot, ticks)
