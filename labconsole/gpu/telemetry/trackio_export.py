"""GPU snapshots as Trackio system metrics."""

from __future__ import annotations

from typing import Any

from labconsole.gpu.snapshot import GpuSnapshot


def trackio_metrics(snap: GpuSnapshot) -> dict[str, float]:
    """Flat ``gpu/<i>/<metric>`` numbers (n/a values omitted), the keys Trackio's own GPU logging uses."""
    out: dict[str, float] = {}
    for g in snap.gpus:
        p = f"gpu/{g.index}"
        values = {
            "utilization": g.util_pct,
            "memory_utilization": g.mem_util_pct,
            "allocated_memory": None if g.mem_used_bytes is None else g.mem_used_bytes / 2**30,
            "total_memory": None if g.mem_total_bytes is None else g.mem_total_bytes / 2**30,
            "power": g.power_w,
            "sm_clock": g.sm_clock_mhz,
            "memory_clock": g.mem_clock_mhz,
            "temp": g.temperature_c,
        }
        out.update({f"{p}/{k}": float(v) for k, v in values.items() if v is not None})
    return out


def log_to_trackio(snap: GpuSnapshot, run: Any | None = None) -> dict[str, float]:
    """Log one snapshot as Trackio *system* metrics (timestamped, like ``trackio.log_gpu``).

    We log our own snapshot rather than calling ``trackio.log_gpu()`` so Trackio and
    the console show the same numbers from one NVML round. Needs ``trackio.init()``
    first (or pass the ``Run``).
    """
    metrics = trackio_metrics(snap)
    if not metrics:
        return metrics
    if run is not None:
        run.log_system(metrics=metrics)
    else:
        import trackio

        trackio.log_system(metrics)
    return metrics
