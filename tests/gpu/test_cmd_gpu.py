"""``labconsole gpu``: table and JSON output, no-GPU line with exit 0."""

from __future__ import annotations

import argparse
import json

from gpu.fake_nvml import FakeNvml, NVMLError, NVMLNotSupported, h100
from labconsole.cli import cmd_gpu, main
from labconsole.gpu.telemetry import GpuTelemetry


def _args(**kw: object) -> argparse.Namespace:
    base = {"json": False, "watch": False, "interval": 1.0, "count": 0}
    base.update(kw)
    return argparse.Namespace(**base)


def test_table_shows_values_and_na(capsys) -> None:
    tel = GpuTelemetry(nvml=FakeNvml([h100(power_mw=NVMLNotSupported(), procs=[(1, 2**30)])]))
    assert cmd_gpu.run(_args(), telemetry=tel) == 0
    out = capsys.readouterr().out
    assert "NVIDIA H100 80GB HBM3" in out and "87%" in out and "20.0/80.0" in out
    assert "n/a/700" in out and "pid 1" in out


def test_json_watch_prints_one_object_per_refresh(capsys) -> None:
    tel = GpuTelemetry(nvml=FakeNvml([h100()]), min_interval=0)
    assert cmd_gpu.run(_args(json=True, watch=True, interval=0.25, count=2), telemetry=tel) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and json.loads(lines[0])["gpus"][0]["sm_clock_mhz"] == 1980


def test_no_gpu_prints_one_line_and_exits_zero(capsys) -> None:
    tel = GpuTelemetry(nvml=FakeNvml([], init_error=NVMLError("Driver Not Loaded")))
    assert cmd_gpu.run(_args(watch=True), telemetry=tel) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("no GPU:") and len(out.splitlines()) == 1


def test_registered_in_cli(capsys) -> None:
    # Whatever this machine has, the command exits 0 and prints something.
    assert main(["gpu", "--json"]) == 0
    assert "available" in json.loads(capsys.readouterr().out.strip().splitlines()[0])
