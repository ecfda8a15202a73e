"""RMSNorm and fused residual-add + RMSNorm for Qwen3-style models (hidden 4096) on H100.

Semantics (transformers' Qwen3RMSNorm, fp32 accumulation):
    rms_norm(x, w, eps)          -> w * (x.float() * rsqrt(mean(x.float()**2) + eps)).to(x.dtype)
    fused_add_rms_norm(x, r, w, eps)   in place, as vLLM:  r <- (x + r).to(dtype);  x <- rms_norm(r, w, eps)
"""

from __future__ import annotations

import torch

from . import layers
from ._ops import BACKEND, ops
from ._validate import TRITON_MAX_HIDDEN, RMSNormInputError, check_fused_inputs, check_inputs, cuda_path

_MAX_HIDDEN = None if BACKEND == "cuda" else TRITON_MAX_HIDDEN

__all__ = ["BACKEND", "RMSNormInputError", "cuda_path", "fused_add_rms_norm", "layers", "ops", "rms_norm"]


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Normalize the last dimension of `x` and scale by `weight`; returns a new tensor."""
    if BACKEND == "cuda" and not torch.compiler.is_compiling():
        # Hot path: the C++ op checks everything itself, so eager calls pay one dispatch; only a
        # refused call re-checks in Python, for the typed, worded error.
        try:
            return ops.rms_norm(x, weight, eps)
        except RuntimeError:
            check_inputs(x, weight, "x", _MAX_HIDDEN)
            raise
    check_inputs(x, weight, "x", _MAX_HIDDEN)
    return ops.rms_norm(x, weight, eps)


def fused_add_rms_norm(
    x: torch.Tensor, residual: torch.Tensor, weight: torch.Tensor, eps: float = 1e-6
) -> tuple[torch.Tensor, torch.Tensor]:
    """In place: residual <- x + residual; x <- rms_norm(residual) * weight. Returns (x, residual)."""
    if BACKEND == "cuda" and not torch.compiler.is_compiling():
        try:  # same hot path as rms_norm: the C++ op refuses before touching any data
            ops.fused_add_rms_norm(x, residual, weight, eps)
            return x, residual
        except RuntimeError:
            check_fused_inputs(x, residual, weight, _MAX_HIDDEN)
            raise
    check_fused_inputs(x, residual, weight, _MAX_HIDDEN)
    ops.fused_add_rms_norm(x, residual, weight, eps)
    return x, residual
