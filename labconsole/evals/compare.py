"""``labconsole eval --compare A B``: what changed between two result sets, and what it was measured with.

A changed pass rate means little unless one knows what else changed: the lines name the commit,
skill, harness and case differences first, then the pass rates per model and arm, then per case.
Infrastructure errors are counted apart on both sides (they are in no pass rate).
"""

from __future__ import annotations

from labconsole.evals.report import provenance
from labconsole.evals.results import EvalResults
from labconsole.evals.summary import ArmStats


def _rate(a: ArmStats | None) -> str:
    if a is None or a.attempts == 0:
        return "-"
    rate = "-" if a.pass_rate is None else f"{a.pass_rate:.0%}"
    return f"{rate} ({a.passes}/{a.decided})" + (f" +{a.errors} error" if a.errors else "")


def _delta(a: ArmStats | None, b: ArmStats | None) -> str:
    if a is None or b is None or a.pass_rate is None or b.pass_rate is None:
        return ""
    return f"{b.pass_rate - a.pass_rate:+.0%}"


def compare_lines(a: EvalResults, b: EvalResults) -> list[str]:
    pa, pb = provenance(a), provenance(b)
    lines = [f"A: {a.out_dir} ({len(a.records)} attempts)", f"B: {b.out_dir} ({len(b.records)} attempts)", ""]
    changed = []
    for key in ("commit", "skill", "harness"):
        if pa[key] != pb[key]:
            changed.append(f"  {key}: {', '.join(pa[key]) or '-'} -> {', '.join(pb[key]) or '-'}")
    case_a = dict(c.split("=", 1) for c in pa["cases"])
    case_b = dict(c.split("=", 1) for c in pb["cases"])
    for case in sorted(set(case_a) | set(case_b)):
        if case_a.get(case) != case_b.get(case):
            changed.append(f"  case {case}: {case_a.get(case, 'absent')} -> {case_b.get(case, 'absent')}")
    lines += (["what changed:"] + changed) if changed else ["measured with the same commit, skill, harness and cases"]
    arms_a = {
        (s.model, arm): st for s in a.summaries for arm, st in (("with", s.with_skill), ("without", s.without_skill))
    }
    arms_b = {
        (s.model, arm): st for s in b.summaries for arm, st in (("with", s.with_skill), ("without", s.without_skill))
    }
    rows = [["model", "arm", "A", "B", "change"]]
    for arm in dict.fromkeys([*arms_a, *arms_b]):
        rows.append(
            [arm[0], arm[1], _rate(arms_a.get(arm)), _rate(arms_b.get(arm)), _delta(arms_a.get(arm), arms_b.get(arm))]
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines += [""] + ["  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip() for r in rows]
    cells_a = {(r.case, r.model, r.arm): r for r in a.case_rows}
    cells_b = {(r.case, r.model, r.arm): r for r in b.case_rows}
    moved = []
    for cell in dict.fromkeys([*cells_a, *cells_b]):
        ra, rb = cells_a.get(cell), cells_b.get(cell)
        sa = f"{ra.passes}/{ra.decided}" if ra else "-"
        sb = f"{rb.passes}/{rb.decided}" if rb else "-"
        if sa != sb:
            moved.append(f"  {cell[0]}  {cell[1]}  {cell[2]}: {sa} -> {sb}")
    lines += ["", "cases that changed (passes/decided):"] + (moved or ["  none"])
    errors_a = sum(r.status == "error" for r in a.records)
    errors_b = sum(r.status == "error" for r in b.records)
    if errors_a or errors_b:
        lines += ["", f"infrastructure errors (in no pass rate): A {errors_a}, B {errors_b}"]
    return lines
