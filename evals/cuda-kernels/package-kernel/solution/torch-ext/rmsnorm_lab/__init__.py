"""rmsnorm_lab: bf16 RMSNorm for Qwen3 on sm_90."""

from __future__ import annotations

import torch


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """RMSNorm over the last dimension (bf16, CUDA, contiguous, hidden a multiple of 8)."""
    return torch.ops.rmsnorm_lab.rms_norm(x, weight, eps)


__all__ = ["rms_norm"]
