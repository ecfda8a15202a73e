"""Which kind of work an operator is (matmul, attention, norm, …), from its aten or Inductor kernel name.

Used by the cost estimates (:mod:`labconsole.profile.estimates`), the report and the hypothesis
generator; kept apart from the cost formulas because it is a naming table, not arithmetic.
"""

from __future__ import annotations

import re

# Categories (also used by the report and the hypothesis generator).
MATMUL = "matmul"
ATTENTION = "attention"
NORM = "norm"
SOFTMAX = "softmax"
ROTARY = "rotary"
ELEMENTWISE = "elementwise"
REDUCTION = "reduction"
EMBEDDING = "embedding"
COPY = "copy"
VIEW = "view"
OTHER = "other"

_MATMUL_OPS = {
    "mm",
    "addmm",
    "bmm",
    "baddbmm",
    "matmul",
    "linear",
    "addmv",
    "mv",
    "dot",
    "_scaled_mm",
    "_addmm_activation",
}
_ATTENTION_OPS = {
    "scaled_dot_product_attention",
    "_scaled_dot_product_flash_attention",
    "_scaled_dot_product_efficient_attention",
    "_scaled_dot_product_cudnn_attention",
    "_scaled_dot_product_flash_attention_for_cpu",
    "_flash_attention_forward",
    "_efficient_attention_forward",
    "_scaled_dot_product_attention_math",
    "_scaled_dot_product_fused_attention_overrideable",
    "_cudnn_attention_forward",
}
_NORM_OPS = {
    "layer_norm",
    "native_layer_norm",
    "rms_norm",
    "_fused_rms_norm",
    "group_norm",
    "native_group_norm",
    "batch_norm",
    "native_batch_norm",
}
_SOFTMAX_OPS = {"softmax", "_softmax", "log_softmax", "_log_softmax", "_safe_softmax"}
_REDUCTION_OPS = {
    "mean",
    "sum",
    "amax",
    "amin",
    "max",
    "min",
    "var",
    "std",
    "var_mean",
    "norm",
    "linalg_vector_norm",
    "argmax",
    "argmin",
    "prod",
    "all",
    "any",
    "cumsum",
    "topk",
    "sort",
}
_EMBEDDING_OPS = {"embedding", "index_select", "gather", "index", "take", "embedding_bag"}
_COPY_OPS = {
    "copy_",
    "_to_copy",
    "to",
    "clone",
    "contiguous",
    "cat",
    "stack",
    "index_copy_",
    "index_copy",
    "index_put_",
    "index_put",
    "_index_put_impl_",
    "slice_scatter",
    "select_scatter",
    "scatter_",
    "scatter",
    "_local_scalar_dense",
    "item",
    "repeat",
    "repeat_interleave",
    "flip",
    "roll",
    "tril",
    "triu",
    "masked_scatter_",
}
_VIEW_OPS = {
    "view",
    "reshape",
    "_reshape_alias",
    "transpose",
    "t",
    "slice",
    "select",
    "unsqueeze",
    "squeeze",
    "expand",
    "as_strided",
    "permute",
    "_unsafe_view",
    "alias",
    "detach",
    "split",
    "split_with_sizes",
    "chunk",
    "narrow",
    "unbind",
    "empty",
    "empty_like",
    "empty_strided",
    "resize_",
    "lift_fresh",
    "result_type",
    "is_nonzero",
    "view_as",
    "expand_as",
    "unflatten",
    "flatten",
    "movedim",
    "_has_compatible_shallow_copy_type",
    "set_",
    "zeros_like_meta",
    "arange",
    "ones",
    "zeros",
    "full",
    "new_empty",
    "new_empty_strided",
    "scalar_tensor",
    "_unsafe_view_copy",
    "lift",
    "resolve_conj",
    "resolve_neg",
}
ELEMENTWISE_FLOPS = {
    "pow": 1,
    "rsqrt": 1,
    "exp": 1,
    "silu": 4,
    "gelu": 8,
    "sigmoid": 4,
    "tanh": 4,
    "cos": 1,
    "sin": 1,
    "div": 1,
    "softplus": 4,
}


def base_name(op_name: str) -> str:
    """``aten::add_`` -> ``add_``; anything without a namespace is returned as is."""
    return op_name.rsplit("::", 1)[-1]


def category_of(op_name: str) -> str:
    """The category of an aten op or an Inductor/Triton kernel name."""
    name = base_name(op_name)
    stem = name.rstrip("_") if name.endswith("_") and name not in _COPY_OPS else name
    if name in _MATMUL_OPS or stem in _MATMUL_OPS:
        return MATMUL
    if name in _ATTENTION_OPS or ("attention" in name and name.endswith("forward") and "::" in op_name):
        return ATTENTION
    if name in _NORM_OPS:
        return NORM
    if name in _SOFTMAX_OPS:
        return SOFTMAX
    if name in _REDUCTION_OPS:
        return REDUCTION
    if name in _EMBEDDING_OPS:
        return EMBEDDING
    if name in _COPY_OPS or stem in _COPY_OPS:
        return COPY
    if name in _VIEW_OPS:
        return VIEW
    if name.startswith(("triton_", "cpp_fused", "kernel_cpp")) or "fused" in name:
        return _fused_kernel_category(name)
    if "::" in op_name and not op_name.startswith("aten::"):
        return OTHER
    return ELEMENTWISE if _looks_elementwise(stem) else OTHER


def _looks_elementwise(stem: str) -> bool:
    return stem in ELEMENTWISE_FLOPS or stem in {
        "add",
        "sub",
        "mul",
        "div",
        "neg",
        "sqrt",
        "relu",
        "where",
        "masked_fill",
        "clamp",
        "clamp_min",
        "clamp_max",
        "abs",
        "reciprocal",
        "eq",
        "ne",
        "lt",
        "gt",
        "le",
        "ge",
        "bitwise_and",
        "bitwise_or",
        "bitwise_not",
        "logical_and",
        "logical_or",
        "logical_not",
        "fill",
        "zero",
        "rsub",
        "log",
        "maximum",
        "minimum",
        "erf",
        "floor",
        "ceil",
        "round",
        "sign",
        "lerp",
        "addcmul",
        "addcdiv",
        "exp2",
        "square",
        "zeros_like",
        "ones_like",
        "full_like",
        "normal",
        "uniform",
        "isnan",
        "isinf",
        "nan_to_num",
    }


def _fused_kernel_category(name: str) -> str:
    """Inductor names kernels after the aten ops they fuse (``triton_red_fused_add_mean_mul_pow_rsqrt_0``)."""
    tokens = set(re.split(r"[_\d]+", name))
    if "rsqrt" in tokens and ("mean" in tokens or "sum" in tokens):
        return NORM
    if {"amax", "exp"} <= tokens or "softmax" in tokens:
        return SOFTMAX
    if "mm" in tokens or "bmm" in tokens or "addmm" in tokens or "tem" in tokens:
        return MATMUL
    if "cat" in tokens and ("neg" in tokens or "cos" in tokens or "sin" in tokens):
        return ROTARY
    if tokens & {"embedding", "index", "gather"}:
        return EMBEDDING
    if tokens & {"red", "per", "mean", "sum", "amax", "max"}:
        return REDUCTION
    if tokens & {"cat", "copy", "clone", "scatter"} and not tokens & {"mul", "add", "sub", "div"}:
        return COPY
    return ELEMENTWISE
