"""The evidence bundle for one candidate: what the reviewer checks and the person approves.

Hashed canonically, so an approval binds to exactly this evidence.
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
from typing import Any

from labconsole.core.stats import IMPROVED, Comparison, NoiseFloor, compare_paired, direction_sign
from labconsole.runs.outcome import RunOutcome

# The gate's fields of a summary (see :func:`summarize`): the orchestrator copies them into the logged
# evidence summary, so the log alone (review list/show, the report, a resumed session) has the decision.
GATE_FIELDS = (
    "effect",
    "ci_low",
    "ci_high",
    "ci_level",
    "repeats_used",
    "noise_floor",
    "threshold",
    "p_value",
    "decision",
    "significant",
    "comparison",
)


def _spread(values: list[float]) -> float | None:
    return (max(values) - min(values)) if len(values) > 1 else (0.0 if values else None)


def _ok(r: RunOutcome) -> bool:
    return r.status == "ok" and r.metric is not None and math.isfinite(r.metric)


def _pair_key(r: RunOutcome) -> tuple[str, int]:
    # Run ids are "<hyp>-m<measurement>-<c|b><repeat>": the prefix keeps measurements apart,
    # the repeat is the seed both runs of a pair used.
    return (r.run_id.rsplit("-", 1)[0] if "-" in r.run_id else "", r.repeat)


def pairs(runs: list[RunOutcome]) -> tuple[list[float], list[float]]:
    """Candidate and baseline metrics of the pairs where both runs succeeded, in run order."""
    base = {_pair_key(r): float(r.metric) for r in runs if r.role == "baseline" and _ok(r)}  # type: ignore[arg-type]
    cand, paired_base = [], []
    for r in runs:
        if r.role == "candidate" and _ok(r) and _pair_key(r) in base:
            cand.append(float(r.metric))  # type: ignore[arg-type]
            paired_base.append(base[_pair_key(r)])
    return cand, paired_base


def baseline_groups(runs: list[RunOutcome]) -> list[list[float]]:
    """Each measurement's successful baseline metrics in run order: what a :class:`NoiseFloor` takes."""
    groups: dict[str, list[float]] = {}
    for r in runs:
        if r.role == "baseline" and _ok(r):
            groups.setdefault(_pair_key(r)[0], []).append(float(r.metric))  # type: ignore[arg-type]
    return list(groups.values())


def baseline_groups_of_rows(rows: Any) -> list[list[float]]:
    """:func:`baseline_groups` of an evidence summary's ``metrics`` rows (``{run_id, role, repeat, status,
    metric}`` as the orchestrator records them). Rows that are not such dicts are skipped: a reducer reads this."""
    if not isinstance(rows, list):
        return []
    runs = []
    for m in rows:
        if not isinstance(m, dict):
            continue
        metric = m.get("metric")
        ok_metric = float(metric) if isinstance(metric, (int, float)) and not isinstance(metric, bool) else None
        try:
            repeat = int(m.get("repeat", 0))
        except (TypeError, ValueError):
            continue
        runs.append(
            RunOutcome(
                str(m.get("run_id", "")), str(m.get("role", "")), repeat, str(m.get("status", "")), ok_metric, 0.0
            )
        )
    return baseline_groups(runs)


def floor_from_metrics(rows: list[dict[str, Any]]) -> NoiseFloor:
    """Rebuild the session's noise floor from evidence summaries' ``metrics`` rows, in log order."""
    return NoiseFloor.from_groups(baseline_groups_of_rows(rows))


def metric_rows(runs: list[RunOutcome]) -> list[dict[str, Any]]:
    """The runs as the log's evidence summaries carry them (what :func:`floor_from_metrics` reads back)."""
    return [
        {"run_id": r.run_id, "role": r.role, "repeat": r.repeat, "status": r.status, "metric": r.metric} for r in runs
    ]


def comparison_of(summary: dict[str, Any]) -> Comparison | None:
    """The :class:`Comparison` an evidence summary recorded; None for summaries older than the gate's.

    The logged dict is data from our own log, but a hand-edited or older one must not crash a view:
    anything that does not rebuild is treated as no comparison.
    """
    raw = summary.get("comparison")
    if not isinstance(raw, dict):
        return None
    try:
        return Comparison(**raw)
    except TypeError:
        return None


def compare_runs(
    runs: list[RunOutcome], direction: str, min_effect: float = 0.0, *, floor: NoiseFloor | None = None, looks: int = 1
) -> Comparison:
    """The gate's comparison of one candidate's runs: the paired test on the pairs where both runs succeeded.

    ``floor`` is the session's noise floor; without one, these runs' own baseline repeats make it.
    ``looks`` is the sequential plan's (:attr:`SequentialPlan.looks`); 1 for a fixed number of repeats.
    """
    if floor is None:
        floor = NoiseFloor.from_groups(baseline_groups(runs))
    pc, pb = pairs(runs)
    return compare_paired(pc, pb, direction=direction, floor=floor, min_effect=min_effect, looks=looks)


def summarize(
    runs: list[RunOutcome], direction: str, min_effect: float = 0.0, *, floor: NoiseFloor | None = None, looks: int = 1
) -> dict[str, Any]:
    """Medians, spreads and the gate's comparison over interleaved candidate/baseline runs.

    The comparison (:func:`labconsole.core.stats.compare_paired`) runs on the pairs
    where both runs succeeded. ``floor`` is the session's noise floor; without one,
    this measurement's own baseline repeats make it. ``effect`` is relative,
    positive = better whatever the direction, with ``ci_low``/``ci_high`` its
    interval; ``decision`` is improved / no evidence / worse / inconclusive.
    ``significant`` (= ``decision == "improved"``) stays for the readers that
    predate ``decision``.
    """
    cand = [float(r.metric) for r in runs if r.role == "candidate" and _ok(r)]  # type: ignore[arg-type]
    base = [float(r.metric) for r in runs if r.role == "baseline" and _ok(r)]  # type: ignore[arg-type]
    cmp = compare_runs(runs, direction, min_effect, floor=floor, looks=looks)
    effect = cmp.effect
    if effect is None and cand and base:
        # No complete pair: the ratio of medians still says which way it went; the decision stays inconclusive.
        cm, bm = statistics.median(cand), statistics.median(base)
        effect = direction_sign(direction) * (bm - cm) / abs(bm) if bm else None
    return {
        "candidate_runs": sum(1 for r in runs if r.role == "candidate"),
        "baseline_runs": sum(1 for r in runs if r.role == "baseline"),
        "candidate_ok": len(cand),
        "baseline_ok": len(base),
        "candidate_median": statistics.median(cand) if cand else None,
        "baseline_median": statistics.median(base) if base else None,
        "candidate_spread": _spread(cand),
        "baseline_spread": _spread(base),
        "effect": effect,
        "ci_low": cmp.ci_low,
        "ci_high": cmp.ci_high,
        "ci_level": cmp.level,
        "repeats_used": cmp.n,
        "noise_floor": cmp.noise,
        "threshold": cmp.threshold,
        "p_value": cmp.p_value,
        "decision": cmp.decision,
        "significant": cmp.decision == IMPROVED,
        "comparison": cmp.to_dict(),
    }


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def evidence_hash(bundle: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(bundle)).hexdigest()


def build_bundle(
    *,
    hyp_id: str,
    sha: str,
    base_sha: str,
    main_sha: str,
    diff_sha256: str,
    protected_changes: list[str],
    run_tampering: list[str],
    runs: list[RunOutcome],
    objective: dict[str, Any],
    min_effect: float,
    params: dict[str, Any],
    floor: NoiseFloor | None = None,
    looks: int = 1,
    flags: list[dict[str, Any]] | None = None,
    rules_diff: list[str] | None = None,
    measured: bool = True,
) -> dict[str, Any]:
    """``flags`` are the change checks' (labconsole.lab.change_checks), ``rules_diff`` what the candidate
    would change in the lab's rules, ``measured`` False when the lab chose not to run it (outside editable)."""
    summary = summarize(runs, objective.get("direction", "minimize"), min_effect, floor=floor, looks=looks)
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
        "flags": list(flags or []),
        "rules_diff": list(rules_diff or []),
        "measured": measured,
        "runs": [r.__dict__ for r in runs],
        **summary,
    }
