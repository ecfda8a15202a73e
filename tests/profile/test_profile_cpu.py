"""The CPU profile end to end on the tiny Qwen3 config, target resolution and bad targets."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from labconsole.cli import main
from labconsole.errors import LabError
from labconsole.profile import report, roofline, targets

FIELDS = {
    "name",
    "category",
    "verdict",
    "time_us",
    "share",
    "calls",
    "mean_us",
    "bytes",
    "flops",
    "gbps",
    "tflops",
    "intensity",
    "scope",
    "launches",
}


@pytest.fixture(autouse=True)
def _peaks_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Known CPU peaks in a private cache: no measuring in every test, and nothing under ~/.cache."""
    cache = tmp_path_factory.mktemp("peaks")
    key = f"{roofline.device_name('cpu')}|float32"
    peaks = roofline.Peaks(
        roofline.device_name("cpu"), "cpu", "float32", 20.0, 0.1, "2026-11-25T00:00:00+00:00", "test"
    )
    (cache / "peaks.json").write_text(json.dumps({key: peaks.to_dict()}))
    monkeypatch.setenv("LABCONSOLE_CACHE_DIR", str(cache))
    return cache


@pytest.fixture(scope="module")
def decode_profile(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("prof")
    import os

    cache = out / "cache"
    cache.mkdir()
    key = f"{roofline.device_name('cpu')}|float32"
    peaks = roofline.Peaks(roofline.device_name("cpu"), "cpu", "float32", 20.0, 0.1, "x", "test")
    (cache / "peaks.json").write_text(json.dumps({key: peaks.to_dict()}))
    old = os.environ.get("LABCONSOLE_CACHE_DIR")
    os.environ["LABCONSOLE_CACHE_DIR"] = str(cache)
    try:
        rc = main(
            [
                "profile",
                "qwen3-8b-decode",
                "--tiny",
                "--steps",
                "3",
                "--warmup",
                "1",
                "--json",
                str(out / "p.json"),
                "--trace",
                str(out / "trace.json"),
            ]
        )
    finally:
        if old is None:
            os.environ.pop("LABCONSOLE_CACHE_DIR", None)
        else:
            os.environ["LABCONSOLE_CACHE_DIR"] = old
    assert rc == 0
    return json.loads((out / "p.json").read_text()), out


def test_cpu_decode_profile_end_to_end(decode_profile: tuple[dict, Path], capsys: pytest.CaptureFixture) -> None:
    profile, out = decode_profile
    assert profile["schema"] == report.SCHEMA
    assert profile["target"]["spec"] == "qwen3-tiny-decode" and profile["target"]["device"] == "cpu"
    assert profile["device"]["kind"] == "cpu" and profile["peaks"]["copy_gbps"] == 20.0
    assert profile["steps"] == 3 and profile["step_time_us"] > 0 and profile["step_time_us_unprofiled"] > 0
    ops = profile["operators"]
    assert ops and FIELDS <= set(ops[0])
    assert [r["rank"] for r in ops] == list(range(1, len(ops) + 1))
    assert all(a["time_us"] >= b["time_us"] for a, b in zip(ops, ops[1:]))
    assert sum(r["share"] for r in ops) <= 1.05  # self times never exceed the step
    assert {r["verdict"] for r in ops} <= set(roofline.VERDICTS)
    scopes = {r["scope"] for r in ops}
    # Module scopes fold the layer index: both layers' norms land in one scope.
    assert "model.layers.*.input_layernorm" in scopes and "model.layers.*.mlp.down_proj" in scopes
    norm = [r for r in ops if r["scope"] == "model.layers.*.input_layernorm"]
    assert all(r["category"] == "norm" for r in norm)
    mm = next(r for r in ops if r["scope"] == "model.layers.*.mlp.down_proj" and r["name"] == "aten::mm")
    # tiny config: [1, 192] x [192, 64] per layer, 2 layers a step
    assert mm["calls"] == 2 and mm["flops"] == 2 * 2 * 192 * 64
    groups = {g["name"]: g for g in profile["groups"]}
    assert groups["Qwen3RMSNorm"]["invocations"] == 2 * 4 + 1  # 2 layers x (2 + q/k norms) + final norm
    assert (out / "trace.json").stat().st_size > 1000
    json.loads((out / "trace.json").read_text())
    assert profile["provenance"]["torch"] and "git_sha" in profile["provenance"]


def test_table_renders_from_a_saved_profile(decode_profile: tuple[dict, Path], capsys: pytest.CaptureFixture) -> None:
    _, out = decode_profile
    assert main(["profile", "--load", str(out / "p.json"), "--top", "5"]) == 0
    text = capsys.readouterr().out
    assert "qwen3-tiny-decode" in text and "verdict" in text and "by module:" in text


def test_prefill_and_builder_target(tmp_path: Path) -> None:
    from labconsole.profile import api

    p = api.profile_target("qwen3-tiny-prefill", shape={"seq": 8}, steps=2, warmup=1)
    assert p["target"]["shape"] == {"batch": 1, "seq": 8}
    script = tmp_path / "mymodel.py"
    script.write_text(
        textwrap.dedent("""
        import torch

        def profile_target(n=32, device="cpu"):
            model = torch.nn.Sequential(torch.nn.Linear(n, n), torch.nn.ReLU(), torch.nn.Linear(n, 4))
            return model.to(device), (torch.randn(8, n, device=device),)
    """)
    )
    p = api.profile_target(str(script), shape={"n": 16}, steps=2, warmup=1, device="cpu")
    names = {(r["scope"], r["name"]) for r in p["operators"]}
    assert ("0", "aten::addmm") in names and ("2", "aten::addmm") in names
    addmm = next(r for r in p["operators"] if r["scope"] == "0" and r["name"] == "aten::addmm")
    assert addmm["flops"] == 2 * 8 * 16 * 16


def test_bad_targets_give_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["profile", "no_such_module_xyz:build", "--device", "cpu"]) == 2
    assert "cannot import module 'no_such_module_xyz'" in capsys.readouterr().err
    assert main(["profile", "qwen3-70b-decode"]) == 2
    assert "unknown built-in target" in capsys.readouterr().err
    assert main(["profile", "json:nothing_here", "--device", "cpu"]) == 2
    assert "has no callable 'nothing_here'" in capsys.readouterr().err
    assert main(["profile", str(tmp_path / "missing.py")]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(LabError, match="expected key=value"):
        targets.parse_shape(["batch"])
    with pytest.raises(LabError, match="unknown --shape key"):
        targets.resolve("qwen3-tiny-decode", shape={"sequence": 3}, device="cpu", compile_mode=None)


def test_a_step_that_raises_is_reported(tmp_path: Path) -> None:
    script = tmp_path / "broken.py"
    script.write_text("def profile_target():\n    def step():\n        raise ValueError('boom')\n    return step\n")
    from labconsole.profile import api

    with pytest.raises(LabError, match="failed in a step: ValueError: boom"):
        api.profile_target(str(script), steps=1, warmup=0, device="cpu")


def test_gpu_asked_without_cuda_is_a_clear_error(capsys: pytest.CaptureFixture) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert main(["profile", "qwen3-8b-decode"]) == 2
    err = capsys.readouterr().err
    assert "sees no CUDA device" in err and "qwen3-tiny" in err


def test_suite_writes_profiles_and_a_summary(tmp_path: Path) -> None:
    from labconsole.profile import suite

    profiles = suite.run_suite(
        ["qwen3-tiny-decode", "qwen3-tiny-prefill:compile"], out=tmp_path, budget_s=30.0, steps=2, warmup=1, shape=None
    )
    # The compiled spec does not fit the budget's estimate for a compile: skipped, and said so.
    assert [p["target"]["spec"] for p in profiles] == ["qwen3-tiny-decode"]
    saved = json.loads((tmp_path / "profile_qwen3_tiny_decode.json").read_text())
    assert saved["schema"] == report.SCHEMA and saved["provenance"]["wall_s"] > 0
    text = (tmp_path / "profile_summary.md").read_text()
    assert "| qwen3-tiny-decode (eager) |" in text and "RMSNorm:" in text
    assert "qwen3-tiny-prefill:compile: skipped" in text
    assert suite.parse_spec("qwen3-8b-decode:compile") == ("qwen3-8b-decode", "default")
    assert suite._file_name("qwen3-8b-decode", "default") == "profile_qwen3_8b_decode_compiled.json"


def test_json_to_stdout(decode_profile: tuple[dict, Path], capsys: pytest.CaptureFixture) -> None:
    _, out = decode_profile
    assert main(["profile", "--load", str(out / "p.json"), "--json", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["schema"] == report.SCHEMA
