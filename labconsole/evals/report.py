"""Render eval results: a text table, CSV rows and JSON."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict

from labconsole.evals.results import EvalResults
from labconsole.evals.summary import ArmStats


def _rate(a: ArmStats) -> str:
    if a.pass_rate is None:
        return f"-  (0/0{', ' + str(a.incomplete) + ' not run' if a.incomplete else ''})"
    text = f"{a.pass_rate:4.0%} [{a.ci_low:.0%},{a.ci_high:.0%}] ({a.passes}/{a.decided})"
    return text + (f" +{a.incomplete} not run" if a.incomplete else "")


def _money(x: float | None) -> str:
    return "-" if x is None else f"${x:.4f}"


def table(res: EvalResults) -> str:
    head = [
        "model",
        "with skill",
        "without skill",
        "lift",
        "errors w/wo",
        "tools w/wo",
        "repairs w/wo",
        "$/pass w",
        "$/pass w/o",
        "tokens in/out w",
        "time w (s)",
    ]
    rows = [head]
    for s in res.summaries:
        w, wo = s.with_skill, s.without_skill
        rows.append(
            [
                s.model,
                _rate(w),
                _rate(wo),
                "-" if s.lift is None else f"{s.lift:+.0%}",
                f"{w.errors}/{wo.errors}",
                f"{w.tool_calls}/{wo.tool_calls}",
                f"{w.repair_attempts}/{wo.repair_attempts}",
                _money(w.cost_per_pass),
                _money(wo.cost_per_pass),
                f"{w.input_tokens}/{w.output_tokens}",
                f"{w.mean_wall_s:.1f}",
            ]
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    cases = ["", "per case (passes/decided):"]
    for row in res.case_rows:
        extra = (f" +{row.incomplete} not run" if row.incomplete else "") + (
            f" +{row.errors} error" if row.errors else ""
        )
        cases.append(f"  {row.case:<28} {row.model:<32} {row.arm:<8} {row.passes}/{row.decided}{extra}")
    return "\n".join(lines + cases + error_lines(res) + provenance_lines(res))


def error_lines(res: EvalResults) -> list[str]:
    """The attempts the machinery failed (not counted in any pass rate), each with its one-line reason."""
    errors = sorted((r for r in res.records if r.status == "error"), key=lambda r: r.attempt_id)
    if not errors:
        return []
    return ["", f"infrastructure errors ({len(errors)}, excluded from the pass rates):"] + [
        f"  {r.attempt_id}: {r.agent_error or 'no reason recorded'}" for r in errors
    ]


def provenance_lines(res: EvalResults) -> list[str]:
    p = provenance(res)
    return [
        "",
        "measured with: " + "  ".join(f"{k} {', '.join(v) if v else '-'}" for k, v in p.items() if k != "cases"),
    ]


def provenance(res: EvalResults) -> dict[str, list[str]]:
    """What the result set was measured with: each value seen among its attempts (several after a
    ``--resume`` across a change)."""

    def seen(attr: str) -> list[str]:
        return sorted({getattr(r, attr) for r in res.records if getattr(r, attr)})

    cases: dict[str, list[str]] = {}
    for r in res.records:
        if r.case_hash and r.case_hash not in cases.setdefault(r.case, []):
            cases[r.case].append(r.case_hash)
    return {
        "commit": seen("repo_commit"),
        "skill": seen("skill_hash"),
        "harness": seen("harness"),
        "cases": [f"{c}={'/'.join(h)}" for c, h in sorted(cases.items())],
    }


CSV_FIELDS = [
    "attempt_id",
    "case",
    "model",
    "with_skill",
    "repeat",
    "status",
    "agent_ok",
    "agent_error",
    "infra_error",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "cost_usd",
    "tool_calls",
    "repair_attempts",
    "wall_s",
    "checks_s",
    "checks",
    "transcript",
    "backend",
    "repo_commit",
    "skill_hash",
    "case_hash",
    "harness",
]


def to_csv(res: EvalResults) -> str:
    """One row per attempt; ``checks`` is ``name=status`` joined with ``;``."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    w.writeheader()
    for r in sorted(res.records, key=lambda r: r.attempt_id):
        flat = r.to_dict()  # the usage fields flat, as in the eval.attempt event
        row = {k: flat[k] for k in CSV_FIELDS if k != "checks"}
        row["checks"] = ";".join(f"{c.name}={c.status}" for c in r.checks)
        w.writerow(row)
    return buf.getvalue()


def to_json(res: EvalResults) -> str:
    return json.dumps(
        {
            "skill": res.skill,
            "models": res.models,
            "cases": res.cases,
            "finished": res.finished,
            "summary": [asdict(s) for s in res.summaries],
            "provenance": provenance(res),
            "errors": [
                {"attempt_id": r.attempt_id, "error": r.agent_error} for r in res.records if r.status == "error"
            ],
            "cases_grid": [asdict(r) for r in res.case_rows],
            "attempts": [r.to_dict() for r in sorted(res.records, key=lambda r: r.attempt_id)],
        },
        indent=2,
    )
