"""A full disk: the append fails with one clear line, and the log on disk stays whole."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from labconsole.events.audit import verify_session
from labconsole.events.log import EventLog, LogWriteError, read_events


def test_disk_full_cuts_the_partial_line_and_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = EventLog.open(tmp_path / "s")
    for i in range(3):
        log.append("note", "console", {"text": str(i)})
    real_write = os.write
    calls = {"n": 0}

    def half_then_enospc(fd: int, data: bytes) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            return real_write(fd, data[: len(data) // 2])  # a torn half line reaches the disk
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_enospc)
    with pytest.raises(
        LogWriteError, match=r"No space left on device\): free disk space, then `labconsole run --resume`"
    ):
        log.append("note", "console", {"text": "lost"})
    monkeypatch.setattr(os, "write", real_write)
    # the next append follows the last whole event, and the chain is intact
    log.append("note", "console", {"text": "after"})
    log.close()
    assert [e.data["text"] for e in read_events(tmp_path / "s")] == ["0", "1", "2", "after"]
    assert verify_session(tmp_path / "s").ok
