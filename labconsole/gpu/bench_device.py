"""Timing machinery: one case under test, the device (CUDA or the CPU smoke mode) that warms, captures, flushes and times it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from labconsole.gpu.bench_results import BenchConfig
from labconsole.gpu.bench_stats import (
    gbps,
    summarize,
)


class BenchCase:
    def __init__(self, name: str, role: str, fn: Callable[[], Any]) -> None:
        self.name = name
        self.role = role
        self.fn = fn
        self.run: Callable[[], Any] = fn  # graph replay once captured
        self.method = ""
        self.graph: Any = None
        self.device_samples: list[float] = []
        self.host_samples: list[float] = []
        self.host_batch = 1
        self.error: str | None = None
        self.capture_error = ""


class BenchDevice:
    """What differs between CUDA and the CPU smoke mode."""

    def __init__(self, cpu: bool) -> None:
        import torch

        self.torch = torch
        self.cpu = cpu
        self.name = "cpu" if cpu else "cuda"
        self.flush_buf = None
        if not cpu:
            l2 = int(getattr(torch.cuda.get_device_properties(0), "L2_cache_size", 0) or 50 * 2**20)
            self.l2_bytes = l2
            # Writing twice the L2 evicts every line a previous rep left there.
            self.flush_buf = torch.empty(max(2 * l2, 64 * 2**20), dtype=torch.int8, device="cuda")
        else:
            self.l2_bytes = 0

    def sync(self) -> None:
        if not self.cpu:
            self.torch.cuda.synchronize()

    def flush_l2(self) -> None:
        if self.flush_buf is not None:
            self.flush_buf.zero_()

    def prepare(self, case: BenchCase, warmup: int) -> None:
        torch = self.torch
        if self.cpu:
            for _ in range(warmup):
                case.fn()
            case.method = "cpu_wallclock"
            return
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm-up off the default stream, as graph capture requires
            for _ in range(warmup):
                case.fn()
        torch.cuda.current_stream().wait_stream(side)
        torch.cuda.synchronize()
        try:
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                case.fn()
            torch.cuda.synchronize()
            graph.replay()
            torch.cuda.synchronize()
            case.graph = graph
            case.run = graph.replay
            case.method = "cuda_graph"
        except Exception as exc:  # host syncs, CPU work, unsupported ops: time the eager call instead
            torch.cuda.synchronize()
            case.run = case.fn
            case.method = "cuda_events"
            case.capture_error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"

    def device_round(self, cases: list[BenchCase]) -> None:
        """One rep of every case; appends microseconds to each case's samples."""
        torch = self.torch
        if self.cpu:
            for c in cases:
                t0 = time.perf_counter()
                c.run()
                c.device_samples.append((time.perf_counter() - t0) * 1e6)
            return
        marks = []
        for c in cases:
            self.flush_l2()
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            c.run()
            end.record()
            marks.append((c, start, end))
        torch.cuda.synchronize()
        for c, start, end in marks:
            c.device_samples.append(start.elapsed_time(end) * 1e3)

    def host_sample(self, case: BenchCase) -> float:
        self.sync()
        t0 = time.perf_counter()
        for _ in range(case.host_batch):
            case.fn()
        self.sync()
        return (time.perf_counter() - t0) * 1e6 / case.host_batch


def rotate(items: list[Any], k: int) -> list[Any]:
    k %= len(items)
    return items[k:] + items[:k]


def measure_device_copy(dev: BenchDevice, cfg: BenchConfig) -> dict[str, Any]:
    """The device's copy bandwidth: a copy far larger than L2 (1 GiB moved; 16 MiB on CPU), same method as cases."""
    import torch

    nbytes = 16 * 2**20 if dev.cpu else 2**30
    src = torch.randn(nbytes // 8, device=dev.name)
    dst = torch.empty_like(src)
    case = BenchCase("device_copy", "copy", lambda: dst.copy_(src))
    dev.prepare(case, cfg.warmup)
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < (0.05 if dev.cpu else 0.5):  # an idle GPU needs time to raise its clocks
        case.run()
        dev.sync()
    for _ in range(max(cfg.min_reps, 40)):
        dev.device_round([case])
    stats = summarize(case.device_samples)
    case.graph = None
    return {
        "bytes": nbytes,
        "dtype": "float32",
        "method": case.method,
        "device": stats.to_dict(),
        "gbps": gbps(nbytes, stats.median_us),
    }
