"""A scripted stand-in for ``pynvml``: the same function names, values from a dict.

Each device is a dict of query → value; a value that is an Exception instance is
raised instead (so tests script "n/a" cases), and a ``Seq`` is consumed one item
per call (so tests script values that change between snapshots).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

NVML_CLOCK_SM = 1
NVML_CLOCK_MEM = 2
NVML_TEMPERATURE_GPU = 0


class NVMLError(Exception):
    pass


class NVMLNotSupported(NVMLError):
    def __str__(self) -> str:
        return "Not Supported"


class Seq(list):
    """Values returned one per call; the last one repeats."""


class FakeNvml:
    NVML_CLOCK_SM = NVML_CLOCK_SM
    NVML_CLOCK_MEM = NVML_CLOCK_MEM
    NVML_TEMPERATURE_GPU = NVML_TEMPERATURE_GPU

    def __init__(
        self, devices: list[dict[str, Any]], driver: str = "580.159.04", init_error: Exception | None = None
    ) -> None:
        self.devices = devices
        self.driver = driver
        self.init_error = init_error
        self.calls: dict[str, int] = {}
        self.init_count = 0

    def _get(self, index: int, key: str) -> Any:
        self.calls[key] = self.calls.get(key, 0) + 1
        value = self.devices[index].get(key)
        if isinstance(value, Seq):
            value = value.pop(0) if len(value) > 1 else value[0]
        if isinstance(value, Exception):
            raise value
        if value is None:
            raise NVMLError("Unknown Error")
        return value

    # -- the pynvml surface used by labconsole.gpu.telemetry --
    def nvmlInit(self) -> None:
        self.init_count += 1
        if self.init_error is not None:
            raise self.init_error

    def nvmlShutdown(self) -> None:
        pass

    def nvmlSystemGetDriverVersion(self) -> str:
        return self.driver

    def nvmlDeviceGetCount(self) -> int:
        return len(self.devices)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        if self.devices[index].get("broken"):
            raise NVMLError("GPU is lost")
        return index

    def nvmlDeviceGetName(self, h: int) -> str:
        return self._get(h, "name")

    def nvmlDeviceGetUUID(self, h: int) -> str:
        return self._get(h, "uuid")

    def nvmlDeviceGetUtilizationRates(self, h: int) -> Any:
        gpu, mem = self._get(h, "util")
        return SimpleNamespace(gpu=gpu, memory=mem)

    def nvmlDeviceGetMemoryInfo(self, h: int) -> Any:
        used, total = self._get(h, "mem")
        return SimpleNamespace(used=used, total=total, free=total - used)

    def nvmlDeviceGetPowerUsage(self, h: int) -> int:
        return self._get(h, "power_mw")

    def nvmlDeviceGetEnforcedPowerLimit(self, h: int) -> int:
        return self._get(h, "power_limit_mw")

    def nvmlDeviceGetClockInfo(self, h: int, kind: int) -> int:
        return self._get(h, "sm_clock" if kind == NVML_CLOCK_SM else "mem_clock")

    def nvmlDeviceGetTemperature(self, h: int, sensor: int) -> int:
        return self._get(h, "temp")

    def nvmlDeviceGetCurrentClocksEventReasons(self, h: int) -> int:
        return self._get(h, "throttle")

    def nvmlDeviceGetComputeRunningProcesses(self, h: int) -> list[Any]:
        return [SimpleNamespace(pid=pid, usedGpuMemory=mem) for pid, mem in self._get(h, "procs")]

    def nvmlDeviceGetGraphicsRunningProcesses(self, h: int) -> list[Any]:
        return [SimpleNamespace(pid=pid, usedGpuMemory=mem) for pid, mem in self.devices[h].get("graphics_procs", [])]


def h100(**overrides: Any) -> dict[str, Any]:
    """One healthy H100's scripted values."""
    dev = {
        "name": "NVIDIA H100 80GB HBM3",
        "uuid": "GPU-00000000-0000-0000-0000-000000000000",
        "util": (87, 40),
        "mem": (20 * 2**30, 80 * 2**30),
        "power_mw": 512_345,
        "power_limit_mw": 700_000,
        "sm_clock": 1980,
        "mem_clock": 2619,
        "temp": 61,
        "throttle": 0x0,
        "procs": [],
    }
    dev.update(overrides)
    return dev
