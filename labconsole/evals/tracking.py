"""One Trackio run per attempt, grouped by model and arm. Storage follows ``TRACKIO_DIR``."""

from __future__ import annotations

import contextlib
import sys
import threading

from labconsole.evals.summary import AttemptRecord

_lock = threading.Lock()  # trackio keeps one current run per process: serialize


def log_attempt(project: str, rec: AttemptRecord) -> str | None:
    """Record ``rec`` as its own Trackio run; return an error text instead of raising (tracking is optional)."""
    try:
        import trackio
    except ImportError as exc:
        return f"trackio unavailable: {exc}"
    config = {"case": rec.case, "model": rec.model, "with_skill": rec.with_skill, "repeat": rec.repeat,
              "attempt_id": rec.attempt_id}
    metrics = {
        "passed": 1.0 if rec.status == "pass" else 0.0,
        "checks_passed": float(sum(c.status == "pass" for c in rec.checks)),
        "checks_not_run": float(sum(c.status == "not-run" for c in rec.checks)),
        **{name: float(value) for name, value in rec.usage.as_dict().items()}, "wall_s": rec.wall_s,
    }
    with _lock:
        try:
            # trackio prints progress to stdout; keep stdout for the table / --json.
            with contextlib.redirect_stdout(sys.stderr):
                trackio.init(project=project, name=rec.attempt_id, group=f"{rec.model} {rec.arm}-skill",
                             config=config)
                trackio.log(metrics)
                trackio.finish()
        except Exception as exc:  # never lose an attempt because tracking failed
            return f"trackio: {type(exc).__name__}: {exc}"
    return None
