"""Hypotheses from a profile (pure) and their hand-off into a lab session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from labconsole.lab import profile_proposals
from labconsole.profile import hypotheses as H
from labconsole.profile.hypotheses import hypotheses_from_profile


def _row(
    name: str,
    scope: str,
    scope_type: str,
    category: str,
    verdict: str,
    time_us: float,
    launches: float,
    ideal_us: float,
    calls: float | None = None,
    efficiency: float | None = None,
) -> dict[str, Any]:
    calls = launches if calls is None else calls
    return {
        "name": name,
        "scope": scope,
        "scope_type": scope_type,
        "category": category,
        "verdict": verdict,
        "time_us": time_us,
        "share": time_us / 2000.0,
        "calls": calls,
        "launches": launches,
        "mean_us": time_us / calls,
        "bytes": 1,
        "flops": 1,
        "gbps": 1.0,
        "tflops": 0.0,
        "intensity": 1.0,
        "reason": "",
        "ideal_us": ideal_us,
        "efficiency": efficiency if efficiency is not None else ideal_us / time_us,
        "rank": 0,
    }


def decode_like_profile(idle_us: float = 200.0) -> dict[str, Any]:
    """A GPU decode step of 2000 µs shaped like eager Qwen3: 2 norms per layer, 36 layers."""
    norm = "Qwen3RMSNorm"
    ops = [
        _row("aten::mm", "model.layers.*.mlp.down_proj", "Linear", "matmul", "memory-bound", 900.0, 36, 800.0),
        # input_layernorm and post_attention_layernorm: 6 kernels a call, 36 calls each
        _row("aten::mul", "model.layers.*.input_layernorm", norm, "norm", "overhead-bound", 150.0, 108, 1.0),
        _row("aten::_to_copy", "model.layers.*.input_layernorm", norm, "norm", "overhead-bound", 110.0, 72, 1.0),
        _row("aten::mul", "model.layers.*.post_attention_layernorm", norm, "norm", "overhead-bound", 150.0, 108, 1.0),
        _row(
            "aten::_to_copy", "model.layers.*.post_attention_layernorm", norm, "norm", "overhead-bound", 110.0, 72, 1.0
        ),
        _row("aten::add", "model.layers.*", "Qwen3DecoderLayer", "elementwise", "overhead-bound", 150.0, 72, 0.5),
        # attention's own add (not a residual) must not join the QK-norm fusion
        _row("aten::add", "model.layers.*.self_attn", "Qwen3Attention", "elementwise", "overhead-bound", 60.0, 36, 0.1),
        _row("aten::mul", "model.layers.*.self_attn.q_norm", norm, "norm", "overhead-bound", 100.0, 108, 0.5),
        # a slow memory-bound copy: a kernel candidate
        _row(
            "aten::index_copy_", "model.layers.*.self_attn", "Qwen3Attention", "copy", "memory-bound", 120.0, 72, 20.0
        ),
        # a fast memory-bound op is not worth a kernel
        _row("aten::mm", "lm_head", "Linear", "matmul", "memory-bound", 300.0, 1, 280.0),
    ]
    for rank, r in enumerate(sorted(ops, key=lambda r: -r["time_us"]), 1):
        r["rank"] = rank
    groups = [
        {
            "name": norm,
            "scopes": [
                "model.layers.*.input_layernorm",
                "model.layers.*.post_attention_layernorm",
                "model.layers.*.self_attn.q_norm",
            ],
            "invocations": 108,
        }
    ]
    return {
        "schema": "labconsole.profile/1",
        "step_time_us": 2000.0,
        "idle_us": idle_us,
        "idle_share": idle_us / 2000.0,
        "target": {"spec": "qwen3-8b-decode", "compiled": None},
        "device": {"kind": "cuda", "name": "NVIDIA H100"},
        "peaks": {"copy_gbps": 3000.0, "matmul_tflops": 750.0},
        "operators": ops,
        "groups": groups,
    }


def test_norm_and_residual_add_become_one_fusion_hypothesis() -> None:
    hyps = hypotheses_from_profile(decode_like_profile(), top=10)
    fuse = [h for h in hyps if h["params"]["kind"] == "fuse"]
    main = next(h for h in fuse if "residual add" in h["title"])
    assert main["title"].startswith("fuse residual add + Qwen3RMSNorm (input_layernorm, post_attention_layernorm)")
    assert "qwen3-8b-decode (eager)" in main["title"] and "µs a step" in main["title"]
    # 72 norm calls: 520 µs of norm ops + 150 µs of residual adds, fused floor = 72 calls x median small kernel.
    ops = decode_like_profile()["operators"]
    per_launch = sorted(r["time_us"] / r["launches"] for r in ops if r["verdict"] == "overhead-bound")
    floor = per_launch[len(per_launch) // 2]
    expected = 670.0 - max(72 * floor, 4 * 1.0 + 0.5)
    assert main["params"]["expected_saving_us"] == pytest.approx(expected, abs=0.1)
    assert main["params"]["expected_saving_share"] == pytest.approx(expected / 2000.0, abs=1e-4)
    assert main["priority"] == main["params"]["expected_saving_share"]
    assert main["source"] == "profile:qwen3-8b-decode@NVIDIA H100"
    assert {r["scope"] for r in main["evidence"]["operators"]} == {
        "model.layers.*.input_layernorm",
        "model.layers.*.post_attention_layernorm",
        "model.layers.*",
    }
    assert len(main["evidence"]["profile_sha256"]) == 64
    qk = next(h for h in fuse if "q_norm" in h["title"])
    assert "residual" not in qk["title"]


def test_kernel_and_graph_hypotheses_and_ordering() -> None:
    hyps = hypotheses_from_profile(decode_like_profile(idle_us=600.0), top=10)
    kinds = {h["params"]["kind"] for h in hyps}
    assert kinds == {"fuse", "kernel", "graph"}
    kernel = next(h for h in hyps if h["params"]["kind"] == "kernel")
    assert kernel["params"]["operator"] == "aten::index_copy_"
    assert kernel["params"]["expected_saving_us"] == pytest.approx(120.0 - 20.0 / 0.8, abs=0.1)
    # the efficient lm_head and the down_proj near the roofline are not candidates
    assert not any("lm_head" in h["title"] or "down_proj" in h["title"] for h in hyps)
    savings = [h["params"]["expected_saving_us"] for h in hyps]
    assert savings == sorted(savings, reverse=True)
    assert len(hypotheses_from_profile(decode_like_profile(), top=1)) == 1
    for h in hyps:
        assert set(h) == {"title", "params", "rationale", "source", "priority", "evidence"}


def test_no_idle_no_graph_and_empty_profile() -> None:
    assert not any(h["params"]["kind"] == "graph" for h in hypotheses_from_profile(decode_like_profile(100.0)))
    assert hypotheses_from_profile({"step_time_us": 0}) == []


def test_hand_off_passes_hypotheses_and_profile_blob(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    def fake_propose(
        lab_root: Path,
        hypotheses: list[dict],
        actor: str,
        session_id: str | None = None,
        evidence_blobs: dict | None = None,
    ) -> list[str]:
        seen.update(lab_root=lab_root, hypotheses=hypotheses, actor=actor, session_id=session_id, blobs=evidence_blobs)
        return [f"h{i + 1:03d}" for i in range(len(hypotheses))]

    monkeypatch.setattr(profile_proposals, "propose_hypotheses", fake_propose)
    profile = decode_like_profile()
    items, ids = profile_proposals.propose(profile, lab_root=tmp_path, top=3, session_id="s1", actor="console")
    assert ids == ["h001", "h002", "h003"] and len(items) == 3
    assert seen["lab_root"] == tmp_path and seen["session_id"] == "s1" and seen["actor"] == "console"
    assert seen["hypotheses"] == items
    assert set(seen["blobs"]) == {0, 1, 2} and seen["blobs"][0] == H.profile_bytes(profile)


def test_cli_propose_from_a_saved_profile(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    import json

    from labconsole.cli import main
    from labconsole.profile import report

    profile = decode_like_profile()
    profile.update(
        {
            "steps": 1,
            "warmup": 0,
            "step_time_us_unprofiled": 1900.0,
            "busy_us": 1800.0,
            "idle_means": "device idle",
            "categories": [],
            "peaks": {"copy_gbps": 3000.0, "matmul_tflops": 750.0, "ridge_flop_per_byte": 250.0},
        }
    )
    profile["target"].update({"dtype": "bfloat16", "description": "decode"})
    profile["device"]["name"] = "NVIDIA H100"
    for g in profile["groups"]:
        g.update({"share": 0.26, "time_us": 520.0, "verdict": "overhead-bound"})
    path = tmp_path / "p.json"
    path.write_text(json.dumps({**profile, "schema": report.SCHEMA}))
    assert main(["profile", "--load", str(path), "--propose", "--dry-run"]) == 0
    assert "fuse residual add + Qwen3RMSNorm" in capsys.readouterr().out
    assert main(["profile", "--load", str(path), "--propose"]) == 2
    assert "--propose needs --lab" in capsys.readouterr().err


def test_hand_off_into_a_real_session(tmp_path: Path) -> None:
    """Through the Lab service into a demo lab's session: the hypotheses land in the log with their blob."""
    from labconsole.demo import create_demo_lab
    from labconsole.lab.service import Lab

    lab_dir = create_demo_lab(tmp_path / "lab")
    lab = Lab.start_session(lab_dir)
    session_id = lab.session_id
    lab.close()
    profile = decode_like_profile()
    items, ids = profile_proposals.propose(profile, lab_root=lab_dir, top=2, session_id=session_id)
    assert len(ids) == 2 and len(items) == 2
    reopened = Lab.open_session(lab_dir, session_id)
    try:
        state = reopened.state
        for hyp_id, item in zip(ids, items):
            hyp = state.hypotheses[hyp_id]
            assert getattr(hyp, "title", None) == item["title"]
        blobs = [e for e in _events(reopened) if e.kind == "hypothesis.proposed"]
        assert blobs and reopened.blob(blobs[-1].data["evidence_blob"]) == H.profile_bytes(profile)
    finally:
        reopened.close()


def _events(lab: Any) -> list[Any]:
    from labconsole.events.log import read_events

    return list(read_events(lab.session_dir))


def test_graph_saving_uses_the_unprofiled_step() -> None:
    profile = decode_like_profile(idle_us=1200.0)  # profiled: hooks and profiler inflate host time
    profile.update({"busy_us": 800.0, "step_time_us_unprofiled": 1500.0})
    graph = next(h for h in hypotheses_from_profile(profile, top=10) if h["params"]["kind"] == "graph")
    assert graph["params"]["expected_saving_us"] == 700.0


def test_a_big_copy_near_bandwidth_is_to_be_removed_not_fused() -> None:
    profile = decode_like_profile()
    copy = _row("aten::copy_", "model.layers.*.self_attn", "Qwen3Attention", "copy", "memory-bound", 600.0, 72, 400.0)
    profile["operators"].append(copy)
    hyps = hypotheses_from_profile(profile, top=10)
    gone = next(h for h in hyps if h["params"]["kind"] == "eliminate")
    assert gone["params"]["operator"] == "aten::copy_" and gone["params"]["expected_saving_us"] == 600.0
    assert gone["title"].startswith("remove the aten::copy_ in model.layers.*.self_attn")
    fused_rows = [r for h in hyps if h["params"]["kind"] == "fuse" for r in h["evidence"]["operators"]]
    assert not any(r["name"] == "aten::copy_" for r in fused_rows)
