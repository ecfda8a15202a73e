"""Follow a session log that another console is writing (``--readonly`` viewers).

Readers never take the lock: the writer appends whole lines with one write
each, so a poll sees complete lines plus, at worst, a half-written last one,
which is left for the next poll.
"""

from __future__ import annotations

import os
from pathlib import Path

from labconsole.events.log import LOG_NAME, Event, LogCorruptError


class LogFollower:
    """Incremental reader: each :meth:`poll` returns the events appended since the last one."""

    def __init__(self, session_dir: Path | str, start_seq: int = 0) -> None:
        self.path = Path(session_dir) / LOG_NAME
        self.next_seq = start_seq
        self._offset = 0  # bytes consumed (always at a line start)
        self._line_seq = 0  # seq of the line at _offset

    def poll(self, max_events: int | None = None) -> list[Event]:
        try:
            size = os.stat(self.path).st_size
        except FileNotFoundError:
            return []
        if size < self._offset:
            # The writer cut a damaged tail we had read past: re-read from the start, by seq.
            self._offset, self._line_seq = 0, 0
        if size == self._offset:
            return []
        out: list[Event] = []
        with open(self.path, "rb") as f:
            f.seek(self._offset)
            for raw in f:
                if not raw.endswith(b"\n"):
                    break  # being written
                try:
                    ev = Event.from_json(raw)
                except (ValueError, KeyError, TypeError):
                    if f.tell() >= os.fstat(f.fileno()).st_size:
                        break  # a garbage last line: the writer repairs it on its next open
                    raise LogCorruptError(f"{self.path}:{self._line_seq + 1}: not a valid event line") from None
                self._offset += len(raw)
                self._line_seq += 1
                if ev.seq >= self.next_seq:
                    out.append(ev)
                    self.next_seq = ev.seq + 1
                    if max_events is not None and len(out) >= max_events:
                        break
        return out
