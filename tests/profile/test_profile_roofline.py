"""Roofline verdicts on known numbers, and the per-device peaks cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labconsole.profile import roofline as R

# H100-like: 3000 GB/s copy, 750 TFLOP/s bf16 -> ridge 250 FLOP/B.
H100 = R.Peaks("GPU X", "cuda", "bfloat16", 3000.0, 750.0, "2026-11-25T00:00:00+00:00", "test")


def test_ridge_point() -> None:
    assert H100.ridge == pytest.approx(250.0)


def test_decode_gemv_is_memory_bound() -> None:
    # [1,4096]x[4096,4096] bf16: 33.6 MB, 33.5 MFLOP -> intensity ~1; 13 µs at ~2.6 TB/s.
    nbytes = (4096 + 4096 * 4096 + 4096) * 2
    v = R.classify(time_us=13.0, launches=1, nbytes=nbytes, flops=2 * 4096 * 4096, host_us=8.0, peaks=H100)
    assert v.verdict == R.MEMORY
    assert v.ideal_us == pytest.approx(nbytes / 3000e3)
    assert 0.8 < v.efficiency < 0.9


def test_prefill_gemm_is_compute_bound() -> None:
    m, n, k = 2048, 4096, 4096
    flops = 2 * m * n * k
    nbytes = (m * k + k * n + m * n) * 2
    v = R.classify(time_us=110.0, launches=1, nbytes=nbytes, flops=flops, host_us=10.0, peaks=H100)
    assert v.verdict == R.COMPUTE
    assert v.ideal_us == pytest.approx(flops / 750e6)


def test_tiny_kernels_far_from_the_roof_are_overhead_bound() -> None:
    # Eager RMSNorm on one token: 8 kernels of ~2 µs moving 16 KB each.
    v = R.classify(time_us=16.0, launches=8, nbytes=8 * 16384, flops=8 * 4096, host_us=60.0, peaks=H100)
    assert v.verdict == R.OVERHEAD
    assert "per launch" in v.reason


def test_host_dispatch_longer_than_device_time_is_overhead() -> None:
    # One 20 µs kernel at 5% efficiency whose host side takes 50 µs.
    v = R.classify(time_us=20.0, launches=1, nbytes=3_600_000 * 0.1, flops=0, host_us=50.0, peaks=H100)
    assert v.verdict == R.OVERHEAD and "host dispatch" in v.reason


def test_short_but_efficient_kernel_stays_memory_bound() -> None:
    # k_proj at decode: 8 MB in 3.5 µs is ~2.4 TB/s: short, yet limited by bandwidth.
    nbytes = 4096 * 1024 * 2
    v = R.classify(time_us=3.5, launches=1, nbytes=nbytes, flops=2 * 4096 * 1024, host_us=8.0, peaks=H100)
    assert v.verdict == R.MEMORY


def test_no_estimate_and_long_is_unknown() -> None:
    v = R.classify(time_us=50.0, launches=1, nbytes=0, flops=0, host_us=5.0, peaks=H100)
    assert v.verdict == R.UNKNOWN
    assert R.classify(time_us=0, launches=0, nbytes=0, flops=0, host_us=0, peaks=H100).verdict == R.UNKNOWN


def test_peaks_are_measured_once_and_cached_per_device(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def fake_measure(kind: str, dtype: str) -> R.Peaks:
        calls.append((kind, dtype))
        return R.Peaks(R.device_name(kind), kind, dtype, 40.0, 0.2, "now", "fake")

    monkeypatch.setattr(R, "measure_peaks", fake_measure)
    first = R.get_peaks("cpu", "float32", cache=tmp_path)
    second = R.get_peaks("cpu", "float32", cache=tmp_path)
    assert first == second and calls == [("cpu", "float32")]
    stored = json.loads((tmp_path / "peaks.json").read_text())
    assert f"{R.device_name('cpu')}|float32" in stored
    R.get_peaks("cpu", "float32", cache=tmp_path, refresh=True)
    assert len(calls) == 2
    (tmp_path / "peaks.json").write_text("{not json")  # a corrupt cache is re-measured, not fatal
    R.get_peaks("cpu", "float32", cache=tmp_path)
    assert len(calls) == 3


def test_cpu_peaks_measure_something_plausible() -> None:
    p = R.measure_peaks("cpu", "float32")
    assert p.copy_gbps > 0.1 and p.matmul_tflops > 1e-4 and p.kind == "cpu"
