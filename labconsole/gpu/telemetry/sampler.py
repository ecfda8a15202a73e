"""Background sampling (a daemon thread into a ring) and the downsampling of snapshots into ``gpu.sample`` events."""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from typing import Any

from labconsole.core.listeners import Listeners
from labconsole.gpu.snapshot import GpuSnapshot
from labconsole.gpu.telemetry.nvml import MIN_INTERVAL_S, GpuTelemetry
from labconsole.gpu.telemetry.polling import PollingThread

DEFAULT_INTERVAL_S = 1.0


class TelemetrySampler(PollingThread):
    """A daemon thread taking one snapshot per ``interval`` into a fixed-size ring.

    ``on_snapshot`` runs on the sampler thread; a callback that raises is counted
    in ``callback_errors`` and does not stop sampling.
    """

    thread_name = "gpu-telemetry"

    def __init__(
        self,
        telemetry: GpuTelemetry,
        interval: float = DEFAULT_INTERVAL_S,
        history: int = 600,
        on_snapshot: Callable[[GpuSnapshot], None] | None = None,
    ) -> None:
        super().__init__()
        self.telemetry = telemetry
        self.interval = max(float(interval), MIN_INTERVAL_S)
        self._ring: collections.deque[GpuSnapshot] = collections.deque(maxlen=max(1, history))
        self._on_snapshot = on_snapshot
        self._ring_lock = threading.Lock()
        self.callback_errors = 0
        self.last_callback_error: str | None = None
        # Consumers for a while (a run's peak memory while it holds its lease), added and removed at will.
        self._listeners: Listeners[Callable[[GpuSnapshot], None]] = Listeners(self._ring_lock)

    def latest(self) -> GpuSnapshot | None:
        with self._ring_lock:
            return self._ring[-1] if self._ring else None

    def history(self) -> list[GpuSnapshot]:
        with self._ring_lock:
            return list(self._ring)

    def add_listener(self, fn: Callable[[GpuSnapshot], None]) -> Callable[[], None]:
        """Call ``fn`` with every snapshot from now on (on the sampler thread); returns what removes it."""
        return self._listeners.add(fn)

    def _loop(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            snap = self.telemetry.snapshot(max_age=0.0)
            with self._ring_lock:
                self._ring.append(snap)
                consumers = [self._on_snapshot] if self._on_snapshot is not None else []
                consumers += self._listeners.current()
            for consume in consumers:
                try:
                    consume(snap)
                except Exception as exc:  # a broken consumer must not stop telemetry
                    self.callback_errors += 1
                    self.last_callback_error = f"{type(exc).__name__}: {exc}"
            next_at += self.interval
            # Fixed cadence; if we fell behind (slow NVML), resync instead of bursting.
            delay = next_at - time.monotonic()
            if delay < 0:
                next_at = time.monotonic()
                delay = 0
            self._stop.wait(delay)


class EventDownsampler:
    """Turns a 1 Hz snapshot stream into ``gpu.sample`` event data every ``period_s``.

    Each emitted event also carries per-GPU mean/max utilisation over the window,
    so the low-rate log still shows bursts between samples.
    """

    def __init__(self, period_s: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.period_s = period_s
        self._clock = clock
        self._last_emit: float | None = None
        self._util: dict[int, list[float]] = collections.defaultdict(list)

    def offer(self, snap: GpuSnapshot) -> dict[str, Any] | None:
        for g in snap.gpus:
            if g.util_pct is not None:
                self._util[g.index].append(g.util_pct)
        now = self._clock()
        if self._last_emit is not None and now - self._last_emit < self.period_s:
            return None
        self._last_emit = now
        data = snap.to_event_data()
        if snap.available:
            data["window"] = {
                str(i): {"n": len(v), "util_mean": round(sum(v) / len(v), 1), "util_max": max(v)}
                for i, v in sorted(self._util.items())
                if v
            }
        self._util.clear()
        return data
