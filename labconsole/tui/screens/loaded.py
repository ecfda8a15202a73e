"""What the file-backed screens (bench, evals, profile) share: results found in a worker, and an empty
state that teaches — what would fill the screen, where it looks, and the exact command to run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from rich.text import Text
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Static

from labconsole.tui.colors import theme_colors

T = TypeVar("T")


class Loaded(Message):
    """The screen's worker found these results (files or runs); posted to the screen itself."""

    def __init__(self, items: list[Any]) -> None:
        super().__init__()
        self.items = items


@dataclass(frozen=True)
class EmptyHelp:
    what: str  # "benchmark results"
    fills: str  # what the screen shows once there is something
    where: str  # where it looks
    commands: tuple[str, ...]  # exact commands, the first the most likely

    def title(self, c: dict[str, str]) -> Text:
        return Text(f" No {self.what} yet: run `{self.commands[0]}`", style=c["warning"])

    def body(self, c: dict[str, str]) -> Text:
        text = Text()
        text.append(f"This screen shows {self.fills}.\n\n", style="bold")
        text.append(f"It looks in {self.where}.\n\nTo fill it, run:\n")
        for command in self.commands:
            text.append(f"\n  $ {command}", style=c["accent"])
        return text


def show_status(
    items: list[Any] | None, help: EmptyHelp, title: Static, body: Static, c: dict[str, str], loading: str
) -> bool:
    """Loading / empty (teaching) / ready: True when there is something to render."""
    if items is None:
        title.update(Text(f" loading {loading}…", style=c["muted"]))
        return False
    if not items:
        title.update(help.title(c))
        body.update(help.body(c))
        return False
    return True


@dataclass
class Listing(Generic[T]):
    """The results a screen found (None while its worker still looks) and which one it shows."""

    items: list[T] | None = None
    index: int = 0

    @property
    def current(self) -> T | None:
        return self.items[self.index] if self.items else None

    def step(self, delta: int) -> bool:
        """Show the next (``delta`` 1) or previous (-1) one, wrapping; False when there is none to step to."""
        if not self.items:
            return False
        self.index = (self.index + delta) % len(self.items)
        return True

    def position(self) -> tuple[str, str]:
        """``i/n``, as the title shows it."""
        return f" {self.index + 1}/{len(self.items or [])} ", "bold reverse"

    def shown(self, screen: Widget, help: EmptyHelp, ids: tuple[str, str], loading: str) -> T | None:
        """The one to render, or None after putting the loading or empty state in the title and body ``ids``."""
        title, body = (screen.query_one(i, Static) for i in ids)
        return self.current if show_status(self.items, help, title, body, theme_colors(screen.app), loading) else None
