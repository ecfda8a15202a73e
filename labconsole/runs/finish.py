"""How every executor ends a run: store its output, log ``run.finished``, hand the lab its outcome.

The local, Ray and HF Jobs executors each used to write this out by hand; one shape here keeps their
``run.finished`` events and :class:`RunOutcome` fields the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from labconsole.core.redact import Redactor
from labconsole.events import kinds as K
from labconsole.runs.executor import Append, ExecutedRun, RunRequest
from labconsole.runs.outcome import RunOutcome


def store_output(
    put_blob: Callable[[bytes], str], redactor: Redactor, output: bytes, files: dict[str, bytes]
) -> tuple[str | None, dict[str, str]]:
    """(log blob, file name -> blob) of what a remote run sent back, each redacted before it is stored."""
    log_blob = put_blob(redactor.data(output)) if output else None
    return log_blob, {name: put_blob(redactor.data(data)) for name, data in files.items()}


def finish_run(
    append: Append,
    req: RunRequest,
    status: str,
    metric: float | None,
    returncode: int | None,
    duration_s: float,
    error: str,
    *,
    log_blob: str | None,
    artifacts: dict[str, str],
    sandbox: str,
    where: str,
    remote: bool,
    tampering: Iterable[str] = (),
    extra: dict[str, Any] | None = None,
) -> ExecutedRun:
    """Append ``run.finished`` and return the run as the lab sees it. A remote run's ``where`` (its node or
    job) goes into the event and the outcome; a local run's stays on the :class:`ExecutedRun` alone.
    ``extra`` adds declared ``run.finished`` fields an executor measures itself (a local run's peak GPU memory)."""
    data: dict[str, Any] = {
        "run_id": req.run_id,
        "hyp_id": req.hyp_id,
        "status": status,
        "metric": metric,
        "returncode": returncode,
        "duration_s": duration_s,
        "log_blob": log_blob,
        "error": error,
        "artifacts": artifacts,
        "sandbox": sandbox,
    }
    if remote:
        data["where"] = where
    data.update(extra or {})
    append(K.RUN_FINISHED, "console", data)
    outcome = RunOutcome(
        req.run_id, req.role, req.repeat, status, metric, duration_s, error, artifacts, sandbox, where if remote else ""
    )
    return ExecutedRun(outcome, where, tuple(tampering))
