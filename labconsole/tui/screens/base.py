"""What every lab screen shares: the header, the footer, state updates, read-only action gating."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import Screen
from textual.widget import Widget

from labconsole.lab import notify
from labconsole.lab.state import LabState
from labconsole.tui.widgets.keybar import KeyBar
from labconsole.tui.widgets.status import LabHeader, NeedsYouBanner
from labconsole.tui.widgets.timeline import Timeline

if TYPE_CHECKING:
    from labconsole.tui.app import LabConsoleApp


def box(title: str, *children: Widget, id: str, kind: type[Widget] = Vertical) -> Widget:
    """A titled panel (the ``.box`` border) around ``children``: every screen's panels look alike."""
    container = kind(*children, id=id, classes="box")
    container.border_title = title
    return container


class LabScreen(Screen):
    TITLE_TEXT = "Lab"

    @property
    def console(self) -> LabConsoleApp:
        return cast("LabConsoleApp", self.app)

    def compose_header(self) -> ComposeResult:
        yield LabHeader()
        yield NeedsYouBanner()

    def compose_footer(self) -> ComposeResult:
        with Vertical(classes="bottom-bar"):
            if self.console.replay is not None:
                yield Timeline()
            yield KeyBar()

    def on_screen_resume(self) -> None:
        # Show the screen as it was first (cheap), then bring it up to date right after that render:
        # a key that switches screens should not wait for a full state render.
        self.call_after_refresh(self._catch_up)

    def _catch_up(self) -> None:
        if self.is_current:
            self.show_state(self.console.lab_state)
            self.console.show_timeline()

    def on_resize(self) -> None:
        self._show_header(self.console.lab_state)

    def _show_header(self, state: LabState) -> None:
        """Header and "needs you" banner: cheap, so the app calls this every second to keep the clock live."""
        console = self.console
        for header in self.query(LabHeader):
            header.show(
                state,
                console.mode_badge,
                self.TITLE_TEXT,
                console.header_extra(),
                now=console.now(),
                gpu=console.gpu_live,
            )
        items = notify.needs_you(state)
        for banner in self.query(NeedsYouBanner):
            banner.show(notify.summary(items), len(items))

    def show_state(self, state: LabState) -> None:
        """Render ``state``; subclasses extend."""
        self._show_header(state)
