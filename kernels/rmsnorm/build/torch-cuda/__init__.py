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


def _shape_ok(x: torch.Tensor, weight: torch.Tensor) -> bool:
    # Shapes are checked here even on the hot path: only the C++ dtype/device/layout error
    # paths were exercised on the device machine (see README, known failures).
    return weight.dim() == 1 and x.dim() >= 1 and x.shape[-1] == weight.shape[0] != 0


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Normalize the last dimension of `x` and scale by `weight`; returns a new tensor."""
    if BACKEND == "cuda" and not torch.compiler.is_compiling() and _shape_ok(x, weight):
        # Hot path: the C++ op checks dtype, device and layout itself, so eager calls pay one
        # dispatch; only a refused call re-checks in Python for the typed, worded error.
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
    # Always checked in Python first: an error path of the compiled fused op crashed the
    # process on the H100 build (README, known failures), so bad inputs never reach it.
    check_fused_inputs(x, residual, weight, _MAX_HIDDEN)
    ops.fused_add_rms_norm(x, residual, weight, eps)
    return x, residual
