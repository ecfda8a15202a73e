"""A run's peak GPU memory: what ``run.finished`` records and ``labconsole export`` writes as ``memory_gb``.

Two sources, in order of trust:
* **telemetry** — the console's own GPU samples while the run held its lease: the most memory used at
  any sample on the GPUs it leased (summed over them; a lease is exclusive, so that memory is the run's);
* **output** — a ``peak_vram_mb: N`` line the run printed (autoresearch's summary block), used only when
  the console measured nothing (no GPU lease, no NVML, a run shorter than one sample). The run's code is
  the candidate's, so the line is read as a plain non-negative number of bounded size and nothing else.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from labconsole.gpu.snapshot import GpuSnapshot

FROM_TELEMETRY = "telemetry"
FROM_OUTPUT = "output"
_PRINTED = re.compile(r"^peak_vram_mb:[ \t]*([0-9]{1,12}(?:\.[0-9]{1,6})?)[ \t]*$", re.MULTILINE)
# No machine has a petabyte of GPU memory: a bigger printed number is not a measurement.
MAX_PRINTED_MB = 1e9


class PeakGpuMemory:
    """Fed every telemetry snapshot during a run (from the sampler's thread); keeps the highest total."""

    def __init__(self, gpus: Iterable[int | str]) -> None:
        self._ids = {str(g) for g in gpus}  # NVML indices, or the UUIDs CUDA_VISIBLE_DEVICES named
        self._lock = threading.Lock()
        self._peak: int | None = None

    def offer(self, snap: GpuSnapshot) -> None:
        if not snap.available:
            return
        used = [
            g.mem_used_bytes
            for g in snap.gpus
            if g.mem_used_bytes is not None and (str(g.index) in self._ids or (g.uuid or "") in self._ids)
        ]
        if not used:  # NVML said nothing about these GPUs: not a zero
            return
        with self._lock:
            self._peak = max(self._peak or 0, sum(used))

    @property
    def peak_bytes(self) -> int | None:
        with self._lock:
            return self._peak


def printed_peak_mb(output: str) -> float | None:
    """The last ``peak_vram_mb:`` line's number, or None when there is none usable."""
    found = _PRINTED.findall(output)
    if not found:
        return None
    value = float(found[-1])
    return value if math.isfinite(value) and value <= MAX_PRINTED_MB else None


@dataclass(frozen=True)
class PeakMemory:
    mb: float | None
    source: str | None  # FROM_TELEMETRY | FROM_OUTPUT | None (not measured)

    def event_data(self) -> dict[str, float | str | None]:
        """The ``run.finished`` fields."""
        return {"peak_gpu_mem_mb": self.mb, "peak_gpu_mem_from": self.source}


def run_peak(measured: PeakGpuMemory | None, output: str) -> PeakMemory:
    """The console's measurement when it has one, else what the run printed, else not measured."""
    if measured is not None and measured.peak_bytes is not None:
        return PeakMemory(round(measured.peak_bytes / 2**20, 1), FROM_TELEMETRY)
    printed = printed_peak_mb(output)
    return PeakMemory(round(printed, 1), FROM_OUTPUT) if printed is not None else PeakMemory(None, None)
