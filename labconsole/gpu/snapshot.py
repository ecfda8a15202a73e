"""The one GPU data shape: a snapshot of every GPU (and the host) at one instant.

It flows sampler → TUI panel → ``gpu.sample`` session-log events, and replay
builds it back from the logged events (:meth:`GpuSnapshot.from_event_data`),
so every reader of GPU telemetry handles one type. Values NVML would not give
are ``None`` ("n/a", as nvitop shows them), never a made-up zero.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class GpuProcess:
    pid: int
    used_mem_bytes: int | None  # None: NVML would not say (common in containers)
    owner: str | None  # label of the registered agent/run whose process tree holds the pid
    name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class GpuSample:
    index: int
    name: str | None = None
    uuid: str | None = None
    util_pct: float | None = None
    mem_util_pct: float | None = None
    mem_used_bytes: int | None = None
    mem_total_bytes: int | None = None
    power_w: float | None = None
    power_limit_w: float | None = None
    sm_clock_mhz: int | None = None
    mem_clock_mhz: int | None = None
    temperature_c: int | None = None
    throttle_reasons: list[str] | None = None
    processes: list[GpuProcess] = field(default_factory=list)
    error: str | None = None  # set when the device itself could not be opened

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class HostSample:
    cpu_pct: float | None = None
    ram_used_bytes: int | None = None
    ram_total_bytes: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class GpuSnapshot:
    ts: float  # wall clock (time.time()) when taken
    available: bool
    reason: str | None = None  # why available is False, one line
    driver_version: str | None = None
    gpus: list[GpuSample] = field(default_factory=list)
    host: HostSample = field(default_factory=HostSample)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GpuSnapshot:
        gpus = [
            GpuSample(**{**g, "processes": [GpuProcess(**p) for p in g.get("processes", [])]})
            for g in data.get("gpus", [])
        ]
        return cls(
            ts=data["ts"],
            available=data["available"],
            reason=data.get("reason"),
            driver_version=data.get("driver_version"),
            gpus=gpus,
            host=HostSample(**data.get("host", {})),
        )

    def to_event_data(self) -> dict[str, Any]:
        """Compact data for a ``gpu.sample`` session-log event (``{"gpus": [...]}``)."""
        if not self.available:
            return {"gpus": [], "available": False, "reason": self.reason}
        gpus = []
        for g in self.gpus:
            gpus.append(
                {
                    "index": g.index,
                    "util": g.util_pct,
                    "mem_used": g.mem_used_bytes,
                    "mem_total": g.mem_total_bytes,
                    "power_w": None if g.power_w is None else round(g.power_w, 1),
                    "sm_clock": g.sm_clock_mhz,
                    "mem_clock": g.mem_clock_mhz,
                    "temp_c": g.temperature_c,
                    "throttle": g.throttle_reasons,
                    "procs": [{"pid": p.pid, "owner": p.owner, "mem": p.used_mem_bytes} for p in g.processes],
                }
            )
        return {"gpus": gpus}

    @classmethod
    def from_event_data(cls, data: dict[str, Any], ts: float | None = None) -> GpuSnapshot:
        """The snapshot a logged ``gpu.sample`` event describes (the inverse of :meth:`to_event_data`).

        Only what the event carries comes back: names, UUIDs and host numbers are not logged, so they
        stay ``None``. Entries that are not GPU records (no integer index) are skipped.
        """
        gpus = []
        for g in data.get("gpus") or []:
            if not isinstance(g, dict) or not isinstance(g.get("index"), int):
                continue
            procs = [
                GpuProcess(pid=p["pid"], used_mem_bytes=p.get("mem"), owner=p.get("owner"))
                for p in g.get("procs") or []
                if isinstance(p, dict) and isinstance(p.get("pid"), int)
            ]
            gpus.append(
                GpuSample(
                    index=g["index"],
                    util_pct=g.get("util"),
                    mem_used_bytes=g.get("mem_used"),
                    mem_total_bytes=g.get("mem_total"),
                    power_w=g.get("power_w"),
                    sm_clock_mhz=g.get("sm_clock"),
                    mem_clock_mhz=g.get("mem_clock"),
                    temperature_c=g.get("temp_c"),
                    throttle_reasons=g.get("throttle"),
                    processes=procs,
                )
            )
        return cls(
            ts=data.get("ts", 0.0) if ts is None else ts,
            available=data.get("available", True) is not False,
            reason=data.get("reason"),
            gpus=gpus,
        )
