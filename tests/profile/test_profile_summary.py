"""The markdown summary's RMSNorm / residual accounting, eager and compiled."""

from __future__ import annotations

from typing import Any

from labconsole.profile import summary


def _row(name: str, scope: str, scope_type: str, category: str, time_us: float, shapes: str = "") -> dict[str, Any]:
    return {
        "name": name,
        "scope": scope,
        "scope_type": scope_type,
        "category": category,
        "time_us": time_us,
        "launches": 1,
        "shapes": shapes,
    }


def test_eager_norm_and_residual_shares() -> None:
    p = {
        "step_time_us": 1000.0,
        "operators": [
            _row("aten::mul", "model.layers.*.input_layernorm", "Qwen3RMSNorm", "norm", 60.0),
            _row("aten::pow", "model.layers.*.post_attention_layernorm", "Qwen3RMSNorm", "norm", 40.0),
            _row("aten::mul", "model.layers.*.self_attn.q_norm", "Qwen3RMSNorm", "norm", 20.0),
            _row("aten::add", "model.layers.*", "Qwen3DecoderLayer", "elementwise", 30.0),
            _row("aten::add", "apply_rotary_pos_emb", "apply_rotary_pos_emb()", "rotary", 10.0),
            _row("aten::mm", "model.layers.*.mlp.down_proj", "Linear", "matmul", 500.0),
        ],
    }
    n = summary.norm_and_residual(p)
    assert n["norm_us"] == 120.0 and n["layer_norm_us"] == 100.0 and n["qk_norm_us"] == 20.0
    assert n["residual_add_us"] == 30.0 and n["together_share"] == 0.15


def test_compiled_norm_kernels_fused_with_the_residual() -> None:
    plain = "[[1, 1, 4096], [4096], [1, 1, 4096]]"  # x, weight, out
    fused = "[[1, 1, 4096], [1, 1, 4096], [4096], [1, 1, 4096], [1, 1, 4096]]"  # x, residual, weight, sum, out
    p = {
        "step_time_us": 500.0,
        "operators": [
            _row("triton_red_fused__to_copy_add_mean_mul_pow_rsqrt_0", "(top)", "", "norm", 20.0, plain),
            _row("triton_red_fused__to_copy_add_mean_mul_pow_rsqrt_1", "(top)", "", "norm", 50.0, fused),
        ],
    }
    # A KV-expansion kernel whose fused name lists mean/rsqrt but which reads no weight vector is not a norm.
    p["operators"].append(
        _row(
            "triton_poi_fused_add_cat_mean_rsqrt_expand_6",
            "(top)",
            "",
            "norm",
            30.0,
            "[[1, 8, 4224, 128], [1, 32, 4224, 128]]",
        )
    )
    n = summary.norm_and_residual(p)
    assert n["norm_us"] == 70.0 and n["norm_kernels_with_add_us"] == 50.0 and n["residual_add_us"] == 0.0
