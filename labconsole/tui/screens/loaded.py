"""What the file-backed screens (bench, evals, profile) share: results found in a worker, and an empty
state that teaches — what would fill the screen, where it looks, and the exact command to run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.message import Message
from textual.widgets import Static


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
