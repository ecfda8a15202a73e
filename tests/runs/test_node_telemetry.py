"""GPU samples of cluster nodes carry their node id; a node without a GPU is logged once, as n/a."""

from __future__ import annotations

from labconsole.events.kinds import KINDS
from labconsole.gpu.port import NodeTelemetrySource
from labconsole.gpu.snapshot import GpuSample, GpuSnapshot
from labconsole.gpu.telemetry.cluster import ClusterTelemetry, NodeEventDownsampler, NodeSampler


def test_node_samples_are_tagged_and_a_gpu_less_node_is_logged_once() -> None:
    now = [0.0]
    down = NodeEventDownsampler(period_s=30.0, clock=lambda: now[0])
    none = GpuSnapshot(ts=1.0, available=False, reason="no GPU: NVML not found")
    busy = GpuSnapshot(ts=1.0, available=True, gpus=[GpuSample(index=0, util_pct=90.0)])
    first = down.offer("node-a", none)
    assert first == {"gpus": [], "available": False, "reason": "no GPU: NVML not found", "node": "node-a"}
    KINDS["gpu.sample"].check(first)  # the node field is declared
    assert down.offer("node-a", none) is None  # unchanged: not logged again
    logged = down.offer("node-b", busy)
    assert logged is not None and logged["node"] == "node-b" and logged["gpus"][0]["util"] == 90.0
    now[0] = 10.0
    assert down.offer("node-b", busy) is None  # within the period
    now[0] = 31.0
    assert down.offer("node-b", busy) is not None
    assert down.offer("node-a", busy) is not None  # its GPU came back: logged at once


class NoDriver:
    def nvmlInit(self) -> None:
        raise RuntimeError("NVML Shared Library Not Found")


def test_a_node_sampler_without_a_driver_answers_n_a() -> None:
    snap = GpuSnapshot.from_dict(NodeSampler("node-a", nvml=NoDriver()).sample())
    assert snap.available is False and "NVML Shared Library Not Found" in (snap.reason or "")


def test_cluster_telemetry_keeps_snapshots_per_node() -> None:
    seen: list[str] = []
    telemetry = ClusterTelemetry(history=2, on_snapshot=lambda node, snap: seen.append(node))
    assert isinstance(telemetry, NodeTelemetrySource)
    for ts in (1.0, 2.0, 3.0):
        telemetry._record("node-a", GpuSnapshot(ts=ts, available=False, reason="n/a"))
    telemetry._record("node-b", GpuSnapshot(ts=4.0, available=False, reason="n/a"))
    assert {n: s.ts for n, s in telemetry.nodes().items()} == {"node-a": 3.0, "node-b": 4.0}
    assert [s.ts for s in telemetry.node_history("node-a")] == [2.0, 3.0]
    assert seen == ["node-a"] * 3 + ["node-b"]
