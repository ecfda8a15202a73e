"""The backend interface and the per-agent context handed to it."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Protocol

from labconsole.agents.emitter import Emitter
from labconsole.agents.protocol import AgentLaunch, TaskMessage


# The console's ``task`` message is the unit of work a backend handles.
Task = TaskMessage


@dataclass
class AgentContext(AgentLaunch):
    """Who this agent is (from its command line) plus the runner's live controls."""

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
