"""The backend interface and the per-agent context handed to it."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from labconsole.agents.emitter import Emitter


@dataclass
class Task:
    """A unit of work sent by the console (``{"type": "task", ...}``)."""

    id: str
    kind: str  # propose | plan | implement | review | report
    payload: dict[str, Any]


@dataclass
class AgentContext:
    agent_id: str
    role: str
    backend: str
    model: str
    lab_root: Path
    options: dict[str, Any] = field(default_factory=dict)
    # Set by the runner on pause/shutdown; long-running backends check them between steps.
    paused: threading.Event = field(default_factory=threading.Event)
    stopping: threading.Event = field(default_factory=threading.Event)
    # Human messages not yet consumed by the backend (appended by the runner).
    inbox: list[str] = field(default_factory=list)

    def wait_if_paused(self) -> None:
        while self.paused.is_set() and not self.stopping.is_set():
            self.stopping.wait(0.1)


class Backend(Protocol):
    """One per agent process. ``handle`` runs one task to completion.

    It reports through ``emit`` (proposal / plan / commit / verdict / report,
    plus status, tool_call, usage and log) and must end the task with
    ``emit.done(task.id)`` or ``emit.error(..., task=task.id)``; the runner
    does that for it when ``handle`` returns or raises.
    """

    def __init__(self, ctx: AgentContext) -> None: ...

    def handle(self, task: Task, emit: Emitter) -> None: ...
