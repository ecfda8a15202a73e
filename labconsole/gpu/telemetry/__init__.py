"""GPU telemetry: NVML reading (``nvml``), process ownership (``owners``), the sampler thread and the
``gpu.sample`` downsampler (``sampler``), the cluster poller (``cluster``) and the thread both poll on
(``polling``), Trackio export (``trackio_export``).

Everything produces or consumes :class:`labconsole.gpu.snapshot.GpuSnapshot`; readers that only need the
latest snapshots depend on the port :class:`labconsole.gpu.port.TelemetrySource`, not on these classes.
"""

from __future__ import annotations

from labconsole.gpu.snapshot import GpuProcess, GpuSample, GpuSnapshot, HostSample
from labconsole.gpu.telemetry.nvml import MIN_INTERVAL_S, THROTTLE_REASONS, GpuTelemetry, decode_throttle_reasons
from labconsole.gpu.telemetry.owners import OwnerRegistry
from labconsole.gpu.telemetry.sampler import DEFAULT_INTERVAL_S, EventDownsampler, TelemetrySampler
from labconsole.gpu.telemetry.trackio_export import log_to_trackio, trackio_metrics

__all__ = [
    "DEFAULT_INTERVAL_S",
    "MIN_INTERVAL_S",
    "THROTTLE_REASONS",
    "EventDownsampler",
    "GpuProcess",
    "GpuSample",
    "GpuSnapshot",
    "GpuTelemetry",
    "HostSample",
    "OwnerRegistry",
    "TelemetrySampler",
    "decode_throttle_reasons",
    "log_to_trackio",
    "trackio_metrics",
]
