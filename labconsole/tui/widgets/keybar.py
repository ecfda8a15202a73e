"""The key bar at the bottom of each screen: the active bindings, rendered as one line of text.

Textual's Footer recomposes its keys whenever bindings change (every screen switch), and in
textual 8.2 each recompose leaves the old FooterKeys referenced by a data binding: RSS grew
~0.3 MB per switch. One Static that re-renders its text has no such cost.
"""

from __future__ import annotations

from rich.text import Text
from textual.screen import Screen
from textual.widgets import Static

from labconsole.tui.colors import theme_colors
from labconsole.tui.keymap import DECISION_ACTIONS


ALWAYS_SHOWN = frozenset({"help", "quit", "close"})


class KeyBar(Static):
    DEFAULT_CSS = """
    KeyBar { height: 1; background: $panel; color: $foreground; }
    """

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self.call_after_refresh(self._bindings_changed, self.screen)

    def _bindings_changed(self, screen: Screen) -> None:
        c = theme_colors(self.app)
        text = Text(no_wrap=True, overflow="ellipsis")
        tail = Text(no_wrap=True)  # help and quit: always shown, at the right end, whatever the width
        seen: set[str] = set()
        readonly = bool(getattr(self.app, "readonly", False))
        for _node, binding, enabled, _tooltip in screen.active_bindings.values():
            if (
                not binding.show
                or binding.action in seen
                or (readonly and binding.action.split("(")[0] in DECISION_ACTIONS)
            ):
                continue  # a read-only view still answers these keys, with why they are ignored
            seen.add(binding.action)
            into = tail if binding.action in ALWAYS_SHOWN else text
            key = self.app.get_key_display(binding)
            into.append(f" {key} ", style=f"bold {c['accent']}" if enabled else c["muted"])
            into.append(f"{binding.description} ", style="" if enabled else c["muted"])
        tail.append(" ^p ", style=f"bold {c['accent']}")
        tail.append("palette ")
        width = self.size.width or 80
        text.truncate(max(width - tail.cell_len, 0), overflow="ellipsis", pad=True)
        self.update(text + tail)

    def on_resize(self) -> None:
        self._bindings_changed(self.screen)
