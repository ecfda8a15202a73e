"""One running console per lab: hypothesis numbers, worktrees and branches belong to one orchestrator.

The session log has its own lock (one writer per session); this one is taken
by a console that runs agents, so a second ``labconsole run`` on the same lab
is refused instead of reusing the first one's branches.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from labconsole.errors import LabError


class LabLock:
    def __init__(self, common_dir: Path, session_id: str) -> None:
        self.path = Path(common_dir) / "labconsole.lock"
        self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self._fd, 200, 0).decode(errors="replace").split()
            os.close(self._fd)
            self._fd = None
            pid, session = (holder + ["?", "?"])[:2]
            raise LabError(
                f"another console (pid {pid}, session {session}) is running this lab: decide there or "
                f"with `labconsole review …`, or stop it before starting another"
            ) from None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()} {session_id}\n".encode(), 0)

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
