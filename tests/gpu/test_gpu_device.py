"""On a real GPU: telemetry reads the device; the harness orders RMSNorm variants and catches the cheats."""

from __future__ import annotations

from pathlib import Path

import pytest

from labconsole.gpu.bench import BenchConfig, run_bench
from labconsole.gpu.leases import pool_for_machine
from labconsole.gpu.telemetry import GpuTelemetry

FIXTURES = Path(__file__).parent / "fixtures"
pytestmark = pytest.mark.gpu


def test_telemetry_reads_the_gpu() -> None:
    snap = GpuTelemetry().snapshot()
    assert snap.available, snap.reason
    g = snap.gpus[0]
    assert g.name and g.mem_total_bytes and g.mem_total_bytes > 2**30
    assert g.sm_clock_mhz is not None and g.temperature_c is not None
    assert pool_for_machine(1).gpus


def test_rmsnorm_ordering_at_large_rows() -> None:
    cfg = BenchConfig(budget_s=0.5, shapes=[{"rows": 65536}], compile_check=False)
    data = run_bench(FIXTURES / "rmsnorm_bench", cfg, log=lambda s: None).to_dict()
    [g] = data["groups"]
    med = {c["name"]: c["device"]["median_us"] for c in g["cases"]}
    assert med["eager"] > med["f_rms_norm"] > med["compiled"]
    assert med["copy"] <= med["compiled"] * 1.1
    assert all(c["check"]["ok"] for c in g["cases"] if c["role"] != "copy")


def test_planted_cheats_are_caught_on_gpu() -> None:
    cfg = BenchConfig(budget_s=0.3, shapes=[{"rows": 65536}], compile_check=False)
    data = run_bench(FIXTURES / "planted_cheats", cfg, log=lambda s: None).to_dict()
    kinds = {(f["case"], f["kind"]) for f in data["flags"]}
    assert ("noop", "incorrect") in kinds and ("noop", "impossible_bandwidth") in kinds
    assert ("cached", "incorrect") in kinds
