"""The telemetry port: what a view needs from whoever samples the GPUs.

The orchestrator's :class:`~labconsole.gpu.telemetry.TelemetrySampler` implements it, and so does
any test double; the TUI depends only on this protocol and on :class:`GpuSnapshot`. Runs on a cluster
add :class:`NodeTelemetrySource`: the same snapshots, one stream per node
(:class:`~labconsole.gpu.telemetry.cluster.ClusterTelemetry` on Ray).
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


@runtime_checkable
class NodeTelemetrySource(Protocol):
    """GPU telemetry of a cluster's nodes, keyed by node id (a Ray node id)."""

    def start(self) -> None:
        """Begin sampling every node; a no-op when already sampling."""

    def stop(self, timeout: float = 5.0) -> None:
        """Stop sampling; the snapshots taken so far stay readable."""

    def nodes(self) -> dict[str, GpuSnapshot]:
        """The newest snapshot of each node sampled so far (``available=False`` on a node without GPUs)."""

    def node_history(self, node_id: str) -> list[GpuSnapshot]:
        """That node's snapshots still held, oldest first."""
