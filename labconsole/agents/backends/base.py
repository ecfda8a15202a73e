"""The backend interface and the per-agent context handed to it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

from labconsole.agents.emitter import Emitter
from labconsole.agents.protocol import AgentLaunch, TaskMessage


# The console's ``task`` message is the unit of work a backend handles.
Task = TaskMessage


class Liveness:
    """Whether the model is actually answering. Heartbeats only prove the process is alive; this
    says how long the current model call has gone without a token, so that a hung call is seen
    (the runner puts it on each heartbeat, the supervisor calls the agent stalled past its limit)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._since: float | None = None  # last token, or the call's start; None: not waiting on a model
        self._tool = False

    @contextmanager
    def model_call(self) -> Iterator[None]:
        with self._lock:
            self._since = time.monotonic()
        try:
            yield
        finally:
            with self._lock:
                self._since, self._tool = None, False

    def tokens(self) -> None:
        """Something arrived from the model (a streamed chunk, a CLI event line); also ends a tool run."""
        with self._lock:
            if self._since is not None:
                self._since = time.monotonic()
            self._tool = False

    def tool_running(self) -> None:
        """A CLI runs a tool inside its model call: a long test run is not the model hanging."""
        with self._lock:
            self._tool = True

    def waiting_s(self) -> float:
        """Seconds since the model last sent anything during a call in progress; 0 when none is."""
        with self._lock:
            return 0.0 if self._since is None or self._tool else time.monotonic() - self._since


@dataclass
class AgentContext(AgentLaunch):
    """Who this agent is (from its command line) plus the runner's live controls."""

    # Set by the runner on pause/shutdown; long-running backends check them between steps.
    paused: threading.Event = field(default_factory=threading.Event)
    stopping: threading.Event = field(default_factory=threading.Event)
    # Human messages not yet consumed by the backend (appended by the runner).
    inbox: list[str] = field(default_factory=list)
    liveness: Liveness = field(default_factory=Liveness)

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
