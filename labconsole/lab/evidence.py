"""The evidence bundle for one candidate: what the reviewer checks and the person approves.

Hashed canonically, so an approval binds to exactly this evidence.
"""

from __future__ import annotations

import hashlib
import json
import statistics
from typing import Any

from labconsole.runs.outcome import RunOutcome


def _spread(values: list[float]) -> float | None:
    return (max(values) - min(values)) if len(values) > 1 else (0.0 if values else None)


def summarize(runs: list[RunOutcome], direction: str, min_effect: float = 0.0) -> dict[str, Any]:
    """Medians, spreads, effect and a noise rule over interleaved candidate/baseline runs.

    ``effect`` is the relative improvement of the candidate's median over the
    baseline's, positive = better whatever the direction. ``significant`` needs
    every candidate repeat to beat every baseline repeat (non-overlapping ranges,
    a rank rule that needs no distribution assumption) and the effect to reach
    ``min_effect``.
    """
    cand = [r.metric for r in runs if r.role == "candidate" and r.status == "ok" and r.metric is not None]
    base = [r.metric for r in runs if r.role == "baseline" and r.status == "ok" and r.metric is not None]
    summary: dict[str, Any] = {
        "candidate_runs": sum(1 for r in runs if r.role == "candidate"),
        "baseline_runs": sum(1 for r in runs if r.role == "baseline"),
        "candidate_ok": len(cand),
        "baseline_ok": len(base),
        "candidate_median": statistics.median(cand) if cand else None,
        "baseline_median": statistics.median(base) if base else None,
        "candidate_spread": _spread(cand),
        "baseline_spread": _spread(base),
        "effect": None,
        "significant": False,
    }
    if cand and base:
        cm, bm = summary["candidate_median"], summary["baseline_median"]
        sign = 1.0 if direction == "minimize" else -1.0
        summary["effect"] = sign * (bm - cm) / abs(bm) if bm else None
        separated = max(cand) < min(base) if direction == "minimize" else min(cand) > max(base)
        summary["significant"] = bool(separated and (summary["effect"] or 0) >= min_effect and len(cand) > 1)
    return summary


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def evidence_hash(bundle: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(bundle)).hexdigest()


def build_bundle(*, hyp_id: str, sha: str, base_sha: str, main_sha: str, diff_sha256: str,
                 protected_changes: list[str], run_tampering: list[str], runs: list[RunOutcome],
                 objective: dict[str, Any], min_effect: float, params: dict[str, Any]) -> dict[str, Any]:
    summary = summarize(runs, objective.get("direction", "minimize"), min_effect)
    return {
        "hyp_id": hyp_id,
        "sha": sha,
        "base_sha": base_sha,
        "main_sha": main_sha,
        "stale": main_sha != base_sha,
        "diff_sha256": diff_sha256,
        "params": params,
        "objective": objective,
        "protected_changes": protected_changes,
        "run_tampering": run_tampering,
        "runs": [r.__dict__ for r in runs],
        **summary,
    }
