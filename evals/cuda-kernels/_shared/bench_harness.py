"""Benchmark and correctness helpers for the cuda-kernels eval cases (a protected file: do not edit).

Method: candidate and baselines run interleaved in one process (the order
rotates every repetition), each call timed with CUDA events after an L2 flush;
the median of the repetitions is reported, with achieved GB/s and the
percentage of a device copy of the same bytes measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from collections.abc import Callable

import torch

L2_FLUSH_BYTES = 256 * 1024 * 1024  # well above the H100's 50 MB L2
TOL = {torch.float32: (1e-5, 1e-5), torch.float16: (1e-3, 1e-3), torch.bfloat16: (1.6e-2, 1e-2)}


def poisoned_like(t: torch.Tensor) -> torch.Tensor:
    """An output buffer full of NaN: any element the kernel forgets to write fails the comparison."""
    return torch.full_like(t, float("nan"))


def assert_close(out: torch.Tensor, ref_fp32: torch.Tensor, dtype: torch.dtype) -> None:
    rtol, atol = TOL[dtype]
    assert not torch.isnan(out).any(), "output holds NaN: an element was not written (or the math produced NaN)"
    torch.testing.assert_close(out.float(), ref_fp32.to(dtype).float(), rtol=rtol, atol=atol)


class Bench:
    def __init__(self, reps: int = 30, warmup: int = 3) -> None:
        self.reps, self.warmup = reps, warmup
        self._flush = torch.empty(L2_FLUSH_BYTES, dtype=torch.uint8, device="cuda")

    def run(self, fns: dict[str, Callable[[], object]]) -> dict[str, float]:
        """Median microseconds per call for each function, measured interleaved."""
        for fn in fns.values():
            for _ in range(self.warmup):
                fn()
        torch.cuda.synchronize()
        names = list(fns)
        events: dict[str, list[tuple[torch.cuda.Event, torch.cuda.Event]]] = {n: [] for n in names}
        for rep in range(self.reps):
            order = names[rep % len(names) :] + names[: rep % len(names)]
            for name in order:
                self._flush.zero_()
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                fns[name]()
                end.record()
                events[name].append((start, end))
        torch.cuda.synchronize()
        return {n: statistics.median(s.elapsed_time(e) * 1e3 for s, e in events[n]) for n in names}


def geomean(xs: list[float]) -> float:
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def out_arg() -> str:
    """bench.py's one option: where to write the bench JSON (--out, default bench.json)."""
    p = argparse.ArgumentParser()
    p.add_argument("--out", default="bench.json")
    return p.parse_args().out


def bandwidth_row(us: dict[str, float], nbytes: int, copy_bytes: int, **shape: int) -> dict:
    """One shape's row: its timings, the candidate's GB/s for the `nbytes` it must move, and that as a
    percentage of the GB/s of the `copy` (of `copy_bytes`) timed beside it in the same run."""
    gbps = nbytes / (us["candidate"] * 1e-6) / 1e9
    copy_gbps = copy_bytes / (us["copy"] * 1e-6) / 1e9
    return {**shape, "us": us, "gbps": gbps, "pct_of_copy": 100 * gbps / copy_gbps}


def run_bench(measure: Callable[[Bench, int, int], dict], shapes: list[tuple[int, int]], baselines: list[str]) -> dict:
    """A case's bench.py: `measure(bench, rows, width)` gives each shape's row (candidate, baselines and a
    copy, timed interleaved); the rows and the candidate's speedups go to --out."""
    out = out_arg()
    bench = Bench()
    return report(out, [measure(bench, *shape) for shape in shapes], "candidate", baselines)


def report(path: str, rows: list[dict], candidate: str, baselines: list[str]) -> dict:
    """Write the bench JSON: per-shape rows plus geomean speedups and the median % of copy bandwidth."""
    out = {
        "rows": rows,
        "pct_of_copy": statistics.median(r["pct_of_copy"] for r in rows),
        **{f"speedup_vs_{b}": geomean([r["us"][b] / r["us"][candidate] for r in rows]) for b in baselines},
    }
    with open(path, "w") as f:
        json.dump(out, f, indent=2)
    print(json.dumps({k: v for k, v in out.items() if k != "rows"}))
    return out
