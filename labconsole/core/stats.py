"""Decisions that survive noise: effect ± interval, the session's noise floor, the decision, selection.

One module for every "is the candidate better than the baseline?" question: the
experiment gate (paired candidate/baseline runs, a few repeats each) and the
kernel bench (many timing samples per case). Both give a :class:`Comparison`
with the same four outcomes:

* ``improved`` — the interval lies above 0 (the improvement is real) and the
  estimate reaches the practical threshold;
* ``worse`` — the mirror image;
* ``no evidence`` — the interval lies within ±threshold: whatever the effect
  is, it is smaller than what matters;
* ``inconclusive`` — anything else: the interval straddles the threshold, so
  more repeats could still change the answer.

The threshold is the lab's ``min_effect``, or, when that is 0, the measured
noise floor (one run's relative spread). Requiring the whole interval above a
threshold that large would need ~20 pairs for a 2σ effect; requiring the
effect to be real *and* its estimate to reach the threshold keeps power at
a few repeats, and the false-improvement rate is held by the interval, the
looks correction and the session-wide selection (:func:`select`).

Effects are relative (a fraction of the baseline), positive = better whatever
the objective's direction. Decisions are made in the metric's own units
against a threshold scaled by the mean of both medians, so swapping candidate
and baseline turns ``improved`` into ``worse`` exactly.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

import numpy as np
from scipy import stats as st

IMPROVED = "improved"
NO_EVIDENCE = "no evidence"
WORSE = "worse"
INCONCLUSIVE = "inconclusive"
DECISIONS = (IMPROVED, NO_EVIDENCE, WORSE, INCONCLUSIVE)

ALPHA = 0.05  # two-sided: a 95% interval (simultaneous over a sequential plan's looks)
FDR_Q = 0.05  # Benjamini–Hochberg level over a session's candidates
# BH's family is never taken smaller than this: early in a session the first candidates are judged as
# one of 20, so a label given at candidate 3 does not fall away when candidate 20 arrives.
FAMILY = 20

# σ from the median absolute successive difference: Δ ~ N(0, 2σ²) has median |Δ| = √2 · Φ⁻¹(0.75) · σ.
_MASD_TO_SIGMA = 1.0 / (math.sqrt(2.0) * float(st.norm.ppf(0.75)))
# A median-based spread carries about 37% of the information of a standard deviation (the MAD's
# efficiency under normal noise): the floor's degrees of freedom are discounted by this.
_MEDIAN_EFFICIENCY = 0.37
# The candidate's own spread replaces the session's when it is this implausibly larger (F-test):
# a candidate that is noisier than the session (or had an outlier run) is judged by its own spread.
_OWN_SPREAD_F_QUANTILE = 0.99


def direction_sign(direction: str) -> float:
    """+1 when smaller is better, −1 when larger is: multiply a baseline − candidate difference by it."""
    if direction not in ("minimize", "maximize"):
        raise ValueError(f"direction must be 'minimize' or 'maximize', not {direction!r}")
    return 1.0 if direction == "minimize" else -1.0


# ---------------------------------------------------------------------------
# the noise floor


@dataclass
class NoiseFloor:
    """A session's run-to-run noise, from the baseline's own repeats, kept up to date as runs come in.

    Each group is one measurement's baseline repeats in the order they ran. The
    spread is the median absolute successive difference within groups, relative to
    the group's median: robust to outlier runs (a median), and blind to drift across
    the session and to main moving (only neighbours within one measurement are
    compared). The state is the list of those relative differences, so replaying
    the log's measurements through :meth:`add` rebuilds it exactly.
    """

    rel_diffs: list[float] = field(default_factory=list)
    groups: int = 0

    def add(self, values: Sequence[float]) -> None:
        """One measurement's baseline metrics, in run order (non-finite values are skipped)."""
        vals = [float(v) for v in values if v is not None and math.isfinite(v)]
        if len(vals) < 2:
            return
        scale = abs(statistics.median(vals))
        if scale == 0:
            return  # a relative spread of a metric centred on 0 means nothing
        self.rel_diffs.extend(abs(b - a) / scale for a, b in zip(vals, vals[1:], strict=False))
        self.groups += 1

    @classmethod
    def from_groups(cls, groups: Iterable[Sequence[float]]) -> NoiseFloor:
        floor = cls()
        for g in groups:
            floor.add(g)
        return floor

    @property
    def sigma(self) -> float | None:
        """One run's relative noise (σ / metric), or None before any baseline has repeated."""
        if not self.rel_diffs:
            return None
        return float(np.median(self.rel_diffs)) * _MASD_TO_SIGMA

    @property
    def df(self) -> float:
        """Degrees of freedom the floor is worth when pooled with a candidate's own spread."""
        return _MEDIAN_EFFICIENCY * len(self.rel_diffs)

    def to_dict(self) -> dict[str, Any]:
        return {"sigma": self.sigma, "df": round(self.df, 3), "groups": self.groups, "diffs": len(self.rel_diffs)}


# ---------------------------------------------------------------------------
# the decision


def decide(effect: float, lo: float, hi: float, threshold: float, n: int) -> str:
    """The four-way rule on an effect and its interval (same units; positive = better).

    Never ``improved`` (or ``worse``) with fewer than two repeats: one run says nothing about noise.
    """
    if n < 2:
        return INCONCLUSIVE
    if lo > 0 and effect >= threshold:
        return IMPROVED
    if hi < 0 and effect <= -threshold:
        return WORSE
    if -threshold <= lo and hi <= threshold:
        return NO_EVIDENCE
    return INCONCLUSIVE


@dataclass(frozen=True)
class Comparison:
    """Candidate vs baseline: relative effect with its interval, the noise, the threshold and the decision."""

    decision: str
    n: int  # pairs (paired) or the smaller sample (unpaired)
    effect: float | None  # relative to the baseline, positive = better
    ci_low: float | None
    ci_high: float | None
    p_value: float | None  # one-sided, "the candidate is better", corrected for the looks
    noise: float | None  # one run's relative noise, from the floor (or the baseline's own repeats)
    threshold: float  # relative; min_effect, else the noise floor
    level: float  # confidence of the interval
    looks: int
    candidate_center: float | None
    baseline_center: float | None
    direction: str = "minimize"
    method: str = "paired-t"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self, name: str = "metric") -> str:
        """One line for a person, e.g. ``val_bpb 1.83 → 1.79, 2.1% better ± 0.6% (n=4, noise 0.3%): improved``."""
        noise = "noise ?" if self.noise is None else f"noise {self.noise:.1%}"
        if self.effect is None or self.candidate_center is None or self.baseline_center is None:
            return f"{name}: no comparison (n={self.n}, {noise}): {self.decision}"
        word = "better" if self.effect >= 0 else "worse"
        spread = ""
        if self.ci_low is not None and self.ci_high is not None:
            lo, hi = self.ci_low, self.ci_high
            if math.isclose(hi - self.effect, self.effect - lo, rel_tol=0.05, abs_tol=1e-12):
                spread = f" ± {(hi - lo) / 2:.1%}"
            else:
                spread = f" [{lo:+.1%}, {hi:+.1%}]"
        return (
            f"{name} {_num(self.baseline_center)} → {_num(self.candidate_center)}, "
            f"{abs(self.effect):.1%} {word}{spread} (n={self.n}, {noise}): {self.decision}"
        )


def _num(x: float) -> str:
    return f"{x:.4g}" if abs(x) >= 1e-3 else f"{x:.3g}"


def _threshold(min_effect: float, noise: float | None) -> float:
    return min_effect if min_effect > 0 else (noise or 0.0)


@dataclass(frozen=True)
class _Setup:
    """What a comparison reports besides its own numbers; both tests build their results through it."""

    noise: float | None
    threshold: float
    level: float
    looks: int
    direction: str
    method: str

    @classmethod
    def of(
        cls, floor: NoiseFloor | None, min_effect: float, looks: int, alpha: float, direction: str, method: str
    ) -> _Setup:
        noise = floor.sigma if floor is not None else None
        return cls(noise, _threshold(min_effect, noise), 1.0 - alpha / looks, looks, direction, method)

    def result(
        self,
        decision: str,
        n: int,
        effect: float | None = None,
        interval: tuple[float, float] | None = None,
        p_value: float | None = None,
        centers: tuple[float | None, float | None] = (None, None),
    ) -> Comparison:
        lo, hi = interval if interval is not None else (None, None)
        return Comparison(
            decision,
            n,
            effect,
            lo,
            hi,
            None if p_value is None else min(1.0, p_value * self.looks),
            self.noise,
            self.threshold,
            self.level,
            self.looks,
            *centers,
            self.direction,
            self.method,
        )


def _scales(c_mid: float, b_mid: float) -> tuple[float, float]:
    """The scale effects are judged at (symmetric in the two arms, so swapping them flips the decision
    exactly) and the baseline's scale that relative effects are reported against."""
    scale = (abs(c_mid) + abs(b_mid)) / 2
    return scale, abs(b_mid) or scale or 1.0


def _paired_t(
    candidate: Sequence[float], baseline: Sequence[float], setup: _Setup, floor: NoiseFloor | None
) -> Comparison:
    """Paired candidate/baseline metrics (``candidate[i]`` ran with ``baseline[i]``'s seed, interleaved).

    The differences get a t interval whose variance pools the candidate's own
    spread (n − 1 degrees of freedom) with the session's noise floor (2σ² per
    pair, worth ``floor.df``): a few repeats then borrow the session's knowledge
    of the noise instead of a t quantile of 12.7. When the candidate's own spread
    is implausibly larger than the floor (an F-test at 99%), its own spread alone
    is used. ``looks`` is the number of interim analyses the sequential plan
    allows; the interval is Bonferroni-widened to 1 − α/looks so that stopping at
    any of them keeps the false-improvement rate at α/2.
    """
    if len(candidate) != len(baseline):
        raise ValueError(f"paired samples differ in length: {len(candidate)} candidate vs {len(baseline)} baseline")
    sign = direction_sign(setup.direction)
    c = np.asarray(candidate, dtype=float)
    b = np.asarray(baseline, dtype=float)
    n = len(c)
    noise = setup.noise
    if n == 0:
        return setup.result(INCONCLUSIVE, 0)
    c_mid, b_mid = float(np.median(c)), float(np.median(b))
    scale, base_scale = _scales(c_mid, b_mid)
    d = sign * (b - c)  # positive = better
    mean = float(np.mean(d))
    own_df = n - 1
    own_var = float(np.var(d, ddof=1)) if n > 1 else 0.0
    var, df = own_var, float(own_df)
    if noise is not None and floor is not None and floor.df > 0:
        floor_var = 2.0 * (noise * scale) ** 2
        noisier = own_df > 0 and own_var > floor_var * float(st.f.ppf(_OWN_SPREAD_F_QUANTILE, own_df, floor.df))
        if not noisier:
            df = own_df + floor.df
            var = (own_df * own_var + floor.df * floor_var) / df
    if df <= 0:
        return setup.result(INCONCLUSIVE, n, mean / base_scale, centers=(c_mid, b_mid))
    se = math.sqrt(var / n)
    half = float(st.t.ppf(1 - (1 - setup.level) / 2, df)) * se
    lo, hi = mean - half, mean + half
    if se > 0:
        p_better = float(st.t.sf(mean / se, df))
    else:
        p_better = 0.0 if mean > 0 else (0.5 if mean == 0 else 1.0)
    decision = decide(mean, lo, hi, setup.threshold * scale, n)
    interval = (lo / base_scale, hi / base_scale)
    return setup.result(decision, n, mean / base_scale, interval, p_better, (c_mid, b_mid))


def _rank(candidate: Sequence[float], baseline: Sequence[float], setup: _Setup, floor: NoiseFloor | None) -> Comparison:
    """Unpaired samples (e.g. kernel timings): a rank test and a rank-based interval, no normality assumed.

    The effect is the Hodges–Lehmann shift (median of all candidate/baseline
    differences); its interval is the Mann–Whitney one (order statistics of those
    differences at the normal approximation of U's quantile); the p-value is
    scipy's one-sided Mann–Whitney U test. Robust to the long right tail timings have.
    """
    sign = direction_sign(setup.direction)
    c = np.asarray([x for x in candidate if math.isfinite(x)], dtype=float)
    b = np.asarray([x for x in baseline if math.isfinite(x)], dtype=float)
    n = min(len(c), len(b))
    if n == 0:
        centers = (float(np.median(c)) if len(c) else None, float(np.median(b)) if len(b) else None)
        return setup.result(INCONCLUSIVE, 0, centers=centers)
    c_mid, b_mid = float(np.median(c)), float(np.median(b))
    scale, base_scale = _scales(c_mid, b_mid)
    diffs = np.sort((sign * (b[None, :] - c[:, None])).ravel())  # positive = better
    shift = float(np.median(diffs))
    m, k = len(c), len(b)
    z = float(st.norm.ppf(1 - (1 - setup.level) / 2))
    # Lower order statistic of the pairwise differences bounding the interval (Mann–Whitney U's quantile).
    j = int(math.floor(m * k / 2 - z * math.sqrt(m * k * (m + k + 1) / 12)))
    if j < 1 or n < 2:
        lo, hi = -math.inf, math.inf
    else:
        lo, hi = float(diffs[j - 1]), float(diffs[len(diffs) - j])
    p_better = 1.0
    if n >= 2:
        alt = "less" if sign > 0 else "greater"  # better = smaller candidate when minimizing
        p_better = float(st.mannwhitneyu(c, b, alternative=alt).pvalue)
    decision = decide(shift, lo, hi, setup.threshold * scale, n)
    interval = (lo / base_scale, hi / base_scale) if math.isfinite(lo) and math.isfinite(hi) else None
    return setup.result(decision, n, shift / base_scale, interval, p_better, (c_mid, b_mid))


_TESTS = {"paired-t": _paired_t, "rank": _rank}


def compare(
    candidate: Sequence[float],
    baseline: Sequence[float],
    *,
    method: str,
    direction: str = "minimize",
    floor: NoiseFloor | None = None,
    min_effect: float = 0.0,
    looks: int = 1,
    alpha: float = ALPHA,
) -> Comparison:
    """Candidate vs baseline by ``method``: ``"paired-t"`` (:func:`_paired_t`) or ``"rank"`` (:func:`_rank`)."""
    setup = _Setup.of(floor, min_effect, looks, alpha, direction, method)
    return _TESTS[method](candidate, baseline, setup, floor)


# The two tests by name, as the gate (paired metrics) and the kernel bench (unpaired timings) call them.
compare_paired = partial(compare, method="paired-t")
compare_samples = partial(compare, method="rank")


# ---------------------------------------------------------------------------
# adaptive repeats


@dataclass(frozen=True)
class SequentialPlan:
    """How many candidate/baseline pairs to measure, decided between looks.

    Stopping rule: measure ``start`` pairs (the lab's ``repeats``); then, while the
    decision is ``inconclusive`` — or ``improved`` but not yet selected over the
    session (BH) — *and* the estimate favours the candidate *and* fewer than
    ``cap`` pairs are in, measure ``step`` more pairs and look again. Stop at once
    on a selected ``improved``, on ``worse`` or ``no evidence``, and for futility
    when the estimate does not favour the candidate (only the ``improved`` label
    leads anywhere, so repeats are spent only where they can earn it). Every look
    is tested at α/``looks`` (Bonferroni over the planned looks, the conservative
    alpha spending), so however the looks end the false-improvement rate per
    candidate stays within α/2; pass ``looks`` to :func:`compare_paired`.
    """

    start: int
    cap: int
    step: int = 0  # 0: the start again (looks at start, 2·start, … up to cap)

    def __post_init__(self) -> None:
        if self.start < 1:
            raise ValueError(f"a plan starts with at least one pair, not {self.start}")
        if self.cap < self.start:
            raise ValueError(f"the cap ({self.cap}) is below the start ({self.start})")

    @property
    def stride(self) -> int:
        return self.step or self.start

    @property
    def looks(self) -> int:
        return 1 + math.ceil((self.cap - self.start) / self.stride)

    def more(self, comparison: Comparison, selected: bool = True) -> int:
        """Pairs to measure next: 0 to stop.

        ``selected``: whether the candidate survives the session's selection now
        (:func:`would_be_selected`); an ``improved`` candidate that does not yet is
        measured on, since more pairs are what can earn it the label.
        """
        if comparison.n >= self.cap:
            return 0
        if comparison.decision == IMPROVED and selected:
            return 0
        if comparison.decision not in (INCONCLUSIVE, IMPROVED):
            return 0
        if comparison.effect is None or comparison.effect <= 0:
            return 0  # futility: the candidate is not even ahead
        if comparison.n < self.start:
            return self.start - comparison.n  # failed runs left pairs short: make up the start first
        return min(self.stride, self.cap - comparison.n)


def default_cap(start: int) -> int:
    """The adaptive-repeat cap for a lab that sets none: four times its start, at least 8 pairs.

    Measured in benchmarks/noise_gate.py: below this a 2σ effect among noise candidates is
    found less than 80% of the time once the session's selection (BH) is applied.
    """
    return max(4 * start, 8)


# ---------------------------------------------------------------------------
# selection over the session


def select(p_values: Mapping[str, float | None], q: float = FDR_Q, family: int = FAMILY) -> set[str]:
    """Candidates whose "better" p-value survives Benjamini–Hochberg at ``q`` over all of them.

    Pass every candidate the session has decided on (not only the promising
    ones): the false-discovery rate is controlled over that whole family, taken
    as at least ``family`` candidates (the missing ones count as p = 1).
    A candidate without a p-value (no comparison) counts as p = 1.
    """
    ids = list(p_values)
    ps = [1.0 if p_values[k] is None else min(max(float(p_values[k]), 0.0), 1.0) for k in ids]  # type: ignore[arg-type]
    if not ids:
        return set()
    ps += [1.0] * max(0, family - len(ps))
    adjusted = st.false_discovery_control(np.asarray(ps), method="bh")
    return {k for k, a in zip(ids, adjusted[: len(ids)], strict=True) if a <= q}


def would_be_selected(
    candidate: str, p_value: float | None, session: Mapping[str, float | None], q: float = FDR_Q, family: int = FAMILY
) -> bool:
    """Whether ``candidate`` with ``p_value`` survives selection among the session's other p-values now."""
    return candidate in select({**session, candidate: p_value}, q, family)


def session_decisions(comparisons: Mapping[str, Comparison], q: float = FDR_Q, family: int = FAMILY) -> dict[str, str]:
    """Each candidate's decision after selection: ``improved`` only if it also survives BH over the session.

    A candidate whose own test says improved but whose p-value does not survive
    the session's correction is shown ``inconclusive`` (more repeats could tell).
    """
    selected = select({k: c.p_value for k, c in comparisons.items()}, q, family)
    return {
        k: (c.decision if c.decision != IMPROVED or k in selected else INCONCLUSIVE) for k, c in comparisons.items()
    }


def best_candidate(comparisons: Mapping[str, Comparison], q: float = FDR_Q, family: int = FAMILY) -> str | None:
    """The candidate about to be shown as the session's best: improved after selection, largest effect."""
    decided = session_decisions(comparisons, q, family)
    improved = [k for k, d in decided.items() if d == IMPROVED]
    return max(improved, key=lambda k: comparisons[k].effect or 0.0, default=None)


def confirm(selected: Comparison, fresh: Comparison) -> str:
    """The label of a selected best after its fresh re-measure against the current main.

    Being picked as the best out of many inflates its measured effect (the
    winner's curse); the fresh measurement is independent of that choice, so its
    own test is honest. The best is ``improved`` only if both say so; a fresh
    ``worse`` or ``no evidence`` wins over the old label.
    """
    if selected.decision == IMPROVED and fresh.decision == IMPROVED:
        return IMPROVED
    if fresh.decision in (WORSE, NO_EVIDENCE):
        return fresh.decision
    return INCONCLUSIVE
