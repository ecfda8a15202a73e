"""The replay timeline: where the cursor is in the log, with decisions marked."""

from __future__ import annotations

from bisect import bisect_left

from rich.text import Text
from textual.widgets import Static

from labconsole.events.log import Event
from labconsole.tui import format as F
from labconsole.tui.colors import theme_colors


class Timeline(Static):
    DEFAULT_CSS = """
    Timeline { height: 2; background: $panel; }
    """

    def show(self, cursor: int, count: int, decisions: list[int], event: Event | None) -> None:
        c = theme_colors(self.app)
        width = max(self.size.width - 2, 10)
        cells = ["─"] * width
        if count > 0:
            for seq in decisions:  # one mark per cell is enough; bisect keeps this O(width log n)
                cells[min(width - 1, seq * width // count)] = "◆"
            pos = min(width - 1, cursor * width // count)
        else:
            pos = 0
        line = Text(" ")
        for i, ch in enumerate(cells):
            if i == pos:
                line.append("█", style=f"bold {c['accent']}")
            else:
                line.append(ch, style=c["warning"] if ch == "◆" else c["muted"])
        before = bisect_left(decisions, cursor + 1)
        what = f"{event.kind} · {event.actor}" if event else "-"
        info = Text.assemble(
            (" REPLAY ", f"bold black on {c['warning']}"),
            f" event {cursor + 1}/{count}",
            f" · {F.stamp(event.ts) if event else '-'} · ",
            (what, "bold"),
            f" · decision {before}/{len(decisions)}",
            ("  [ ] step · { } decisions · / search · < > ends", c["muted"]),
            no_wrap=True,
            overflow="ellipsis",
        )
        self.update(Text("\n").join([info, line]))
