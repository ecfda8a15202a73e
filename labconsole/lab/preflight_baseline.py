"""One baseline run before anything is spent: the objective, on the lab's main commit, in the same
executor (checkout, environment, sandbox) that measures candidates.

A lab whose baseline cannot be measured would have every hypothesis fail at measurement, after the
agents spent tokens and the GPUs spent hours on it. ``labconsole check`` shows this run; ``labconsole
run`` refuses to start agents when it fails, with one line that says what to fix.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labconsole.core.config import LabConfig
from labconsole.errors import LabError
from labconsole.events import kinds as K
from labconsole.runs.executor import Append, ExecutorContext, RunRequest
from labconsole.runs.local import LocalExecutor

TAIL_LINES = 10  # autoresearch's summary block, whole
BASELINE_RUN_PREFIX = "baseline-check"


class BaselineError(LabError):
    """The baseline cannot be measured: no agent starts."""

    exit_code = 3


@dataclass(frozen=True)
class BaselineResult:
    sha: str
    command: str
    status: str  # the run's status: ok | failed | timeout | crashed | invalid
    metric: float | None
    duration_s: float
    error: str  # the executor's reason ("exit code 2: …", "metric: no line …", "timed out after …")
    returncode: int | None
    tail: tuple[str, ...] = field(default_factory=tuple)  # the last lines of its output

    @property
    def ok(self) -> bool:
        return self.status == "ok" and self.metric is not None

    def problem(self) -> tuple[str, str]:
        """(what failed, what to fix): why the baseline could not be measured."""
        cmd = f"[objective] command {self.command!r}"
        last = self.tail[-1] if self.tail else ""
        if self.status == "timeout":
            return f"the baseline run timed out ({self.error})", "raise [objective] timeout_s or make the run shorter"
        failed = self.returncode not in (0, None)
        if self.returncode == 127 or (failed and re.search(r"\bnot found\b", last)):
            return f"the baseline command was not found ({last or 'exit code 127'})", f"fix {cmd} or install it"
        if self.error.startswith("metric:"):
            seen = f" (its last line: {last[:160]!r})" if last else ""
            return (
                f"the baseline run printed no metric: {self.error[len('metric:') :].strip()}{seen}",
                "fix [objective] metric or what the script prints",
            )
        if self.status == "invalid":
            return f"the baseline run {self.error.removeprefix('run ')}", "a run must not write protected files"
        if failed:
            return (
                f"the baseline run failed with exit code {self.returncode}: {last[:200] or '(no output)'}",
                f"fix {cmd}",
            )
        return f"the baseline run {self.status}: {self.error or 'no metric'}", f"fix {cmd}"

    def cause(self) -> str:
        what, fix = self.problem()
        return f"{what}; {fix}"


def measure_baseline(
    config: LabConfig,
    repo: Any,
    sha: str,
    *,
    append: Append | None = None,
    put_blob: Callable[[bytes], str] | None = None,
    read_blob: Callable[[str], bytes] | None = None,
    runs_dir: Path | None = None,
    lease_pool: Any = None,
    owners: Any = None,
    run_id: str = BASELINE_RUN_PREFIX,
    executor_factory: Callable[[Append, Callable[[bytes], str]], Any] | None = None,
) -> BaselineResult:
    """Run the objective once on ``sha`` the way a measurement does (the same executor class, config,
    checkout, environment and GPU leases). ``run_id`` must be new to the session. With the session's ``append``/``put_blob``/``read_blob`` the run
    is in the log like any other; without them (``labconsole check``) nothing is recorded."""
    finished: dict[str, Any] = {}
    kept: dict[str, bytes] = {}

    def record(kind: str, actor: str, data: dict[str, Any]) -> Any:
        if kind == K.RUN_FINISHED:
            finished.update(data)
        return append(kind, actor, data) if append is not None else None

    def store(data: bytes) -> str:
        if put_blob is not None:
            return put_blob(data)
        digest = hashlib.sha256(data).hexdigest()
        kept[digest] = data
        return digest

    # A lab whose runs go to Ray or HF Jobs measures its baseline there too (executor_factory builds it).
    executor = (
        executor_factory(record, store)
        if executor_factory is not None
        else LocalExecutor(
            ExecutorContext(repo, config, record, store, runs_dir or repo.root / ".labconsole" / "runs"),
            lease_pool=lease_pool,
            owners=owners,
        )
    )
    done = executor.run(RunRequest(run_id, "", "baseline", sha, 0, {}))
    log_blob = finished.get("log_blob")
    output = b""
    if log_blob:
        output = kept.get(log_blob) or (read_blob(log_blob) if read_blob is not None else b"")
    lines = [line for line in output.decode("utf-8", "replace").splitlines() if line.strip()]
    outcome = done.outcome
    return BaselineResult(
        sha,
        config.objective.command,
        outcome.status,
        outcome.metric,
        outcome.duration_s,
        outcome.error,
        finished.get("returncode"),
        tuple(lines[-TAIL_LINES:]),
    )


def require_baseline(result: BaselineResult) -> None:
    if not result.ok:
        raise BaselineError(f"the lab's baseline cannot be measured, no agent started: {result.cause()}")
