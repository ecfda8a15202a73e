"""One Trackio run per attempt, grouped by model and arm. Storage follows ``TRACKIO_DIR``."""

from __future__ import annotations

import contextlib
import sys
import threading

from labconsole.evals.summary import AttemptRecord

_lock = threading.Lock()  # trackio keeps one current run per process: serialize


def run_name(result_set: str, rec: AttemptRecord) -> str:
    """``<result set>/<attempt>``: runs of two ``--out`` folders never share a name."""
    return f"{result_set}/{rec.attempt_id}" if result_set else rec.attempt_id


def log_attempt(project: str, rec: AttemptRecord, result_set: str = "") -> str | None:
    """Record ``rec`` as its own Trackio run; return an error text instead of raising (tracking is optional)."""
    try:
        import trackio
    except ImportError as exc:
        return f"trackio unavailable: {exc}"
    config = {
        "case": rec.case,
        "model": rec.model,
        "with_skill": rec.with_skill,
        "repeat": rec.repeat,
        "attempt_id": rec.attempt_id,
        "result_set": result_set,
        "status": rec.status,
        "repo_commit": rec.repo_commit,
        "skill_hash": rec.skill_hash,
        "case_hash": rec.case_hash,
        "harness": rec.harness,
    }
    metrics = {
        "infra_error": 1.0 if rec.status == "error" else 0.0,
        "checks_passed": float(sum(c.status == "pass" for c in rec.checks)),
        "checks_not_run": float(sum(c.status == "not-run" for c in rec.checks)),
        **{name: float(value) for name, value in rec.usage.as_dict().items()},
        "wall_s": rec.wall_s,
    }
    if rec.status in ("pass", "fail"):  # an error or not-run attempt is no evidence either way
        metrics["passed"] = 1.0 if rec.status == "pass" else 0.0
    with _lock:
        try:
            # trackio prints progress to stdout; keep stdout for the table / --json.
            with contextlib.redirect_stdout(sys.stderr):
                trackio.init(
                    project=project, name=run_name(result_set, rec), group=f"{rec.model} {rec.arm}-skill", config=config
                )
                trackio.log(metrics)
                trackio.finish()
        except Exception as exc:  # never lose an attempt because tracking failed
            return f"trackio: {type(exc).__name__}: {exc}"
    return None
