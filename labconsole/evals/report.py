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
    head = ["model", "with skill", "without skill", "lift", "$/pass w", "$/pass w/o", "tokens in/out w",
            "time w (s)"]
    rows = [head]
    for s in res.summaries:
        w, wo = s.with_skill, s.without_skill
        rows.append([s.model, _rate(w), _rate(wo), "-" if s.lift is None else f"{s.lift:+.0%}",
                     _money(w.cost_per_pass), _money(wo.cost_per_pass),
                     f"{w.input_tokens}/{w.output_tokens}", f"{w.mean_wall_s:.1f}"])
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    cases = ["", "per case (passes/decided):"]
    for row in res.case_rows:
        extra = f" +{row.incomplete} not run" if row.incomplete else ""
        cases.append(f"  {row.case:<28} {row.model:<32} {row.arm:<8} {row.passes}/{row.decided}{extra}")
    return "\n".join(lines + cases)


CSV_FIELDS = ["attempt_id", "case", "model", "with_skill", "repeat", "status", "agent_ok", "agent_error",
              "input_tokens", "output_tokens", "cached_tokens", "cost_usd", "tool_calls", "repair_attempts",
              "wall_s", "checks_s", "checks", "transcript"]


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
    return json.dumps({
        "skill": res.skill, "models": res.models, "cases": res.cases, "finished": res.finished,
        "summary": [asdict(s) for s in res.summaries],
        "cases_grid": [asdict(r) for r in res.case_rows],
        "attempts": [r.to_dict() for r in sorted(res.records, key=lambda r: r.attempt_id)],
    }, indent=2)
