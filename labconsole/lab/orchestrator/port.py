"""What the orchestrator needs from the Lab service, and nothing more.

The orchestrator depends on this Protocol, not on ``labconsole.lab.service``: the service builds the
orchestrator and hands itself in, so the import arrow points one way (service → orchestrator).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Protocol

from labconsole.core.config import LabConfig
from labconsole.events.log import Event
from labconsole.lab.gitops import LabRepo
from labconsole.lab.state import LabState


class LabPort(Protocol):
    """The Lab as the orchestrator sees it: one write path (``append``), the state it folds into, the repo."""

    config: LabConfig
    repo: LabRepo
    fatal: str | None  # set by the service when the log can no longer be written: the loops stop

    @property
    def state(self) -> LabState: ...

    @property
    def session_dir(self) -> Path: ...

    def append(self, kind: str, actor: str, data: dict[str, Any], *, durable: bool | None = None) -> Event: ...

    def put_blob(self, data: bytes | str) -> str: ...

    def blob(self, digest: str) -> bytes: ...

    def locked(self) -> threading.RLock: ...

    def cleanup_worktree(self, hyp_id: str) -> None: ...
