"""Residual add followed by RMSNorm (Qwen3 decoder layer), fused into one Triton kernel."""

from __future__ import annotations

import torch

try:
    import triton
    import triton.language as tl
except ImportError:  # CPU-only machines use the PyTorch path
    triton = None

if triton is not None:

    @triton.jit
    def _add_rms_norm_fwd(X, R, W, Y, stride, n_cols, eps, BLOCK: tl.constexpr):
        row = tl.program_id(0).to(tl.int64)
        cols = tl.arange(0, BLOCK)
        mask = cols < n_cols
        offs = row * stride + cols
        h = tl.load(X + offs, mask=mask, other=0.0) + tl.load(R + offs, mask=mask, other=0.0)
        tl.store(R + offs, h, mask=mask)  # the new residual, rounded to its dtype like the unfused add
        hf = h.to(tl.float32)
        rstd = tl.rsqrt(tl.sum(hf * hf, axis=0) / n_cols + eps)
        w = tl.load(W + cols, mask=mask, other=0.0).to(tl.float32)
        tl.store(Y + offs, (hf * rstd * w).to(Y.dtype.element_ty), mask=mask)


def fused_add_rms_norm(
    x: torch.Tensor, residual: torch.Tensor, weight: torch.Tensor, eps: float = 1e-6
) -> tuple[torch.Tensor, torch.Tensor]:
    if not x.is_cuda or triton is None:
        residual.add_(x)
        h = residual.float()
        y = (h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps) * weight.float()).to(x.dtype)
        return y, residual
    hidden = x.shape[-1]
    assert x.is_contiguous() and residual.is_contiguous(), "contiguous inputs expected"
    y = torch.empty_like(x)
    n_rows = x.numel() // hidden if hidden else 0
    if n_rows:
        block = triton.next_power_of_2(hidden)
        warps = 4 if block <= 2048 else (8 if block <= 8192 else 16)
        _add_rms_norm_fwd[(n_rows,)](x, residual, weight, y, hidden, hidden, eps, BLOCK=block, num_warps=warps)
    return y, residual
