"""Byte and FLOP estimates on known shapes (hand-computed)."""

from __future__ import annotations

from labconsole.profile import estimates as E

BF16, F32, I64 = "c10::BFloat16", "float", "long int"


def test_mm_counts_two_mnk_flops_and_each_operand_once() -> None:
    # Qwen3-8B decode q_proj: [1, 4096] x [4096, 4096] bf16.
    c = E.estimate("aten::mm", [[1, 4096], [4096, 4096]], [BF16, BF16])
    assert c.category == E.MATMUL
    assert c.flops == 2 * 1 * 4096 * 4096
    assert c.bytes == (4096 + 4096 * 4096 + 4096) * 2


def test_addmm_adds_the_bias() -> None:
    c = E.estimate("aten::addmm", [[256], [8, 128], [128, 256]], [F32, F32, F32])
    assert c.flops == 2 * 8 * 256 * 128
    assert c.bytes == (256 + 8 * 128 + 128 * 256 + 8 * 256) * 4


def test_linear_takes_m_from_all_leading_dims() -> None:
    c = E.estimate("aten::linear", [[2, 16, 64], [32, 64], []], [F32, F32, ""])
    assert c.flops == 2 * 32 * 32 * 64
    assert c.bytes == (2 * 16 * 64 + 32 * 64 + 32 * 32) * 4


def test_bmm_counts_the_batch() -> None:
    c = E.estimate("aten::bmm", [[8, 16, 32], [8, 32, 64]], [F32, F32])
    assert c.flops == 2 * 8 * 16 * 64 * 32
    assert c.bytes == (8 * 16 * 32 + 8 * 32 * 64 + 8 * 16 * 64) * 4


def test_sdpa_decode_with_gqa_reads_the_whole_cache_once() -> None:
    # One decode token, 32 query heads, 8 KV heads, 4096 cached positions, head_dim 128, and a mask.
    q, k = [1, 32, 1, 128], [1, 8, 4096, 128]
    mask = [1, 1, 1, 4096]
    c = E.estimate("aten::_scaled_dot_product_efficient_attention", [q, k, k, mask], [BF16, BF16, BF16, BF16])
    assert c.category == E.ATTENTION
    assert c.flops == 2 * 32 * 1 * 4096 * 128 * 2
    kv = 8 * 4096 * 128 * 2
    assert c.bytes == 32 * 128 * 2 + 2 * kv + 32 * 128 * 2 + 4096 * 2
    # torch 2.11 on an H100 picks cuDNN attention for SDPA: same layout.
    assert E.estimate("aten::_cudnn_attention_forward", [q, k, k, mask], [BF16] * 4) == c


def test_elementwise_broadcasts_and_promotes() -> None:
    # RMSNorm's x * rsqrt(var): [1, 1, 4096] fp32 times [1, 1, 1] fp32.
    c = E.estimate("aten::mul", [[1, 1, 4096], [1, 1, 1]], [F32, F32])
    assert c.category == E.ELEMENTWISE
    assert c.bytes == 4096 * 4 + 4 + 4096 * 4
    assert c.flops == 4096
    # weight (bf16) * x (bf16): same shape
    c = E.estimate("aten::mul", [[4096], [1, 1, 4096]], [BF16, BF16])
    assert c.bytes == 3 * 4096 * 2


def test_scalars_are_not_tensors() -> None:
    c = E.estimate("aten::pow", [[1, 1, 4096], []], [F32, "Scalar"])
    assert c.bytes == 2 * 4096 * 4
    c = E.estimate("aten::add", [[2, 8, 1], [], []], [F32, "double", "Scalar"])  # a 0-dim double tensor
    assert c.bytes == 16 * 4 + 8 + 16 * 8


def test_to_copy_uses_the_target_dtype_from_concrete_inputs() -> None:
    # bf16 -> fp32 (ScalarType 6): read 2 bytes, write 4 bytes per element.
    c = E.estimate(
        "aten::_to_copy",
        [[1, 1, 4096], [], [], [], [], [], []],
        [BF16, "Scalar", "", "", "", "Scalar", ""],
        [None, 6, None, None, None, False, None],
    )
    assert c.category == E.COPY
    assert c.bytes == 4096 * 2 + 4096 * 4
    c = E.estimate("aten::copy_", [[4096], [4096]], [F32, BF16])
    assert c.bytes == 4096 * 4 + 4096 * 2


def test_embedding_moves_only_the_gathered_rows() -> None:
    c = E.estimate("aten::embedding", [[151936, 4096], [1, 1]], [BF16, I64])
    assert c.category == E.EMBEDDING
    assert c.bytes == 2 * 4096 * 2 + 8
    c = E.estimate("aten::index_select", [[100, 16], [], [3]], [F32, "Scalar", I64], [None, 0, None])
    assert c.bytes == 2 * 3 * 16 * 4 + 3 * 8


def test_norms_and_softmax() -> None:
    c = E.estimate("aten::rms_norm", [[2048, 4096], [], [4096], []], [BF16, "ScalarList", BF16, ""])
    assert c.category == E.NORM
    assert c.bytes == 2 * 2048 * 4096 * 2 + 4096 * 2
    c = E.estimate("aten::_softmax", [[32, 2048, 2048], [], []], [F32, "Scalar", "Scalar"])
    assert c.category == E.SOFTMAX and c.bytes == 2 * 32 * 2048 * 2048 * 4


def test_views_and_unknown_ops_cost_nothing() -> None:
    assert E.estimate("aten::view", [[4, 4], []], [F32, "ScalarList"]) == E.OpCost(0, 0, E.VIEW)
    assert E.estimate("aten::transpose", [[4, 4], [], []], [F32, "Scalar", "Scalar"]).bytes == 0
    assert E.estimate("mylib::mystery", [[4, 4]], [F32]).category == E.OTHER


def test_fused_kernel_names_get_a_category() -> None:
    assert E.category_of("triton_red_fused__to_copy_add_mean_mul_pow_rsqrt_0") == E.NORM
    assert E.category_of("triton_poi_fused_mul_silu_3") == E.ELEMENTWISE
    assert E.category_of("triton_per_fused__softmax_amax_exp_sub_sum_1") == E.SOFTMAX
    assert E.category_of("aten::_scaled_dot_product_flash_attention") == E.ATTENTION
    # A fused kernel's tensor arguments are each touched once.
    c = E.estimate("triton_poi_fused_mul_silu_3", [[1, 12288], [1, 12288], [1, 12288]], [BF16, BF16, BF16])
    assert c.bytes == 3 * 12288 * 2 and c.flops == 12288


def test_fused_kernels_touch_no_more_than_they_iterate_over() -> None:
    # The embedding gather fused with the first norm: one row of the table, not the table.
    shapes = [[1, 1], [151936, 4096], [1, 1, 4096], [], []]
    dtypes = [I64, BF16, BF16, "Scalar", "Scalar"]
    c = E.estimate("triton_red_fused_embedding_mean_mul_pow_rsqrt_0", shapes, dtypes, [None, None, None, 1, 4096])
    assert c.bytes == 1 * 8 + 4096 * 2 + 4096 * 2
    # A pointwise cache write: xnumel = 1024 elements of the [1, 8, 4224, 128] cache.
    c = E.estimate(
        "triton_poi_fused_index_copy_5", [[1, 1024], [1, 8, 4224, 128], []], [BF16, BF16, "Scalar"], [None, None, 1024]
    )
    assert c.bytes == 2 * 1024 * 2
    # Without the scalars recorded, each argument counts whole.
    c = E.estimate("triton_poi_fused_index_copy_5", [[1, 1024], [1, 8, 4224, 128]], [BF16, BF16])
    assert c.bytes == (1024 + 8 * 4224 * 128) * 2


def test_causal_attention_counts_half_the_scores() -> None:
    q = [1, 32, 2048, 128]
    k = [1, 8, 2048, 128]
    full = E.estimate("aten::_cudnn_attention_forward", [q, k, k], [BF16] * 3)
    concrete = [None, None, None, None, False, 0.0, True, False, None]
    causal = E.estimate(
        "aten::_cudnn_attention_forward",
        [q, k, k, [], [], [], [], [], []],
        [BF16] * 3 + ["", "Scalar", "Scalar", "Scalar", "Scalar", ""],
        concrete,
    )
    assert full.flops == 4 * 32 * 2048 * 2048 * 128 and causal.flops == full.flops // 2
    assert causal.bytes == full.bytes
