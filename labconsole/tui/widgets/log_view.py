"""A virtual view over a (possibly huge) log file: lines are indexed in a worker, only visible ones are read.

The index is an ``array('Q')`` of line start offsets built incrementally by a
thread worker (numpy finds newlines when available) and handed to the UI
thread in chunks by message, so the UI never shares a mutating structure.
``render_line`` seeks and reads just the lines on screen, through a small cache.
"""

from __future__ import annotations

import os
from array import array
from collections import OrderedDict
from pathlib import Path
from typing import BinaryIO

from rich.segment import Segment
from rich.style import Style
from textual import work
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from labconsole.tui import agentlog
from labconsole.tui.colors import theme_colors

CHUNK = 8 << 20  # bytes scanned per step; one message per chunk keeps the UI informed on a 1 GB file


def newline_offsets(block: bytes, base: int) -> array:
    """Offsets (absolute) just after each newline in ``block``."""
    out = array("Q")
    try:
        import numpy as np

        idx = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10)
        out.frombytes((idx + (base + 1)).astype(np.uint64).tobytes())
    except ImportError:  # pure-Python fallback
        pos = block.find(b"\n")
        while pos >= 0:
            out.append(base + pos + 1)
            pos = block.find(b"\n", pos + 1)
    return out


class LogView(ScrollView, can_focus=True):
    DEFAULT_CSS = """
    LogView { height: 1fr; background: $surface; }
    """

    class Indexed(Message):
        """More line starts found (``starts``) up to byte ``end``; ``done`` when the scan caught up."""

        def __init__(self, view: LogView, path: Path | None, starts: array, end: int, done: bool) -> None:
            super().__init__()
            self.view = view
            self.path = path
            self.starts = starts
            self.end = end
            self.done = done

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.path: Path | None = None
        self.follow = True
        self.raw = False  # False: protocol lines rendered for a person (agentlog.render); True: the JSON as written
        self._starts = array("Q", [0])  # start offset of each line; the last entry may be an unfinished line
        self._end = 0  # bytes indexed
        self._cache: OrderedDict[int, str] = OrderedDict()
        self._file: BinaryIO | None = None
        self._scanning = False
        self._tail_pending = False  # a scroll to the end is scheduled after the next layout
        # Replay: lines given in memory (the agent's recorded events up to the cursor) instead of a file,
        # rendered as events (agentlog.render_event) rather than as the agent's stdout.
        self._lines: list[str] | None = None

    # -- public

    @property
    def line_count(self) -> int:
        """Complete lines indexed (an unfinished last line is not shown until it ends)."""
        return len(self._lines) if self._lines is not None else len(self._starts) - 1

    def show_lines(self, lines: list[str]) -> None:
        """Show ``lines`` (recorded event lines) instead of a file; a followed view stays at its tail."""
        self.open(None)
        self._lines = lines
        self.virtual_size = Size(self.size.width, len(lines))
        if self.follow:
            self._tail_pending = True
            self.call_after_refresh(self._scroll_to_tail)
        self.refresh()

    def open(self, path: Path | None) -> None:
        self._lines = None
        if self._file is not None:
            self._file.close()
            self._file = None
        self.path = path
        self._scanning = False  # a scan of the previous file is cancelled (exclusive worker) or ignored
        self._starts, self._end = array("Q", [0]), 0
        self._cache.clear()
        self.virtual_size = Size(self.size.width, 0)
        self.scroll_to(0, 0, animate=False)
        self.refresh()
        self.poll()

    def poll(self) -> None:
        """Index whatever was appended since the last scan (called on a timer while visible)."""
        if self.path is None or self._scanning:
            return
        try:
            size = os.stat(self.path).st_size
        except OSError:
            return
        if size < self._end:  # truncated or replaced: start over
            self.open(self.path)
            return
        if size > self._end:
            self._scanning = True
            self._scan(self.path, self._end)

    # -- indexing (worker thread)

    @work(thread=True, exclusive=True, group="log-index")
    def _scan(self, path: Path, start: int) -> None:
        try:
            with open(path, "rb") as f:
                f.seek(start)
                pos = start
                while True:
                    block = f.read(CHUNK)
                    if not block:
                        break
                    starts = newline_offsets(block, pos)
                    pos += len(block)
                    last = len(block) < CHUNK
                    self.post_message(self.Indexed(self, path, starts, pos, last))
                    if last:
                        return
        except OSError:
            pass
        self.post_message(self.Indexed(self, path, array("Q"), start, True))

    def on_log_view_indexed(self, message: LogView.Indexed) -> None:
        # Not stopped: it bubbles to the screen, which shows the line count.
        if message.path != self.path:
            return  # a scan of a file we no longer show
        self._starts.extend(message.starts)
        self._end = max(self._end, message.end)
        if message.done:
            self._scanning = False
        # A scroll to the end still pending counts as at the bottom: chunks arrive faster than layouts, and
        # the offset read before the pending scroll ran would stop following half-way through a big file.
        at_bottom = self._tail_pending or self.scroll_offset.y >= self.max_scroll_y - 1
        self.virtual_size = Size(self.size.width, self.line_count)
        if self.follow and at_bottom and not self._tail_pending:
            # The new virtual size takes effect at the next layout: scroll after it.
            self._tail_pending = True
            self.call_after_refresh(self._scroll_to_tail)
        self.refresh()

    def on_resize(self) -> None:
        # A followed log stays at its tail when its panel changes size (layouts settle after the first chunks).
        if self.follow and not self._tail_pending:
            self._tail_pending = True
            self.call_after_refresh(self._scroll_to_tail)

    def _scroll_to_tail(self) -> None:
        self._tail_pending = False
        self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True)

    # -- rendering (UI thread; only visible lines)

    def _line(self, index: int) -> str:
        if self._lines is not None:
            return self._lines[index]
        text = self._cache.get(index)
        if text is not None:
            self._cache.move_to_end(index)
            return text
        if self._file is None:
            try:
                self._file = open(self.path, "rb") if self.path else None
            except OSError:
                self._file = None
            if self._file is None:
                return ""
        start, end = self._starts[index], self._starts[index + 1]
        self._file.seek(start)
        raw = self._file.read(min(end - start, 4096))
        text = raw.rstrip(b"\r\n").decode("utf-8", "replace").expandtabs(4)
        self._cache[index] = text
        if len(self._cache) > 2000:
            self._cache.popitem(last=False)
        return text

    def render_line(self, y: int) -> Strip:
        index = self.scroll_offset.y + y
        width = self.size.width
        style = self.rich_style
        if y == 0 and self.path is None and not self._lines:
            empty = "(no log for this agent)" if self._lines is None else "(no events of this agent up to the cursor)"
            return Strip([Segment(empty.ljust(width), style)])
        if index >= self.line_count:
            return Strip.blank(width, style)
        number = f"{index + 1:>7} "
        line, kind = (
            (agentlog.clean(self._line(index), 4096), agentlog.PLAIN)
            if self.raw
            else (agentlog.render if self._lines is None else agentlog.render_event)(self._line(index))
        )
        text = line[: max(0, width - len(number))]
        return Strip(
            [
                Segment(number, style + Style(dim=True)),
                Segment(text.ljust(width - len(number)), style + self._kind_style(kind)),
            ]
        )

    def _kind_style(self, kind: str) -> Style:
        if kind == agentlog.DIM:
            return Style(dim=True)
        colour = {
            agentlog.GOOD: "success",
            agentlog.BAD: "error",
            agentlog.WARN: "warning",
            agentlog.ACCENT: "accent",
        }.get(kind)
        return Style(color=theme_colors(self.app)[colour]) if colour else Style()

    def on_unmount(self) -> None:
        if self._file is not None:
            self._file.close()
