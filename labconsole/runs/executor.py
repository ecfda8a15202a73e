"""The executor port: what the lab needs from anything that runs the objective on a commit.

:class:`~labconsole.runs.local.LocalExecutor` implements it today; a Ray or HF-Jobs executor
implements the same :class:`Executor` protocol and the lab does not change. The lab hands an
executor an :data:`Append` (its only way to write the session log) when it builds it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from labconsole.core.config import LabConfig
from labconsole.core.redact import Redactor
from labconsole.events import kinds as K
from labconsole.runs.outcome import RunOutcome
from labconsole.runs.run_log import RunLogSink

# (event kind, actor, data) -> the appended event. The Lab service passes its ``append``: an executor
# reports through it and never writes the session log itself.
Append = Callable[[str, str, dict[str, Any]], Any]


class RunCancelled(Exception):
    """The console stopped before this run could start; it is not recorded as started."""


@dataclass
class RunRequest:
    """One run of the objective: this commit, this repeat (the seed), as candidate or baseline."""

    run_id: str
    hyp_id: str
    role: str  # candidate | baseline
    sha: str
    repeat: int
    params: dict[str, Any]

    def started(self, command: str, **extra: Any) -> dict[str, Any]:
        """The ``run.started`` data every executor logs for this run; ``extra`` adds its own fields."""
        return {
            "run_id": self.run_id,
            "hyp_id": self.hyp_id,
            "role": self.role,
            "commit": self.sha,
            "repeat": self.repeat,
            "command": command,
            **extra,
        }


@dataclass(frozen=True)
class ExecutedRun:
    """A finished run as the lab sees it: the outcome, where it ran, and any protected file it changed."""

    outcome: RunOutcome
    where: str  # "local", "local:gpu0,1"; a remote executor names its node or job
    tampering: tuple[str, ...] = ()


@runtime_checkable
class Executor(Protocol):
    """Runs the objective on exact commits and reports each run as events.

    * ``run`` blocks until the run ended, however it ended: a timeout, crash, unreadable metric or
      tampering is a failed run (``outcome.status``), never an exception. Before it starts it appends
      ``run.started`` (commit, repeat, command, GPUs) and at the end ``run.finished`` (status, metric,
      duration, the output as a log blob, artifacts). It raises :class:`RunCancelled` only when
      ``cancel`` came before the run started, so that no run is left half-recorded.
    * ``cancel`` stops every run in flight (they end as ``crashed``) and refuses new ones.
    * ``clean_up_after_crash`` ends what a console that died left running; returns the run ids it ended.
    """

    def run(self, request: RunRequest, priority: float = 0.0) -> ExecutedRun: ...

    def cancel(self) -> None: ...

    def clean_up_after_crash(self) -> list[str]: ...


@dataclass(frozen=True)
class ExecutorContext:
    """What every executor is built with: the lab's repo and config, its one way into the log (``append``),
    the blob store, and where run files go. One argument, so each executor's own options stand apart."""

    repo: Any
    config: LabConfig
    append: Append
    put_blob: Callable[[bytes], str]
    runs_dir: Path


class ExecutorBase:
    """What every executor here holds: its :class:`ExecutorContext` (as attributes), and the lock and cancel
    flag its runs check."""

    def __init__(self, ctx: ExecutorContext) -> None:
        self.repo = ctx.repo
        self.config = ctx.config
        self.append = ctx.append
        self.put_blob = ctx.put_blob
        self.runs_dir = ctx.runs_dir
        self._lock = threading.Lock()
        self._cancelled = threading.Event()
        # Values of the console's secret-looking variables never reach a blob, the log or Trackio.
        self.redactor = Redactor()
        self.log_sink = RunLogSink(ctx.append, self.redactor)  # lines as the run prints them, as run.log

    def _log_sandbox(
        self, mode: str, reason: str | None, *, network: bool, env: list[str], read_paths: list[str]
    ) -> None:
        """The ``sandbox.status`` event at session start; the process limits are always the lab's own."""
        obj = self.config.objective
        self.append(
            K.SANDBOX_STATUS,
            "console",
            {
                "mode": mode,
                "reason": reason,
                "network": network,
                "env": env,
                "read_paths": read_paths,
                "memory_mb": obj.memory_mb,
                "max_processes": obj.max_processes,
            },
        )
