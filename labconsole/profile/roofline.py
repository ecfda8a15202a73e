"""Device peaks (measured, cached) and the roofline verdict for one operator.

Peaks are *measured*, not read off a datasheet: a large device-to-device copy
(bytes read + bytes written over time) and a large matrix product in the
profile's dtype. They are measured once per (device name, dtype) and cached in
``~/.cache/labconsole/peaks.json`` (or ``$LABCONSOLE_CACHE_DIR``), because a
profile of a 2 ms decode step should not spend seconds re-measuring the card.

Verdicts:

- ``compute-bound``  arithmetic intensity (FLOP/byte) at or above the ridge
  point ``peak FLOP/s / peak B/s``: only more arithmetic throughput helps.
- ``memory-bound``   intensity below the ridge: fewer bytes (fusion, lower
  precision, better access) help.
- ``overhead-bound`` the kernels are far from both roofs *and* either each
  launch is tiny (below ``tiny_us``) or the host spends longer dispatching a
  call than the device spends running it, or it reaches under 5% of the
  roofline: launch gaps, Python, dispatcher time or synchronisation dominate,
  so fusion / CUDA graphs help, a faster kernel does not.
- ``unknown``        no estimate of bytes or FLOPs and not visibly tiny.
"""

from __future__ import annotations

import functools

import json
import os
import platform
import time
from dataclasses import asdict, dataclass
from datetime import datetime, UTC
from pathlib import Path
from typing import Any

MEMORY = "memory-bound"
COMPUTE = "compute-bound"
OVERHEAD = "overhead-bound"
UNKNOWN = "unknown"
VERDICTS = (MEMORY, COMPUTE, OVERHEAD, UNKNOWN)

# Below this fraction of the roofline a kernel is not limited by either roof.
FAR_FROM_ROOF = 0.25
# So far below the roofline that neither bytes nor FLOPs explain the time (sync, thread wake-up).
LATENCY_BOUND = 0.05
# A GPU kernel shorter than this is dominated by launch latency and ramp-up.
GPU_TINY_US = 6.0
# On the CPU an op this short is mostly dispatcher and allocator work.
CPU_TINY_US = 10.0


@dataclass(frozen=True)
class Peaks:
    """Measured ceilings of one device for one dtype."""

    device: str  # device name, e.g. "NVIDIA H100 80GB HBM3" or the CPU model
    kind: str  # "cuda" | "cpu"
    dtype: str  # dtype of the matmul peak, e.g. "bfloat16"
    copy_gbps: float  # GB/s (1e9 B/s), bytes read + bytes written
    matmul_tflops: float  # TFLOP/s (1e12), 2*M*N*K per product
    measured_at: str  # ISO time
    method: str  # how they were measured, for the record

    @property
    def ridge(self) -> float:
        """FLOP per byte at which the two roofs meet."""
        return self.matmul_tflops * 1e12 / (self.copy_gbps * 1e9)

    @property
    def tiny_us(self) -> float:
        return GPU_TINY_US if self.kind == "cuda" else CPU_TINY_US

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ridge_flop_per_byte": round(self.ridge, 2)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Peaks:
        fields = {
            k: data[k] for k in ("device", "kind", "dtype", "copy_gbps", "matmul_tflops", "measured_at", "method")
        }
        return cls(**fields)


@dataclass(frozen=True)
class Verdict:
    verdict: str
    ideal_us: float  # roofline time: max(bytes / peak B/s, flops / peak FLOP/s)
    efficiency: float  # ideal_us / measured time (0..1, can exceed 1 if the estimate is off)
    reason: str


def classify(
    *,
    time_us: float,
    launches: float,
    nbytes: float,
    flops: float,
    host_us: float,
    peaks: Peaks,
) -> Verdict:
    """Roofline verdict for an operator's per-step totals.

    ``launches`` is kernels (GPU) or calls (CPU) per step; ``host_us`` the CPU
    time spent dispatching those calls (0 when unknown).
    """
    if time_us <= 0:
        return Verdict(UNKNOWN, 0.0, 0.0, "no measured time")
    mem_us = nbytes / (peaks.copy_gbps * 1e3)
    cmp_us = flops / (peaks.matmul_tflops * 1e6)
    ideal = max(mem_us, cmp_us)
    eff = ideal / time_us
    per_launch = time_us / max(launches, 1.0)
    if eff < FAR_FROM_ROOF:
        if per_launch < peaks.tiny_us:
            return Verdict(OVERHEAD, ideal, eff, f"{per_launch:.1f} µs per launch, {eff:.0%} of roofline")
        if host_us > time_us and peaks.kind == "cuda":
            return Verdict(OVERHEAD, ideal, eff, f"host dispatch {host_us:.0f} µs > device {time_us:.0f} µs")
        if 0 < eff < LATENCY_BOUND:
            return Verdict(OVERHEAD, ideal, eff, f"{eff:.1%} of roofline: latency or sync, not bytes or FLOPs")
    if nbytes <= 0 and flops <= 0:
        return Verdict(UNKNOWN, 0.0, 0.0, "no byte/FLOP estimate for this op")
    intensity = flops / nbytes if nbytes > 0 else float("inf")
    if intensity >= peaks.ridge:
        return Verdict(COMPUTE, ideal, eff, f"intensity {intensity:.1f} ≥ ridge {peaks.ridge:.1f} FLOP/B")
    return Verdict(MEMORY, ideal, eff, f"intensity {intensity:.2f} < ridge {peaks.ridge:.1f} FLOP/B")


# --- measurement -----------------------------------------------------------------------------


def cache_dir() -> Path:
    return Path(os.environ.get("LABCONSOLE_CACHE_DIR") or Path.home() / ".cache" / "labconsole")


def device_name(kind: str) -> str:
    import torch

    if kind == "cuda":
        return torch.cuda.get_device_name()
    name = _cpu_model() or platform.processor() or platform.machine()
    return f"{name} ({torch.get_num_threads()} threads)"


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def get_peaks(kind: str, dtype: str, *, cache: Path | None = None, refresh: bool = False) -> Peaks:
    """Cached peaks for this device and dtype, measuring them on first use."""
    path = (cache or cache_dir()) / "peaks.json"
    key = f"{device_name(kind)}|{dtype}"
    data: dict[str, Any] = {}
    if path.exists():
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            data = {}  # a corrupt cache is re-measured, never fatal
    if not refresh and key in data:
        try:
            return Peaks.from_dict(data[key])
        except (KeyError, TypeError):
            pass
    peaks = measure_peaks(kind, dtype)
    data[key] = peaks.to_dict()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
        tmp.replace(path)
    except OSError:
        pass  # read-only home: use the measurement without caching it
    return peaks


def measure_peaks(kind: str, dtype: str) -> Peaks:
    import torch

    torch_dtype = getattr(torch, dtype)
    if kind == "cuda":
        copy_gbps, copy_how = _cuda_copy_gbps()
        tflops, mm_how = _cuda_matmul_tflops(torch_dtype)
    else:
        copy_gbps, copy_how = _cpu_copy_gbps()
        tflops, mm_how = _cpu_matmul_tflops(torch_dtype)
    return Peaks(
        device=device_name(kind),
        kind=kind,
        dtype=dtype,
        copy_gbps=round(copy_gbps, 1),
        matmul_tflops=round(tflops, 4),
        measured_at=datetime.now(UTC).isoformat(timespec="seconds"),
        method=f"{copy_how}; {mm_how}; torch {torch.__version__}",
    )


def _cuda_time_ms(fn, reps: int) -> float:
    """Median of ``reps`` event-timed calls after a warm-up."""
    import torch

    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    times.sort()
    return times[len(times) // 2]


def _cuda_copy_gbps() -> tuple[float, str]:
    import torch

    n = 256 * 2**20  # 1 GiB of float32: far beyond L2, so this is DRAM bandwidth
    src = torch.randn(n, device="cuda")
    dst = torch.empty_like(src)
    ms = _cuda_time_ms(functools.partial(dst.copy_, src), reps=10)
    del src, dst
    return 2 * n * 4 / (ms * 1e-3) / 1e9, "copy 1 GiB d2d, median of 10, read+write bytes"


def _cuda_matmul_tflops(dtype) -> tuple[float, str]:
    import torch

    n = 8192
    a = torch.randn(n, n, device="cuda", dtype=dtype)  # random, not zeros: zeros run faster
    b = torch.randn(n, n, device="cuda", dtype=dtype)
    ms = _cuda_time_ms(lambda: a @ b, reps=10)
    return 2 * n**3 / (ms * 1e-3) / 1e12, f"{n}^3 {str(dtype).removeprefix('torch.')} matmul, median of 10"


def _cpu_time_s(fn, reps: int) -> float:
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def _cpu_copy_gbps() -> tuple[float, str]:
    import torch

    n = 16 * 2**20  # 64 MiB of float32: beyond the last-level cache of most CPUs
    src = torch.randn(n)
    dst = torch.empty_like(src)
    s = _cpu_time_s(lambda: dst.copy_(src), reps=5)
    return 2 * n * 4 / s / 1e9, "copy 64 MiB, median of 5, read+write bytes"


def _cpu_matmul_tflops(dtype) -> tuple[float, str]:
    import torch

    # bf16/fp16 matmul on many CPUs runs through slow fallbacks; that *is* the CPU's peak for them.
    n = 512 if dtype in (torch.bfloat16, torch.float16) else 1024
    a = torch.randn(n, n, dtype=dtype)
    b = torch.randn(n, n, dtype=dtype)
    s = _cpu_time_s(lambda: a @ b, reps=5)
    return 2 * n**3 / s / 1e12, f"{n}^3 {str(dtype).removeprefix('torch.')} matmul, median of 5"
