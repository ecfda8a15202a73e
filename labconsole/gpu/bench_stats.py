"""Pure logic of the benchmark harness: statistics, tolerances, output checks, flags, bytes math.

Nothing here needs a GPU; the CPU test suite covers all of it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from labconsole.core.stats import IMPROVED, Comparison, compare_samples

# ---------------------------------------------------------------------------
# statistics


@dataclass
class TimingStats:
    """Microseconds over ``n`` repetitions: the median is the number; the rest says how much to trust it."""

    n: int
    median_us: float
    p10_us: float
    p90_us: float
    q1_us: float
    q3_us: float
    min_us: float
    mean_us: float
    # The raw samples, for comparisons through labconsole.core.stats; not part of the report.
    samples: tuple[float, ...] = field(default=(), repr=False, compare=False)

    @property
    def iqr_us(self) -> float:
        return self.q3_us - self.q1_us

    @property
    def rel_spread(self) -> float:
        """IQR / median: 0.02 is a quiet measurement, 0.3 a noisy one."""
        return self.iqr_us / self.median_us if self.median_us > 0 else math.inf

    def to_dict(self) -> dict[str, Any]:
        d = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items() if k != "samples"}
        d["iqr_us"] = round(self.iqr_us, 4)
        return d


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Linear-interpolated percentile (``p`` in 0..100) of already-sorted values."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    if len(sorted_values) == 1:
        return float(sorted_values[0])
    pos = (len(sorted_values) - 1) * p / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return float(sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo))


def summarize(samples_us: Sequence[float]) -> TimingStats:
    s = sorted(samples_us)
    return TimingStats(
        n=len(s),
        median_us=percentile(s, 50),
        p10_us=percentile(s, 10),
        p90_us=percentile(s, 90),
        q1_us=percentile(s, 25),
        q3_us=percentile(s, 75),
        min_us=float(s[0]),
        mean_us=sum(s) / len(s),
        samples=tuple(float(x) for x in samples_us),
    )


# A kernel is "faster" when it beats the baseline by at least this much, beyond noise: timing
# samples are many, so the interval alone would call a 0.2% clock wobble a win.
FASTER_MIN_EFFECT = 0.02


def compare_timings(
    candidate_us: Sequence[float], baseline_us: Sequence[float], min_effect: float = FASTER_MIN_EFFECT
) -> Comparison:
    """Candidate vs baseline timings through the gate's statistics (rank test, smaller is better).

    The decision reads as the experiment gate's: ``improved`` = faster by at least
    ``min_effect`` beyond noise, ``worse`` = slower, ``no evidence`` = the same
    within ``min_effect``, ``inconclusive`` = too noisy to tell.
    """
    return compare_samples(candidate_us, baseline_us, direction="minimize", min_effect=min_effect)


def faster(case: TimingStats, baseline: TimingStats, min_effect: float = FASTER_MIN_EFFECT) -> bool:
    """Whether ``case`` is decidedly faster than ``baseline``; quartiles decide when no samples are kept."""
    if case.samples and baseline.samples:
        return compare_timings(case.samples, baseline.samples, min_effect).decision == IMPROVED
    return case.q3_us < baseline.q1_us


def median_rel_ci(samples_us: Sequence[float]) -> float:
    """Half-width of a ~95% interval of the median, relative to it (IQR-based σ, robust to outliers).

    σ ≈ IQR / 1.349 for a normal core; the median's standard error is ≈ 1.253 σ / √n.
    """
    if len(samples_us) < 4:
        return math.inf
    st = summarize(samples_us)
    if st.median_us <= 0:
        return math.inf
    sigma = st.iqr_us / 1.349
    return 1.96 * 1.253 * sigma / math.sqrt(st.n) / st.median_us


def enough_reps(samples_us: Sequence[float], min_reps: int = 20, rel_ci: float = 0.01) -> bool:
    """Stop repeating once the median is known to ``rel_ci`` (default ±1%) and ``min_reps`` are in."""
    return len(samples_us) >= min_reps and median_rel_ci(samples_us) <= rel_ci


# ---------------------------------------------------------------------------
# bytes and bandwidth


def gbps(nbytes: int, time_us: float) -> float:
    """Decimal GB/s (1e9 bytes per second), the unit datasheets use."""
    return nbytes / (time_us * 1e-6) / 1e9 if time_us > 0 else math.inf


def rmsnorm_bytes(rows: int, hidden: int, elem_bytes: int = 2) -> int:
    """The fewest bytes an RMSNorm moves: read x and the weight once, write y once."""
    return (2 * rows * hidden + hidden) * elem_bytes


# ---------------------------------------------------------------------------
# tolerances and output checks


@dataclass(frozen=True)
class Tolerance:
    atol: float
    rtol: float
    rel_norm: float  # ‖out − ref‖ / ‖ref‖ must stay under this too

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


# Against an fp32 reference. bf16 has 8 mantissa bits (one rounding ≤ 2^-9 relative,
# a couple of roundings in a fused kernel stay under ~1e-2); fp16 has 11.
TOLERANCES: dict[str, Tolerance] = {
    "float64": Tolerance(atol=1e-10, rtol=1e-7, rel_norm=1e-9),
    "float32": Tolerance(atol=1e-5, rtol=1e-4, rel_norm=1e-5),
    "float16": Tolerance(atol=1e-3, rtol=2e-3, rel_norm=2e-3),
    "bfloat16": Tolerance(atol=1e-2, rtol=1.6e-2, rel_norm=1e-2),
    "float8_e4m3fn": Tolerance(atol=1e-1, rtol=1.25e-1, rel_norm=1e-1),
    "float8_e5m2": Tolerance(atol=2e-1, rtol=2.5e-1, rel_norm=2e-1),
}


def dtype_name(dtype: Any) -> str:
    return str(dtype).removeprefix("torch.")


def tolerance_for(dtype: Any, override: dict[str, float] | None = None) -> Tolerance:
    """Tolerance for an output of ``dtype`` (torch dtype or its name); integers must match exactly."""
    name = dtype_name(dtype)
    tol = TOLERANCES.get(name, Tolerance(0.0, 0.0, 0.0))
    if override:
        tol = Tolerance(**{**asdict(tol), **override})
    return tol


@dataclass
class CheckResult:
    ok: bool
    dtype: str
    max_abs_err: float | None = None
    max_rel_err: float | None = None
    rel_norm_err: float | None = None
    mismatched: int = 0  # elements outside atol + rtol·|ref|
    nonfinite: int = 0  # NaN/Inf where the reference is finite (e.g. a poisoned element never written)
    tolerance: dict[str, float] | None = None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_output(out: Any, ref: Any, tol: Tolerance | None = None) -> CheckResult:
    """Compare a kernel output with a (preferably fp32) reference, both ``torch.Tensor``."""
    import torch

    if not isinstance(out, torch.Tensor):
        return CheckResult(ok=False, dtype=type(out).__name__, detail="no output tensor (self.out is not a tensor)")
    dtype = dtype_name(out.dtype)
    tol = tol or tolerance_for(out.dtype)
    if not isinstance(ref, torch.Tensor):
        return CheckResult(ok=False, dtype=dtype, detail="the reference is not a tensor")
    if out.numel() != ref.numel():
        return CheckResult(ok=False, dtype=dtype, detail=f"shape {tuple(out.shape)} vs reference {tuple(ref.shape)}")
    # fp64 on the reference's device: exact enough to judge bf16/fp32, and fast for 10^8 elements on a GPU.
    r = ref.detach().reshape(-1).to(torch.float64)
    o = out.detach().reshape(-1).to(r.device, torch.float64)
    ref_finite = torch.isfinite(r)
    nonfinite = int((~torch.isfinite(o) & ref_finite).sum())
    diff = (o - r).abs()
    both = ref_finite & torch.isfinite(o)
    bound = tol.atol + tol.rtol * r.abs()
    mismatched = int((diff > bound)[both].sum()) + nonfinite
    max_abs = float(diff[both].max()) if bool(both.any()) else 0.0
    rel = diff / r.abs().clamp_min(1e-30)
    max_rel = float(rel[both].max()) if bool(both.any()) else 0.0
    ref_norm = float(r[ref_finite].norm())
    err_norm = float(diff[both].norm())
    rel_norm = err_norm / ref_norm if ref_norm > 0 else (0.0 if err_norm == 0 else math.inf)
    ok = nonfinite == 0 and mismatched == 0 and rel_norm <= tol.rel_norm
    detail = ""
    if nonfinite:
        detail = f"{nonfinite} of {o.numel()} outputs NaN/Inf where the reference is finite (unwritten or overflow)"
    elif mismatched:
        detail = f"{mismatched} of {o.numel()} outputs outside atol {tol.atol:g} + rtol {tol.rtol:g}"
    elif rel_norm > tol.rel_norm:
        detail = f"relative norm error {rel_norm:.2e} > {tol.rel_norm:g}"
    return CheckResult(
        ok=ok,
        dtype=dtype,
        max_abs_err=max_abs,
        max_rel_err=max_rel,
        rel_norm_err=rel_norm,
        mismatched=mismatched,
        nonfinite=nonfinite,
        tolerance=tol.to_dict(),
        detail=detail,
    )


def poison_(t: Any) -> bool:
    """Fill an output buffer with a value no honest kernel leaves behind (NaN; max int for integers).

    Returns whether anything was poisoned.
    """
    import torch

    if not isinstance(t, torch.Tensor) or t.numel() == 0:
        return False
    with torch.no_grad():
        if t.is_floating_point() or t.is_complex():
            t.fill_(float("nan"))
        elif t.dtype == torch.bool:
            return False
        else:
            t.fill_(torch.iinfo(t.dtype).max)
    return True


# ---------------------------------------------------------------------------
# flags


@dataclass
class Flag:
    kind: str  # see FLAG_SEVERITY
    case: str
    detail: str

    @property
    def severity(self) -> str:
        return FLAG_SEVERITY.get(self.kind, "info")

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "severity": self.severity, "case": self.case, "detail": self.detail}


FLAG_SEVERITY = {
    "incorrect": "fail",  # output differs from the fp32 reference on fresh inputs (or was never written)
    "impossible_bandwidth": "fail",  # faster than the device's copy bandwidth measured in this run
    "faster_than_copy": "review",  # faster than the same-size copy (latency-bound sizes), not than the device
    "compile_check_failed": "fail",  # torch.compile(fullgraph=True) of a module using the op broke or disagreed
    "error": "fail",  # the case raised
    "speedup_over_10x": "review",  # plausible only with a very weak baseline; a human looks
    "unverified": "review",  # no reference to check against
    "reference_not_fp32": "info",
    "events_fallback": "info",  # CUDA-graph capture failed; timed with events
    "noisy": "info",  # IQR/median above 20%
}

IMPOSSIBLE_MARGIN = 1.10  # measured copy bandwidth × this: beyond it a result is noise or a cheat
REVIEW_SPEEDUP = 10.0
NOISY_SPREAD = 0.20


def bandwidth_flags(
    case: str,
    case_gbps: float | None,
    copy_gbps: float | None,
    margin: float = IMPOSSIBLE_MARGIN,
    case_stats: TimingStats | None = None,
    copy_stats: TimingStats | None = None,
    peak_copy_gbps: float | None = None,
) -> list[Flag]:
    """Flag a case that moves its bytes faster than a copy can.

    * beyond the device's copy bandwidth (a large copy measured in this run, ``peak_copy_gbps``):
      ``impossible_bandwidth`` — with the L2 flushed, no kernel reads and writes DRAM faster;
    * beyond the same-size copy only: ``faster_than_copy`` (review) — at a few MB both are
      latency-bound and a lean kernel can legitimately beat torch's copy kernel (seen on H100:
      inductor RMSNorm at 4 MB ran 1.15x the same-size copy). With timing stats the case must
      also be decidedly faster than the copy (:func:`faster`) before it is flagged.
    """
    if case_gbps is None:
        return []
    if peak_copy_gbps and case_gbps > peak_copy_gbps * margin:
        return [
            Flag(
                "impossible_bandwidth",
                case,
                f"{case_gbps:.0f} GB/s is {case_gbps / peak_copy_gbps:.2f}x the device's {peak_copy_gbps:.0f} GB/s "
                f"copy bandwidth measured in this run",
            )
        ]
    if copy_gbps is None or copy_gbps <= 0:
        return []
    separated = case_stats is None or copy_stats is None or faster(case_stats, copy_stats)
    if case_gbps > copy_gbps * margin and separated:
        kind = "faster_than_copy" if peak_copy_gbps else "impossible_bandwidth"
        return [
            Flag(
                kind,
                case,
                f"{case_gbps:.0f} GB/s is {case_gbps / copy_gbps:.2f}x the {copy_gbps:.0f} GB/s "
                f"device copy of the same bytes measured in this run",
            )
        ]
    return []


def speedup_flags(case: str, speedups: dict[str, float], limit: float = REVIEW_SPEEDUP) -> list[Flag]:
    over = {b: s for b, s in speedups.items() if s > limit}
    if not over:
        return []
    text = ", ".join(f"{s:.1f}x over {b}" for b, s in sorted(over.items()))
    return [Flag("speedup_over_10x", case, f"{text}: check the baseline and the work done")]


def noise_flags(case: str, stats: TimingStats | None, limit: float = NOISY_SPREAD) -> list[Flag]:
    if stats is None or stats.rel_spread <= limit:
        return []
    return [Flag("noisy", case, f"IQR is {stats.rel_spread:.0%} of the median over {stats.n} reps")]
