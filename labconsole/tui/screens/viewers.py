"""Full-screen read-only viewers: the whole diff, and the key help."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from labconsole.tui import keymap
from labconsole.tui.widgets.keybar import KeyBar


class TextViewer(ModalScreen[None]):
    BINDINGS = keymap.bindings("viewer")

    def __init__(self, title: str, body: object) -> None:
        super().__init__(classes="viewer")
        self.title_text, self.body = title, body

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="viewer-body") as scroll:
            scroll.border_title = self.title_text
            yield Static(self.body, id="viewer-content")  # type: ignore[arg-type]
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()

    def action_close(self) -> None:
        self.dismiss(None)


def help_table(keymap_overrides: dict[str, str], replay: bool) -> Table:
    """Every key, per scope, with the user's overrides applied."""
    table = Table(box=None, padding=(0, 2), show_header=False)
    table.add_column("key", style="bold", no_wrap=True)
    table.add_column("what")
    shown = keymap.effective_keys(keymap_overrides)
    extra = [
        ("ctrl+p", "Command palette (actions built from the current state)"),
        ("tab / shift+tab", "Move between panels"),
        ("enter", "Open the selected agent or hypothesis"),
    ]
    for scope, title in keymap.SCOPES.items():
        if scope == "replay" and not replay:
            title += " (only in `labconsole replay`)"
        table.add_row(Text(title, style="underline"), "")
        for keys, description in shown[scope]:
            table.add_row(pretty_keys(keys), description)
        if scope == "app":
            for keys, description in extra:
                table.add_row(keys, description)
        table.add_row("", "")
    table.add_row(Text("Dialogs", style="underline"), "")
    for keys, description in (
        ("y / n, escape", "Confirm / cancel (e.g. approving over reviewer flags, stop, restart)"),
        ("enter / escape", "Submit / cancel a typed line (reject reason, message, search)"),
        ("s / l / c", "Quit an owned session: stop agents / let them finish headless / cancel"),
    ):
        table.add_row(keys, description)
    table.add_row("", "")
    table.add_row(
        Text("Keymap", style="underline"),
        f"override by id in {keymap.user_keymap_path()} or the lab's "
        'lab.toml [tui.keymap], e.g. "review.approve" = "A"',
    )
    return table


_NAMES = {
    "question_mark": "?",
    "left_square_bracket": "[",
    "right_square_bracket": "]",
    "left_curly_bracket": "{",
    "right_curly_bracket": "}",
    "slash": "/",
    "less_than_sign": "<",
    "greater_than_sign": ">",
    "full_stop": ".",
    "comma": ",",
}


def pretty_keys(keys: str) -> str:
    return " / ".join(_NAMES.get(k.strip(), k.strip()) for k in keys.split(","))
