"""The kernel lab (kernels/rmsnorm/lab.toml, `labconsole demo --kernel`): what a CPU machine can check,
and one GPU run of the objective."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from labconsole.core.config import load_config
from labconsole.core.params import read_params, write_params
from labconsole.demo.kernel_lab import KNOBS_FILE, START, create_kernel_lab
from labconsole.lab.preflight_checks import extreme_values, run_checks

from labconsole.runs.metric import MetricError, extract_metric

KERNEL_DIR = Path(__file__).resolve().parents[2] / "kernels" / "rmsnorm"
REPO = KERNEL_DIR.parents[1]
cpu_only = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without a GPU")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return create_kernel_lab(tmp_path_factory.mktemp("kernel-lab") / "lab")


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def test_lab_toml_parses_as_a_gpu_lab_with_bench_evidence() -> None:
    config = load_config(KERNEL_DIR / "lab.toml")
    assert config.objective.direction == "maximize"
    assert config.objective.artifacts == ("bench.json",)
    assert config.resources.gpus_per_run == 1
    assert config.search.file == KNOBS_FILE
    assert {p.name for p in config.search.params} == set(START)
    # The measurement is not the agents' to change; the kernel sources are.
    for glob in ("lab/**", "benchmarks/**", "lab.toml"):
        assert glob in config.objective.protected
    assert config.objective.editable == ("rmsnorm/**", "torch-ext/**")


def test_metric_line_is_what_the_regex_reads() -> None:
    config = load_config(KERNEL_DIR / "lab.toml")
    out = "build: cached abc\ncorrectness: ok\nkernel_us: 25.1\npct_of_copy: 97.250\n"
    assert extract_metric(config.objective.metric, KERNEL_DIR, out) == pytest.approx(97.25)
    with pytest.raises(MetricError):
        extract_metric(config.objective.metric, KERNEL_DIR, "incorrect: rms_norm at 1 rows\n")


@pytest.mark.parametrize("name", sorted(START))
def test_every_search_value_round_trips_through_the_sweep_edit(name: str) -> None:
    """The sweep worker's edit (core.params.write_params) at every value of the space, extremes included,
    reads back exactly and leaves every other line of the header as it was."""
    config = load_config(KERNEL_DIR / "lab.toml")
    spec = next(p for p in config.search.params if p.name == name)
    text = (KERNEL_DIR / KNOBS_FILE).read_text(encoding="utf-8")
    assert name in read_params(text, [name]), f"no '{name} = …' line in {KNOBS_FILE}"
    values = extreme_values(spec)
    assert values[0] == min(spec.choices) and values[-1] == max(spec.choices)
    for value in values:
        edited = write_params(text, {name: value})
        assert read_params(edited, [name]) == {name: value}
        changed = [(a, b) for a, b in zip(text.splitlines(), edited.splitlines(), strict=True) if a != b]
        assert len(changed) <= 1 and all(b == f"{name} = {value}" for _, b in changed)


def test_knob_lines_are_what_the_kernel_compiles() -> None:
    """The header is in the build's sources (kernel-builder and the lab's build) and the .cu reads both knobs."""
    assert "rmsnorm/lab_knobs.h" in (KERNEL_DIR / "build.toml").read_text(encoding="utf-8")
    cu = (KERNEL_DIR / "rmsnorm" / "rmsnorm_kernels.cu").read_text(encoding="utf-8")
    assert '#include "lab_knobs.h"' in cu
    for name in START:
        assert f"knobs::{name}" in cu
    header = (KERNEL_DIR / KNOBS_FILE).read_text(encoding="utf-8")
    # The shipped header holds the tuned shape (2 packets a thread); the lab starts elsewhere.
    assert read_params(header, list(START)) == {"PACKETS_PER_THREAD": 2, "MIN_RESIDENT_THREADS": 0}
    assert START != read_params(header, list(START))


def test_the_lab_copy_starts_detuned_without_compiled_variants(lab: Path) -> None:
    assert read_params((lab / KNOBS_FILE).read_text(encoding="utf-8"), list(START)) == START
    assert not [p for p in (lab / "build").iterdir() if "-cxx" in p.name]
    assert (lab / "build" / "torch-cuda" / "__init__.py").is_file()
    status = subprocess.run(["git", "status", "--porcelain"], cwd=lab, capture_output=True, text=True)
    assert status.stdout == ""
    # A compiled variant assembled later (lab/build.py assemble) stays out of git, so publish sees a clean tree.
    fake = lab / "build" / "torch299-cxx11-cu999-x86_64-linux"
    fake.mkdir()
    (fake / "metadata.json").write_text("{}")
    status = subprocess.run(["git", "status", "--porcelain"], cwd=lab, capture_output=True, text=True)
    assert status.stdout == ""
    fake.joinpath("metadata.json").unlink()
    fake.rmdir()


@cpu_only
def test_check_passes_everything_but_the_gpu_and_refuses_in_one_line(lab: Path) -> None:
    lines = list(run_checks(lab))
    failed = [line for line in lines if not line.ok]
    assert [line.item for line in failed] == ["GPU", "baseline run"], [line.render() for line in failed]
    gpu = failed[0].render()
    assert "\n" not in gpu and "asks for 1 GPU per run" in gpu and "has none" in gpu
    ok = {line.item for line in lines if line.ok}
    assert {"lab.toml", "git clean", "protected files", "[search] PACKETS_PER_THREAD"} <= ok


@cpu_only
def test_demo_kernel_refuses_without_a_gpu_before_copying(tmp_path: Path) -> None:
    dest = tmp_path / "lab"
    proc = subprocess.run(
        [sys.executable, "-m", "labconsole", "demo", "--kernel", "--headless", "--dir", str(dest)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )
    assert proc.returncode != 0
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and "GPU" in lines[0], lines
    assert not dest.exists()


@cpu_only
def test_objective_without_a_gpu_prints_one_line_and_fails(lab: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "lab/objective.py"], cwd=lab, capture_output=True, text=True, env=_env(), timeout=120
    )
    assert proc.returncode != 0
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and "needs a CUDA GPU" in lines[0], lines
    assert not (lab / "bench.json").exists()


@pytest.mark.gpu
@pytest.mark.timeout(900)
def test_objective_builds_gates_and_benchmarks_on_the_gpu(lab: Path, tmp_path: Path) -> None:
    env = {**_env(), "RMSNORM_LAB_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run(
        [sys.executable, "lab/objective.py"], cwd=lab, capture_output=True, text=True, env=env, timeout=840
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "correctness: ok" in proc.stdout
    # The knob shape is what ran at the flagship row count (the lab copy starts at 8 packets a thread).
    assert re.search(r"launch at rows4096: block_per_row nv=8 threads=64", proc.stdout), proc.stdout[-2000:]
    value = extract_metric(load_config(lab / "lab.toml").objective.metric, lab, proc.stdout)
    assert 30.0 < value < 110.0
    report = json.loads((lab / "bench.json").read_text())
    assert report["schema"] == "labconsole.bench/1" and report["ok"] and report["provenance"]["cuda"]
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=lab, capture_output=True, text=True).stdout.strip()
    assert report["provenance"]["git_commit"] == head
    (lab / "bench.json").unlink()
