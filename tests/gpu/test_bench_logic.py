"""Harness logic on CPU: statistics, tolerances, poisoning, flags, bytes, spec reading, planted cheats."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from labconsole.errors import LabError
from labconsole.gpu import bench_spec as spec
from labconsole.gpu.bench import BenchConfig, format_report, run_bench, trackio_rows
from labconsole.gpu.bench_stats import (
    Tolerance,
    bandwidth_flags,
    check_output,
    enough_reps,
    gbps,
    median_rel_ci,
    noise_flags,
    percentile,
    poison_,
    rmsnorm_bytes,
    speedup_flags,
    summarize,
    tolerance_for,
)

FIXTURES = Path(__file__).parent / "fixtures"


# -- statistics ---------------------------------------------------------------


def test_percentiles_and_summary() -> None:
    s = summarize([5.0, 1.0, 3.0, 2.0, 4.0])
    assert (s.n, s.median_us, s.min_us, s.mean_us) == (5, 3.0, 1.0, 3.0)
    assert (s.q1_us, s.q3_us, s.iqr_us) == (2.0, 4.0, 2.0)
    assert s.p10_us == pytest.approx(1.4) and s.p90_us == pytest.approx(4.6)
    assert percentile([7.0], 90) == 7.0
    with pytest.raises(ValueError):
        percentile([], 50)
    assert s.to_dict()["iqr_us"] == 2.0


def test_enough_reps_needs_min_count_and_tight_median() -> None:
    quiet = [100.0 + (i % 3) * 0.1 for i in range(30)]
    noisy = [100.0 * (1 + (i % 7) * 0.3) for i in range(30)]
    assert enough_reps(quiet, min_reps=20)
    assert not enough_reps(quiet[:10], min_reps=20)
    assert not enough_reps(noisy, min_reps=20)
    assert median_rel_ci([1.0, 2.0]) == math.inf
    # More samples shrink the interval as 1/sqrt(n).
    assert median_rel_ci(noisy * 4) == pytest.approx(median_rel_ci(noisy) / 2, rel=0.1)


def test_bytes_math() -> None:
    assert rmsnorm_bytes(4096, 4096) == (2 * 4096 * 4096 + 4096) * 2
    assert gbps(2_000_000_000, 1_000_000) == pytest.approx(2000.0 / 1000)  # 2 GB in 1 s
    assert gbps(10, 0) == math.inf


# -- tolerances, checks, poisoning ----------------------------------------------


def test_tolerance_table_is_dtype_aware() -> None:
    bf16, fp16, fp32 = (tolerance_for(d) for d in (torch.bfloat16, torch.float16, torch.float32))
    assert bf16.rtol > fp16.rtol > fp32.rtol
    assert bf16.rel_norm > fp16.rel_norm > fp32.rel_norm
    assert tolerance_for(torch.int32) == Tolerance(0.0, 0.0, 0.0)
    assert tolerance_for("bfloat16", {"atol": 0.5}).atol == 0.5


def test_check_output_passes_rounding_and_fails_real_errors() -> None:
    ref = torch.randn(64, 128)
    assert check_output(ref.to(torch.bfloat16), ref).ok  # one bf16 rounding passes
    bad = ref.clone()
    bad[3, 7] += 1.0
    r = check_output(bad.to(torch.bfloat16), ref)
    assert not r.ok and r.mismatched == 1 and "outside" in r.detail
    assert not check_output(ref.half(), ref.reshape(-1)[:100]).ok  # wrong size
    assert not check_output(None, ref).ok


def test_poisoned_output_that_is_never_written_fails() -> None:
    ref = torch.randn(16, 32)
    out = torch.empty(16, 32, dtype=torch.bfloat16)
    assert poison_(out)
    out[:8] = ref[:8].to(torch.bfloat16)  # a kernel that does half the rows
    r = check_output(out, ref)
    assert not r.ok and r.nonfinite == 16 * 32 // 2 and "NaN" in r.detail
    ints = torch.zeros(4, dtype=torch.int32)
    assert poison_(ints) and int(ints[0]) == 2**31 - 1
    assert not poison_(torch.zeros(0)) and not poison_("not a tensor")


# -- flags ----------------------------------------------------------------------


def test_flags() -> None:
    assert bandwidth_flags("k", 2000.0, 3000.0) == []
    [f] = bandwidth_flags("k", 3400.0, 3000.0)
    assert f.kind == "impossible_bandwidth" and f.severity == "fail" and "1.13x" in f.detail
    assert bandwidth_flags("k", None, 3000.0) == []
    [s] = speedup_flags("k", {"eager": 12.0, "f_rms_norm": 1.4})
    assert s.severity == "review" and "12.0x over eager" in s.detail and "f_rms_norm" not in s.detail
    assert speedup_flags("k", {"eager": 9.9}) == []
    assert noise_flags("k", summarize([1.0, 1.0, 2.0, 2.0])) and not noise_flags("k", summarize([1.0] * 5))


# -- reading benchmark files ----------------------------------------------------------


def test_parse_shapes_product() -> None:
    assert spec.parse_shapes(None) is None
    assert spec.parse_shapes(["rows=1,16", "hidden=4096"]) == [
        {"rows": 1, "hidden": 4096},
        {"rows": 16, "hidden": 4096},
    ]
    assert spec.parse_shapes(["rows=1;eps=1e-6"]) == [{"rows": 1, "eps": 1e-6}]
    with pytest.raises(LabError, match="NAME=V1"):
        spec.parse_shapes(["rows"])


def test_plan_groups_for_both_layouts(tmp_path: Path) -> None:
    [cls] = spec.load_classes(FIXTURES / "rmsnorm_bench/benchmarks/benchmark_rmsnorm.py")
    groups = spec.plan_groups(Path("benchmark_rmsnorm.py"), cls)
    assert [g.label for g in groups] == [f"rows={r}" for r in (1, 16, 256, 4096, 16384, 65536)]
    assert groups[0].variants == ["eager", "f_rms_norm", "compiled"] and groups[0].candidate == "compiled"

    # kernels' own style: one setup_<w>/benchmark_<w>/verify_<w> per workload.
    script = _write_kernels_style(tmp_path)
    [kcls] = spec.load_classes(script)
    kgroups = spec.plan_groups(script, kcls)
    assert [(g.label, g.variants, g.setup_name) for g in kgroups] == [
        ("small", ["small"], "setup_small"),
        ("large", ["large"], "setup_large"),
    ]


def test_missing_benchmarks_dir_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LabError, match="no benchmarks/benchmark"):
        spec.discover_scripts(tmp_path)


def test_benchmark_base_is_kernels_class() -> None:
    from kernels.benchmark import Benchmark

    assert spec.benchmark_base() is Benchmark


# One workload of the kernels-style script below: setup/benchmark/verify methods named after it.
KERNELS_STYLE_WORKLOAD = """
    def setup_{name}(self):
        self.x = torch.randn({shape}, device=self.device)
        self.out = torch.empty_like(self.x)

    def benchmark_{name}(self):
        torch.mul(self.x, 2.0, out=self.out)

    def verify_{name}(self):
        return self.x * 2.0
"""


def _write_kernels_style(root: Path) -> Path:
    """A kernels-style benchmark script with two workloads, small then large, that differ only in shape."""
    bench = root / "benchmarks"
    bench.mkdir(parents=True, exist_ok=True)
    script = bench / "benchmark_scale.py"
    head = "import torch\nfrom kernels.benchmark import Benchmark\n\nclass ScaleBenchmark(Benchmark):\n    seed = 1\n"
    shapes = {"small": "8, 32", "large": "64, 256"}
    script.write_text(head + "".join(KERNELS_STYLE_WORKLOAD.format(name=n, shape=s) for n, s in shapes.items()))
    return script


# -- whole runs on CPU (smoke mode) ---------------------------------------------------

SMOKE = dict(
    cpu_smoke=True,
    compile_check=False,
    min_reps=5,
    max_reps=15,
    budget_s=0.2,
    host_reps=4,
    shapes=[{"rows": 8, "hidden": 64}],
)


def test_smoke_run_of_rmsnorm_fixture_is_clean_and_serialisable() -> None:
    cfg = BenchConfig(**SMOKE, only=["eager", "f_rms_norm"], impossible_margin=1e9)
    report = run_bench(FIXTURES / "rmsnorm_bench", cfg, log=lambda s: None)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["schema"] == "labconsole.bench/1" and data["ok"], data["flags"]
    prov = data["provenance"]
    for key in ("date", "torch", "cuda", "git_commit", "device", "driver", "python"):
        assert key in prov
    [group] = data["groups"]
    assert group["bytes"] == rmsnorm_bytes(8, 64)  # bf16 x read, weight read, out written
    names = {c["name"]: c for c in group["cases"]}
    assert set(names) == {"eager", "f_rms_norm", "copy"}
    assert names["eager"]["role"] == "candidate" and names["copy"]["pct_of_copy"] == 100.0
    assert names["eager"]["check"]["ok"] and names["eager"]["check"]["dtype"] == "bfloat16"
    assert names["eager"]["device"]["n"] >= 5 and names["eager"]["host"]["n"] >= 4
    assert "f_rms_norm" in names["eager"]["speedups"]
    assert "eager" in format_report(data) and "result: ok" in format_report(data)
    rows = trackio_rows(data)
    assert rows[0]["shape/rows"] == 8.0 and "eager/device_us" in rows[0]


def test_smoke_run_catches_planted_noop_and_cache() -> None:
    report = run_bench(FIXTURES / "planted_cheats", BenchConfig(**SMOKE), log=lambda s: None)
    data = report.to_dict()
    assert not data["ok"]
    fails = {(f["bench"].split(":")[1], f["case"], f["kind"]) for f in data["flags"] if f["severity"] == "fail"}
    assert ("PlantedNoop", "noop", "incorrect") in fails  # NaN poison left in place
    assert ("PlantedCache", "cached", "incorrect") in fails  # stale answer on redrawn inputs
    assert not any(case == "f_rms_norm" for _, case, _ in fails)  # the honest baseline passes
    noop_check = next(c for g in data["groups"] if "Noop" in g["bench"] for c in g["cases"] if c["name"] == "noop")
    assert noop_check["check"]["nonfinite"] > 0


def test_smoke_run_of_kernels_style_layout(tmp_path: Path) -> None:
    _write_kernels_style(tmp_path)
    cfg = BenchConfig(**{**SMOKE, "shapes": None})
    data = run_bench(tmp_path, cfg, log=lambda s: None).to_dict()
    assert [g["label"] for g in data["groups"]] == ["small", "large"]
    assert all(c["check"]["ok"] for g in data["groups"] for c in g["cases"] if c["role"] == "candidate")
    # Its verify_<w> is timed as an eager baseline, and not checked against itself.
    small = {c["name"]: c for c in data["groups"][0]["cases"]}
    assert set(small) == {"small", "ref_eager", "copy"}
    assert small["ref_eager"]["role"] == "baseline" and small["ref_eager"]["check"] is None
    assert "ref_eager" in small["small"]["speedups"]


def test_impossible_needs_separated_distributions() -> None:
    copy = summarize([6.0, 6.2, 6.4, 6.6, 7.0])
    overlapping = summarize([5.4, 5.6, 5.7, 6.3, 6.5])  # median faster by >10%, but within the copy's spread
    separated = summarize([1.1, 1.2, 1.2, 1.3, 1.4])
    assert bandwidth_flags("k", 1.13, 1.0, case_stats=overlapping, copy_stats=copy) == []
    assert bandwidth_flags("k", 5.0, 1.0, case_stats=separated, copy_stats=copy)[0].kind == "impossible_bandwidth"


def test_impossible_is_judged_against_the_device_copy_ceiling() -> None:
    [f] = bandwidth_flags("k", 3400.0, 3300.0, peak_copy_gbps=3000.0)
    assert f.kind == "impossible_bandwidth" and f.severity == "fail" and "device's 3000 GB/s" in f.detail
    # Small, latency-bound sizes: beating the same-size copy is for review, not a failure.
    [g] = bandwidth_flags("k", 750.0, 650.0, peak_copy_gbps=3000.0)
    assert g.kind == "faster_than_copy" and g.severity == "review"
    assert bandwidth_flags("k", 2900.0, 2950.0, peak_copy_gbps=3000.0) == []
