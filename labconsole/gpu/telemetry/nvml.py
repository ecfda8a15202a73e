"""Reading NVML (``nvidia-ml-py``) + ``psutil`` into :class:`GpuSnapshot`\\ s.

Habits borrowed from nvitop's approach (no code): NVML is initialised lazily on
the first snapshot; every query that fails yields ``None`` ("n/a") instead of
raising; a query that reports *not supported* is not asked again; snapshots are
cached for a minimum refresh interval so many readers cost one NVML round.

The NVML layer is injected: anything with pynvml's function names
(``nvmlInit``, ``nvmlDeviceGetHandleByIndex``, …) works, so CPU tests drive the
real adapter code with a scripted fake (``tests/gpu/fake_nvml.py``).

No driver, no library or no device gives one clear state:
``GpuSnapshot(available=False, reason="…")`` — never an exception.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import psutil  # type: ignore[import-untyped]

from labconsole.gpu.snapshot import GpuProcess, GpuSample, GpuSnapshot, HostSample
from labconsole.gpu.telemetry.owners import OwnerRegistry

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


def _process_name(pid: int) -> str | None:
    try:
        return psutil.Process(pid).name()
    except (psutil.Error, OSError):
        return None


class GpuTelemetry:
    """Takes snapshots; thread-safe; caches the last one for ``min_interval`` seconds."""

    def __init__(
        self,
        nvml: Any | None = None,
        owners: OwnerRegistry | None = None,
        min_interval: float = MIN_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._nvml: Any = nvml  # None: import pynvml on first use
        self.owners = owners or OwnerRegistry()
        self.min_interval = max(min_interval, 0.0)
        self._clock = clock
        self._lock = threading.Lock()
        self._initialised = False
        self._init_error: str | None = None
        self._unsupported: set[tuple[int, str]] = set()
        self._cached: tuple[float, GpuSnapshot] | None = None
        self._driver: str | None = None

    # -- lifecycle ---------------------------------------------------------

    def _ensure_init(self) -> bool:
        if self._initialised:
            return True
        if self._init_error is not None:
            return False  # drivers do not appear mid-session: do not retry every tick
        try:
            if self._nvml is None:
                import pynvml  # type: ignore[import-untyped]  # nvidia-ml-py

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

    def snapshot(self, max_age: float | None = None) -> GpuSnapshot:
        """The latest snapshot, fresh unless one younger than ``max_age`` (default: min_interval) exists."""
        age_limit = self.min_interval if max_age is None else max(max_age, self.min_interval)
        with self._lock:
            now = self._clock()
            if self._cached is not None and now - self._cached[0] < age_limit:
                return self._cached[1]
            snap = self._take()
            self._cached = (now, snap)
            return snap

    def _take(self) -> GpuSnapshot:
        host = _host_sample()
        if not self._ensure_init():
            return GpuSnapshot(ts=time.time(), available=False, reason=self._init_error, host=host)
        count = self._call(-1, "count", self._nvml.nvmlDeviceGetCount)
        if not count:
            reason = "no GPU: the NVIDIA driver is loaded but reports no devices"
            if count is None:
                reason = "no GPU: NVML could not count devices"
            return GpuSnapshot(ts=time.time(), available=False, reason=reason, driver_version=self._driver, host=host)
        gpus = [self._sample_gpu(i) for i in range(int(count))]
        return GpuSnapshot(ts=time.time(), available=True, driver_version=self._driver, gpus=gpus, host=host)

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
        s.sm_clock_mhz = self._call(
            index, "sm_clock", nv.nvmlDeviceGetClockInfo, h, getattr(nv, "NVML_CLOCK_SM", _NVML_CLOCK_SM)
        )
        s.mem_clock_mhz = self._call(
            index, "mem_clock", nv.nvmlDeviceGetClockInfo, h, getattr(nv, "NVML_CLOCK_MEM", _NVML_CLOCK_MEM)
        )
        s.temperature_c = self._call(
            index, "temp", nv.nvmlDeviceGetTemperature, h, getattr(nv, "NVML_TEMPERATURE_GPU", _NVML_TEMPERATURE_GPU)
        )
        # Newer bindings call them "clocks event reasons"; older ones "throttle reasons".
        reasons_fn = getattr(nv, "nvmlDeviceGetCurrentClocksEventReasons", None) or getattr(
            nv, "nvmlDeviceGetCurrentClocksThrottleReasons", None
        )
        mask = self._call(index, "throttle", reasons_fn, h) if reasons_fn else None
        s.throttle_reasons = decode_throttle_reasons(mask)
        s.processes = self._processes(index, h)
        return s

    def _processes(self, index: int, handle: Any) -> list[GpuProcess]:
        nv = self._nvml
        found: dict[int, int | None] = {}
        for key, fn_name in (
            ("compute_procs", "nvmlDeviceGetComputeRunningProcesses"),
            ("graphics_procs", "nvmlDeviceGetGraphicsRunningProcesses"),
        ):
            fn = getattr(nv, fn_name, None)
            procs = self._call(index, key, fn, handle) if fn else None
            for p in procs or []:
                used = getattr(p, "usedGpuMemory", None)
                # NVML signals "not available" with None or with the max unsigned value.
                if used is not None and (used < 0 or used >= 2**63):
                    used = None
                if p.pid not in found or found[p.pid] is None:
                    found[p.pid] = None if used is None else int(used)
        return [
            GpuProcess(pid=pid, used_mem_bytes=used, owner=self.owners.owner_of(pid), name=_process_name(pid))
            for pid, used in sorted(found.items())
        ]

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
        return HostSample(
            cpu_pct=psutil.cpu_percent(interval=None),
            ram_used_bytes=int(vm.total - vm.available),
            ram_total_bytes=int(vm.total),
        )
    except Exception:
        return HostSample()
