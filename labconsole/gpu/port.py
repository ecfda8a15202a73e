"""The telemetry port: what a view needs from whoever samples the GPUs.

The orchestrator's :class:`~labconsole.gpu.telemetry.TelemetrySampler` implements it, and so does
any test double; the TUI depends only on this protocol and on :class:`GpuSnapshot`.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from labconsole.gpu.snapshot import GpuSnapshot


@runtime_checkable
class TelemetrySource(Protocol):
    def start(self) -> None:
        """Begin sampling; a no-op when already sampling."""

    def stop(self, timeout: float = 5.0) -> None:
        """Stop sampling; the snapshots taken so far stay readable."""

    def latest(self) -> GpuSnapshot | None:
        """The newest snapshot, or None before the first one."""

    def history(self) -> list[GpuSnapshot]:
        """The snapshots still held, oldest first."""
