"""GPU telemetry from every node of a Ray cluster: one sampler actor pinned to each node, polled by the console.

Each :class:`NodeSampler` actor lives on its node (hard node affinity, no CPU taken) and reads that node's
GPUs through the same :class:`~labconsole.gpu.telemetry.nvml.GpuTelemetry` as the console's own sampler;
NVML is loaded on the first sample, so a node without a GPU answers ``available=False`` with the reason
("n/a"), never an error. :class:`ClusterTelemetry` (the console side, a daemon thread) asks all of them
each interval, keeps a ring of snapshots per node, places a sampler on nodes that join, and marks a node
whose sampler stops answering as unavailable. ``ray`` is imported only when it starts: this module is
importable without the extra.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from typing import Any

from labconsole.gpu.snapshot import GpuSnapshot
from labconsole.gpu.telemetry.nvml import GpuTelemetry
from labconsole.gpu.telemetry.polling import PollingThread
from labconsole.gpu.telemetry.sampler import DEFAULT_INTERVAL_S, EventDownsampler

NODE_SCAN_EVERY = 10  # polls between looks for nodes that joined
SAMPLE_TIMEOUT_S = 5.0


class NodeSampler:
    """The per-node actor's body (made a Ray actor by :class:`ClusterTelemetry`)."""

    def __init__(self, node_id: str, nvml: Any = None) -> None:
        self.node_id = node_id
        self._nvml = nvml  # None: pynvml, on the node
        self._telemetry: GpuTelemetry | None = None

    def sample(self) -> dict[str, Any]:
        if self._telemetry is None:  # lazily: NVML loads on the node, at the first sample
            self._telemetry = GpuTelemetry(nvml=self._nvml)
        return self._telemetry.snapshot(max_age=0.0).to_dict()


class ClusterTelemetry(PollingThread):
    """Snapshots of every node's GPUs, by node id; implements :class:`~labconsole.gpu.port.NodeTelemetrySource`.

    ``on_snapshot(node_id, snapshot)`` runs on the polling thread for every snapshot; one that raises is
    counted in ``callback_errors`` and does not stop the polling.
    """

    thread_name = "cluster-gpu-telemetry"

    def __init__(
        self,
        interval: float = DEFAULT_INTERVAL_S,
        history: int = 600,
        on_snapshot: Callable[[str, GpuSnapshot], None] | None = None,
    ) -> None:
        super().__init__()
        self.interval = interval
        self._history = max(1, history)
        self._on_snapshot = on_snapshot
        self._rings: dict[str, collections.deque[GpuSnapshot]] = {}
        self._actors: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.callback_errors = 0

    # --- the port -----------------------------------------------------------------------------------

    def nodes(self) -> dict[str, GpuSnapshot]:
        """The newest snapshot of each node sampled so far."""
        with self._lock:
            return {node: ring[-1] for node, ring in self._rings.items() if ring}

    def node_history(self, node_id: str) -> list[GpuSnapshot]:
        with self._lock:
            return list(self._rings.get(node_id, ()))

    # --- polling ------------------------------------------------------------------------------------

    def _loop(self) -> None:
        polls = 0
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                if polls % NODE_SCAN_EVERY == 0:
                    self._place_samplers()
                self.poll()
            except Exception:  # the cluster is unreachable for now: try again next interval
                pass
            polls += 1
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def _place_samplers(self) -> None:
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        remote = ray.remote(num_cpus=0, max_restarts=0)(NodeSampler)
        for node in ray.nodes():
            node_id = node["NodeID"]
            if node.get("Alive") and node_id not in self._actors:
                strategy = NodeAffinitySchedulingStrategy(node_id, soft=False)
                self._actors[node_id] = remote.options(scheduling_strategy=strategy).remote(node_id)

    def poll(self) -> None:
        """Ask every node's sampler once; a node whose sampler does not answer reads as unavailable."""
        import ray

        pending = {node: actor.sample.remote() for node, actor in self._actors.items()}
        for node, ref in pending.items():
            try:
                snap = GpuSnapshot.from_dict(ray.get(ref, timeout=SAMPLE_TIMEOUT_S))
            except Exception as exc:
                snap = GpuSnapshot(ts=time.time(), available=False, reason=f"node not answering: {type(exc).__name__}")
                if not isinstance(exc, ray.exceptions.GetTimeoutError):
                    self._actors.pop(node, None)  # its node is gone; a new sampler is placed if it comes back
            self._record(node, snap)

    def _record(self, node: str, snap: GpuSnapshot) -> None:
        with self._lock:
            self._rings.setdefault(node, collections.deque(maxlen=self._history)).append(snap)
        if self._on_snapshot is not None:
            try:
                self._on_snapshot(node, snap)
            except Exception:
                self.callback_errors += 1


class NodeEventDownsampler:
    """``gpu.sample`` event data per node, tagged with ``node``: a node with GPUs every ``period_s`` (as the
    console's own), a node without (or not answering) once, and again whenever that changes."""

    def __init__(self, period_s: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.period_s = period_s
        self._clock = clock
        self._downsamplers: dict[str, EventDownsampler] = {}
        self._last: dict[str, tuple[bool, str | None]] = {}

    def offer(self, node: str, snap: GpuSnapshot) -> dict[str, Any] | None:
        state = (snap.available, snap.reason)
        changed = self._last.get(node) != state
        self._last[node] = state
        if not snap.available:
            return {**snap.to_event_data(), "node": node} if changed else None
        down = self._downsamplers.setdefault(node, EventDownsampler(self.period_s, self._clock))
        if changed:
            down = self._downsamplers[node] = EventDownsampler(self.period_s, self._clock)  # back: log at once
        data = down.offer(snap)
        return None if data is None else {**data, "node": node}
