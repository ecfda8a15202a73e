"""Pure summary maths: Wilson intervals, skill lift, cost per passing case, incomplete attempts."""

from __future__ import annotations

import pytest

from labconsole.core.usage import Usage
from labconsole.evals.summary import AttemptRecord, case_rows, summarize, wilson


def rec(model: str, with_skill: bool, status: str, cost: float = 0.01, i: int = 0) -> AttemptRecord:
    return AttemptRecord(
        attempt_id=f"{model}{with_skill}{i}{status}",
        case=f"c{i % 2}",
        model=model,
        with_skill=with_skill,
        repeat=i,
        status=status,
        agent_ok=status != "fail",
        usage=Usage(cost_usd=cost, input_tokens=100, output_tokens=10),
        wall_s=2.0,
    )


def test_wilson_known_values():
    lo, hi = wilson(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-3) and hi == pytest.approx(0.9433, abs=1e-3)
    assert wilson(0, 0) == (0.0, 1.0)
    lo, hi = wilson(0, 5)
    assert lo == 0.0 and hi == pytest.approx(0.4345, abs=1e-3)
    lo, hi = wilson(5, 5)
    assert hi == 1.0 and lo == pytest.approx(0.5655, abs=1e-3)


def test_lift_cost_per_pass_and_incomplete():
    records = [rec("m1", True, "pass", i=i) for i in range(3)] + [rec("m1", True, "fail", i=3)]
    records += [rec("m1", False, "pass", i=0), rec("m1", False, "fail", i=1), rec("m1", False, "incomplete", i=2)]
    records += [rec("m2", True, "incomplete", i=0)]
    (m1, m2) = summarize(records)
    assert m1.model == "m1"
    assert m1.with_skill.pass_rate == 0.75 and m1.with_skill.decided == 4
    assert m1.without_skill.pass_rate == 0.5 and m1.without_skill.incomplete == 1
    assert m1.lift == pytest.approx(0.25)
    assert m1.with_skill.cost_per_pass == pytest.approx(0.04 / 3, rel=1e-4)
    assert m1.with_skill.input_tokens == 400 and m1.with_skill.mean_wall_s == 2.0
    # Only not-run GPU checks: no pass rate, no lift - never counted as passed.
    assert m2.with_skill.pass_rate is None and m2.lift is None and m2.with_skill.incomplete == 1
    rows = {(r.case, r.model, r.arm): r for r in case_rows(records)}
    assert (rows[("c0", "m1", "with")].passes, rows[("c1", "m1", "with")].decided) == (2, 2)


def test_record_round_trip():
    r = rec("m", True, "pass")
    assert AttemptRecord.from_dict({**r.to_dict(), "future_field": 1}) == r
