"""The one statistics module: fixed samples with known answers, the swap property, the sequential rule, BH."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs
from scipy import stats as st

from labconsole.core.stats import (
    IMPROVED,
    INCONCLUSIVE,
    NO_EVIDENCE,
    WORSE,
    Comparison,
    NoiseFloor,
    SequentialPlan,
    best_candidate,
    compare_paired,
    compare_samples,
    confirm,
    decide,
    select,
    session_decisions,
    would_be_selected,
)


def test_noise_floor_is_the_successive_difference_spread_relative_to_the_median() -> None:
    floor = NoiseFloor.from_groups([[2.0, 2.2], [1.0, 1.0, 1.0], [4.0]])  # a lone run has no spread to give
    assert floor.groups == 2 and floor.rel_diffs == pytest.approx([0.2 / 2.1, 0.0, 0.0])
    # The median of (0.095, 0, 0) is 0; one more group makes it the mean of the middle two of four.
    assert floor.sigma == 0.0
    floor.add([3.0, 3.3])  # 0.3 / 3.15 ≈ 0.095 again
    expected = (0.0 + 0.2 / 2.1) / 2 / (math.sqrt(2) * st.norm.ppf(0.75))
    assert floor.sigma == pytest.approx(expected)
    assert floor.df == pytest.approx(0.37 * 4)
    assert NoiseFloor().sigma is None


def test_noise_floor_ignores_an_outlier_run_and_drift_across_measurements() -> None:
    groups = [[1.0 + 0.1 * g, 1.01 + 0.1 * g] for g in range(9)] + [[1.0, 3.0]]  # drift between, one outlier
    sigma = NoiseFloor.from_groups(groups).sigma
    assert sigma is not None and sigma < 0.01


def test_paired_comparison_known_answer() -> None:
    # Differences (baseline − candidate, minimize) 0.10, 0.12, 0.08: mean 0.10, sd 0.02, t(2) interval.
    cand, base = [0.90, 0.88, 0.92], [1.0, 1.0, 1.0]
    c = compare_paired(cand, base, direction="minimize")
    half = st.t.ppf(0.975, 2) * 0.02 / math.sqrt(3)
    assert c.n == 3 and c.effect == pytest.approx(0.10)
    assert (c.ci_low, c.ci_high) == (pytest.approx(0.10 - half), pytest.approx(0.10 + half))
    assert c.p_value == pytest.approx(st.t.sf(0.10 / (0.02 / math.sqrt(3)), 2))
    assert c.decision == IMPROVED and c.threshold == 0.0
    assert c.line("val_bpb") == f"val_bpb 1 → 0.9, 10.0% better ± {half:.1%} (n=3, noise ?): improved"
    # The same runs read as maximize: the candidate is worse.
    assert compare_paired(cand, base, direction="maximize").decision == WORSE


def test_never_improved_with_one_repeat() -> None:
    c = compare_paired([0.5], [1.0], floor=NoiseFloor.from_groups([[1.0, 1.001]] * 30))
    assert c.decision == INCONCLUSIVE and c.effect == pytest.approx(0.5)


def test_threshold_is_min_effect_else_the_noise_floor() -> None:
    floor = NoiseFloor.from_groups([[1.0, 1.02], [1.0, 0.98]] * 10)  # σ ≈ 2.1%
    assert floor.sigma == pytest.approx(0.02 / (math.sqrt(2) * st.norm.ppf(0.75)), rel=1e-3)  # ±2% of ≈1
    # A steady 2% improvement: real (the interval is above 0), but below one run's noise.
    small = compare_paired([0.98] * 8, [1.0] * 8, floor=floor)
    assert small.ci_low is not None and small.ci_low > 0
    assert small.threshold == pytest.approx(floor.sigma) and small.decision == INCONCLUSIVE
    # With min_effect 1% it is an improvement.
    assert compare_paired([0.98] * 8, [1.0] * 8, floor=floor, min_effect=0.01).decision == IMPROVED


def test_decide_four_ways() -> None:
    assert decide(0.05, 0.01, 0.09, 0.02, 4) == IMPROVED
    assert decide(-0.05, -0.09, -0.01, 0.02, 4) == WORSE
    assert decide(0.0, -0.01, 0.01, 0.02, 4) == NO_EVIDENCE
    assert decide(0.01, -0.02, 0.04, 0.02, 4) == INCONCLUSIVE  # straddles the threshold
    assert decide(0.01, 0.005, 0.03, 0.02, 4) == INCONCLUSIVE  # real, but may be below what matters
    assert decide(0.05, 0.01, 0.09, 0.02, 1) == INCONCLUSIVE


def test_a_noisier_candidate_is_judged_by_its_own_spread() -> None:
    floor = NoiseFloor.from_groups([[1.0, 1.001]] * 40)  # a very quiet session
    # Pooled with that floor an outlier pair would look decisive; its own spread says otherwise.
    c = compare_paired([0.99, 0.99, 0.70], [1.0, 1.0, 1.0], floor=floor)
    assert c.decision == INCONCLUSIVE and c.ci_low is not None and c.ci_low < 0


def test_rank_comparison_of_timings() -> None:
    base = [10.0, 10.2, 10.1, 10.4, 10.3, 10.0, 10.1, 10.2]
    fast = [x * 0.9 for x in base]
    c = compare_samples(fast, base, min_effect=0.02)
    assert c.method == "rank" and c.decision == IMPROVED and c.effect == pytest.approx(0.1, abs=0.01)
    assert compare_samples(base, fast, min_effect=0.02).decision == WORSE
    same = compare_samples(base, list(reversed(base)), min_effect=0.02)
    assert same.decision in (NO_EVIDENCE, INCONCLUSIVE) and same.effect == pytest.approx(0.0)


_metric = hs.floats(0.5, 2.0, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(
    hs.integers(2, 8).flatmap(
        lambda n: hs.tuples(hs.lists(_metric, min_size=n, max_size=n), hs.lists(_metric, min_size=n, max_size=n))
    ),
    hs.sampled_from(["minimize", "maximize"]),
    hs.sampled_from([0.0, 0.01]),
    hs.integers(1, 4),
)
def test_swapping_candidate_and_baseline_flips_the_decision(
    samples: tuple[list[float], list[float]], direction: str, min_effect: float, looks: int
) -> None:
    cand, base = samples
    floor = NoiseFloor.from_groups([[1.0, 1.01], [1.0, 0.99], [1.0, 1.02]])
    flip = {IMPROVED: WORSE, WORSE: IMPROVED, NO_EVIDENCE: NO_EVIDENCE, INCONCLUSIVE: INCONCLUSIVE}
    for compare in (compare_paired, compare_samples):
        a = compare(cand, base, direction=direction, floor=floor, min_effect=min_effect, looks=looks)
        b = compare(base, cand, direction=direction, floor=floor, min_effect=min_effect, looks=looks)
        assert b.decision == flip[a.decision], (compare.__name__, a, b)


def _cmp(decision: str, n: int, effect: float, p: float = 0.5) -> Comparison:
    return Comparison(decision, n, effect, effect - 0.01, effect + 0.01, p, 0.01, 0.01, 0.95, 3, 1.0, 1.0)


def test_sequential_plan_stopping_rule() -> None:
    plan = SequentialPlan(start=2, cap=8)
    assert plan.looks == 4 and SequentialPlan(3, 3).looks == 1
    assert plan.more(_cmp(INCONCLUSIVE, 2, 0.01)) == 2  # promising and undecided: more pairs
    assert plan.more(_cmp(INCONCLUSIVE, 7, 0.01)) == 1  # never past the cap
    assert plan.more(_cmp(INCONCLUSIVE, 8, 0.01)) == 0
    assert plan.more(_cmp(INCONCLUSIVE, 2, -0.01)) == 0  # futility: not even ahead
    assert plan.more(_cmp(NO_EVIDENCE, 2, 0.001)) == 0
    assert plan.more(_cmp(WORSE, 2, -0.1)) == 0
    assert plan.more(_cmp(IMPROVED, 2, 0.1)) == 0
    assert plan.more(_cmp(IMPROVED, 2, 0.1), selected=False) == 2  # improved alone, not over the session yet
    assert plan.more(_cmp(INCONCLUSIVE, 1, 0.01)) == 1  # a failed pair: make up the start first
    with pytest.raises(ValueError, match="cap"):
        SequentialPlan(4, 2)


def test_looks_widen_the_interval_and_scale_the_p_value() -> None:
    cand, base = [0.90, 0.88, 0.92, 0.91], [1.0, 1.01, 0.99, 1.0]
    one, four = compare_paired(cand, base), compare_paired(cand, base, looks=4)
    assert four.ci_low < one.ci_low and four.level == pytest.approx(1 - 0.05 / 4)
    assert four.p_value == pytest.approx(min(1.0, 4 * one.p_value))


def test_benjamini_hochberg_over_the_session() -> None:
    ps = {"a": 0.001, "b": 0.02, "c": 0.03, "d": 0.5}
    # Plain BH over these four (family 1): adjusted 0.004, 0.04, 0.04, 0.5.
    assert select(ps, 0.05, family=1) == {"a", "b", "c"}
    # As one of at least 20 candidates only the strongest survives: 0.001·20 = 0.02, 0.02·20/2 = 0.2.
    assert select(ps, 0.05) == {"a"}
    assert select({"x": None}) == set() and select({}) == set()
    assert would_be_selected("e", 0.0001, ps) and not would_be_selected("e", 0.04, ps)


def test_session_decisions_best_and_confirmation() -> None:
    comps = {
        "a": _cmp(IMPROVED, 4, 0.05, 0.0001),
        "b": _cmp(IMPROVED, 4, 0.08, 0.02),
        "c": _cmp(INCONCLUSIVE, 4, 0.01, 0.3),
    }
    assert session_decisions(comps) == {"a": IMPROVED, "b": INCONCLUSIVE, "c": INCONCLUSIVE}
    assert best_candidate(comps) == "a"  # b's larger effect did not survive the selection
    assert best_candidate({"c": comps["c"]}) is None
    assert confirm(comps["a"], _cmp(IMPROVED, 4, 0.04)) == IMPROVED
    assert confirm(comps["a"], _cmp(INCONCLUSIVE, 8, 0.01)) == INCONCLUSIVE
    assert confirm(comps["a"], _cmp(NO_EVIDENCE, 8, 0.0)) == NO_EVIDENCE
