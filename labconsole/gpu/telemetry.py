"""GPU telemetry: NVML (``nvidia-ml-py``) + ``psutil``, sampled off the UI thread.

Habits borrowed from nvitop's approach (no code): NVML is initialised lazily on
the first snapshot; every query that fails yields ``None`` ("n/a") instead of
raising; a query that reports *not supported* is not asked again; snapshots are
cached for a minimum refresh interval so many readers cost one NVML round.

The NVML layer is injected: anything with pynvml's function names
(``nvmlInit``, ``nvmlDeviceGetHandleByIndex``, …) works, so CPU tests drive the
real adapter code with a scripted fake (``tests/gpu/fake_nvml.py``).

No driver, no library or no device gives one clear state:
``TelemetrySnapshot(available=False, reason="…")`` — never an exception.
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import psutil

DEFAULT_INTERVAL_S = 1.0
MIN_INTERVAL_S = 0.25  # NVML utilisation counters update at ~1/6 s; faster sampling only burns CPU

# NVML clock-event ("throttle") reason bits; part of the NVML ABI, stable across driver versions.
THROTTLE_REASONS: dict[int, str] = {
    0x001: "gpu_idle",
    0x002: "applications_clocks_setting",
    0x004: "sw_power_cap",
    0x008: "hw_slowdown",
    0x010: "sync_boost",
    0x020: "sw_thermal_slowdown",
    0x040: "hw_thermal_slowdown",
    0x080: "hw_power_brake_slowdown",
    0x100: "display_clock_setting",
}

# NVML enum values used below (stable ABI); the real module has the same names.
_NVML_CLOCK_SM = 1
_NVML_CLOCK_MEM = 2
_NVML_TEMPERATURE_GPU = 0


def decode_throttle_reasons(mask: int | None) -> list[str] | None:
    """Names of the set reason bits (unknown bits as ``bit_0x…``); ``None`` stays n/a."""
    if mask is None:
        return None
    names = [name for bit, name in THROTTLE_REASONS.items() if mask & bit]
    unknown = mask & ~sum(THROTTLE_REASONS)
    bit = 1
    while unknown:
        if unknown & bit:
            names.append(f"bit_{bit:#x}")
            unknown &= ~bit
        bit <<= 1
    return names


# ---------------------------------------------------------------------------
# snapshot data


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
class TelemetrySnapshot:
    ts: float  # wall clock (time.time()) when taken
    available: bool
    reason: str | None = None  # why available is False, one line
    driver_version: str | None = None
    gpus: list[GpuSample] = field(default_factory=list)
    host: HostSample = field(default_factory=HostSample)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TelemetrySnapshot":
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
            gpus.append({
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
            })
        return {"gpus": gpus}


# ---------------------------------------------------------------------------
# PID → owner attribution


class OwnerRegistry:
    """Root PIDs of agents/runs with labels; any descendant process is attributed to the nearest one.

    ``parent_of`` is injectable for tests; by default it walks psutil's parent chain.
    """

    def __init__(self, parent_of: Callable[[int], int | None] | None = None) -> None:
        self._lock = threading.Lock()
        self._roots: dict[int, str] = {}
        self._parent_of = parent_of or _psutil_parent

    def register(self, pid: int, label: str) -> None:
        with self._lock:
            self._roots[pid] = label

    def unregister(self, pid: int) -> None:
        with self._lock:
            self._roots.pop(pid, None)

    def roots(self) -> dict[int, str]:
        with self._lock:
            return dict(self._roots)

    def owner_of(self, pid: int) -> str | None:
        roots = self.roots()
        seen: set[int] = set()
        current: int | None = pid
        while current is not None and current not in seen and current > 0:
            if current in roots:
                return roots[current]
            seen.add(current)
            current = self._parent_of(current)
        return None


def _psutil_parent(pid: int) -> int | None:
    try:
        ppid = psutil.Process(pid).ppid()
    except (psutil.Error, OSError):
        return None
    return ppid if ppid != pid else None


def _process_name(pid: int) -> str | None:
    try:
        return psutil.Process(pid).name()
    except (psutil.Error, OSError):
        return None


# ---------------------------------------------------------------------------
# the sampler proper


class GpuTelemetry:
    """Takes snapshots; thread-safe; caches the last one for ``min_interval`` seconds."""

    def __init__(
        self,
        nvml: Any | None = None,
        owners: OwnerRegistry | None = None,
        min_interval: float = MIN_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._nvml = nvml  # None: import pynvml on first use
        self.owners = owners or OwnerRegistry()
        self.min_interval = max(min_interval, 0.0)
        self._clock = clock
        self._lock = threading.Lock()
        self._initialised = False
        self._init_error: str | None = None
        self._unsupported: set[tuple[int, str]] = set()
        self._cached: tuple[float, TelemetrySnapshot] | None = None
        self._driver: str | None = None

    # -- lifecycle ---------------------------------------------------------

    def _ensure_init(self) -> bool:
        if self._initialised:
            return True
        if self._init_error is not None:
            return False  # drivers do not appear mid-session: do not retry every tick
        try:
            if self._nvml is None:
                import pynvml  # nvidia-ml-py

                self._nvml = pynvml
            self._nvml.nvmlInit()
        except Exception as exc:  # ImportError, NVMLError_LibraryNotFound, DriverNotLoaded, …
            self._init_error = _no_gpu_reason(exc)
            return False
        self._initialised = True
        self._driver = _text(self._call(-1, "driver", self._nvml.nvmlSystemGetDriverVersion))
        return True

    def close(self) -> None:
        with self._lock:
            if self._initialised:
                try:
                    self._nvml.nvmlShutdown()
                except Exception:
                    pass
            self._initialised = False

    # -- queries -----------------------------------------------------------

    def gpu_count(self) -> int:
        """Visible NVML devices; 0 when there is no usable driver."""
        snap = self.snapshot()
        return len(snap.gpus) if snap.available else 0

    def snapshot(self, max_age: float | None = None) -> TelemetrySnapshot:
        """The latest snapshot, fresh unless one younger than ``max_age`` (default: min_interval) exists."""
        age_limit = self.min_interval if max_age is None else max(max_age, self.min_interval)
        with self._lock:
            now = self._clock()
            if self._cached is not None and now - self._cached[0] < age_limit:
                return self._cached[1]
            snap = self._take()
            self._cached = (now, snap)
            return snap

    def _take(self) -> TelemetrySnapshot:
        host = _host_sample()
        if not self._ensure_init():
            return TelemetrySnapshot(ts=time.time(), available=False, reason=self._init_error, host=host)
        count = self._call(-1, "count", self._nvml.nvmlDeviceGetCount)
        if not count:
            reason = "no GPU: the NVIDIA driver is loaded but reports no devices"
            if count is None:
                reason = "no GPU: NVML could not count devices"
            return TelemetrySnapshot(ts=time.time(), available=False, reason=reason,
                                     driver_version=self._driver, host=host)
        gpus = [self._sample_gpu(i) for i in range(int(count))]
        return TelemetrySnapshot(ts=time.time(), available=True, driver_version=self._driver, gpus=gpus, host=host)

    def _sample_gpu(self, index: int) -> GpuSample:
        nv = self._nvml
        try:
            h = nv.nvmlDeviceGetHandleByIndex(index)
        except Exception as exc:
            return GpuSample(index=index, error=f"cannot open device: {exc}")
        s = GpuSample(index=index)
        s.name = _text(self._call(index, "name", nv.nvmlDeviceGetName, h))
        s.uuid = _text(self._call(index, "uuid", nv.nvmlDeviceGetUUID, h))
        util = self._call(index, "util", nv.nvmlDeviceGetUtilizationRates, h)
        if util is not None:
            s.util_pct = float(util.gpu)
            s.mem_util_pct = float(util.memory)
        # v2 "used" excludes driver-reserved memory, as nvidia-smi's memory.used does; v1 counts it.
        v2 = getattr(nv, "nvmlMemory_v2", None)
        mem = self._call(index, "mem_v2", nv.nvmlDeviceGetMemoryInfo, h, v2) if v2 is not None else None
        if mem is None:
            mem = self._call(index, "mem", nv.nvmlDeviceGetMemoryInfo, h)
        if mem is not None:
            s.mem_used_bytes, s.mem_total_bytes = int(mem.used), int(mem.total)
        power = self._call(index, "power", nv.nvmlDeviceGetPowerUsage, h)
        s.power_w = None if power is None else power / 1000.0  # NVML reports milliwatts
        limit = self._call(index, "power_limit", nv.nvmlDeviceGetEnforcedPowerLimit, h)
        s.power_limit_w = None if limit is None else limit / 1000.0
        s.sm_clock_mhz = self._call(index, "sm_clock", nv.nvmlDeviceGetClockInfo, h,
                                    getattr(nv, "NVML_CLOCK_SM", _NVML_CLOCK_SM))
        s.mem_clock_mhz = self._call(index, "mem_clock", nv.nvmlDeviceGetClockInfo, h,
                                     getattr(nv, "NVML_CLOCK_MEM", _NVML_CLOCK_MEM))
        s.temperature_c = self._call(index, "temp", nv.nvmlDeviceGetTemperature, h,
                                     getattr(nv, "NVML_TEMPERATURE_GPU", _NVML_TEMPERATURE_GPU))
        # Newer bindings call them "clocks event reasons"; older ones "throttle reasons".
        reasons_fn = getattr(nv, "nvmlDeviceGetCurrentClocksEventReasons", None) or getattr(
            nv, "nvmlDeviceGetCurrentClocksThrottleReasons", None)
        mask = self._call(index, "throttle", reasons_fn, h) if reasons_fn else None
        s.throttle_reasons = decode_throttle_reasons(mask)
        s.processes = self._processes(index, h)
        return s

    def _processes(self, index: int, handle: Any) -> list[GpuProcess]:
        nv = self._nvml
        found: dict[int, int | None] = {}
        for key, fn_name in (("compute_procs", "nvmlDeviceGetComputeRunningProcesses"),
                             ("graphics_procs", "nvmlDeviceGetGraphicsRunningProcesses")):
            fn = getattr(nv, fn_name, None)
            procs = self._call(index, key, fn, handle) if fn else None
            for p in procs or []:
                used = getattr(p, "usedGpuMemory", None)
                # NVML signals "not available" with None or with the max unsigned value.
                if used is not None and (used < 0 or used >= 2**63):
                    used = None
                if p.pid not in found or found[p.pid] is None:
                    found[p.pid] = None if used is None else int(used)
        return [GpuProcess(pid=pid, used_mem_bytes=used, owner=self.owners.owner_of(pid), name=_process_name(pid))
                for pid, used in sorted(found.items())]

    def _call(self, index: int, key: str, fn: Callable[..., Any] | None, *args: Any) -> Any:
        """One NVML query; ``None`` on any failure; 'not supported' is remembered and not asked again."""
        if fn is None or (index, key) in self._unsupported:
            return None
        try:
            return fn(*args)
        except Exception as exc:
            if "not supported" in str(exc).lower():
                self._unsupported.add((index, key))
            return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def _no_gpu_reason(exc: BaseException) -> str:
    if isinstance(exc, ImportError):
        return "no GPU: nvidia-ml-py (pynvml) is not installed"
    text = str(exc) or type(exc).__name__
    return f"no GPU: NVIDIA driver/NVML unavailable ({text})"


def _host_sample() -> HostSample:
    try:
        vm = psutil.virtual_memory()
        return HostSample(cpu_pct=psutil.cpu_percent(interval=None), ram_used_bytes=int(vm.total - vm.available),
                          ram_total_bytes=int(vm.total))
    except Exception:
        return HostSample()


# ---------------------------------------------------------------------------
# background sampling, session-log downsampling, Trackio


class TelemetrySampler:
    """A daemon thread taking one snapshot per ``interval`` into a fixed-size ring.

    ``on_snapshot`` runs on the sampler thread; a callback that raises is counted
    in ``callback_errors`` and does not stop sampling.
    """

    def __init__(
        self,
        telemetry: GpuTelemetry,
        interval: float = DEFAULT_INTERVAL_S,
        history: int = 600,
        on_snapshot: Callable[[TelemetrySnapshot], None] | None = None,
    ) -> None:
        self.telemetry = telemetry
        self.interval = max(float(interval), MIN_INTERVAL_S)
        self._ring: collections.deque[TelemetrySnapshot] = collections.deque(maxlen=max(1, history))
        self._on_snapshot = on_snapshot
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ring_lock = threading.Lock()
        self.callback_errors = 0
        self.last_callback_error: str | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="gpu-telemetry", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._thread = None

    def latest(self) -> TelemetrySnapshot | None:
        with self._ring_lock:
            return self._ring[-1] if self._ring else None

    def history(self) -> list[TelemetrySnapshot]:
        with self._ring_lock:
            return list(self._ring)

    def _loop(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            snap = self.telemetry.snapshot(max_age=0.0)
            with self._ring_lock:
                self._ring.append(snap)
            if self._on_snapshot is not None:
                try:
                    self._on_snapshot(snap)
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

    def offer(self, snap: TelemetrySnapshot) -> dict[str, Any] | None:
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
                for i, v in sorted(self._util.items()) if v
            }
        self._util.clear()
        return data


def trackio_metrics(snap: TelemetrySnapshot) -> dict[str, float]:
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


def log_to_trackio(snap: TelemetrySnapshot, run: Any | None = None) -> dict[str, float]:
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
