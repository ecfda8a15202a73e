"""RMSNorm over the last dimension, as used by Qwen3 (hidden 4096, eps 1e-6)."""

from __future__ import annotations

import torch

try:
    import triton
    import triton.language as tl
except ImportError:  # CPU-only machines: the PyTorch fallback below still works
    triton = None

if triton is not None:

    @triton.jit
    def _rms_norm_fwd(X, W, Y, stride_x, stride_y, n_cols, eps, BLOCK: tl.constexpr):
        row = tl.program_id(0).to(tl.int64)  # 64-bit offsets: rows * stride may pass 2**31
        cols = tl.arange(0, BLOCK)
        mask = cols < n_cols
        x = tl.load(X + row * stride_x + cols, mask=mask, other=0.0).to(tl.float32)
        rstd = tl.rsqrt(tl.sum(x * x, axis=0) / n_cols + eps)
        w = tl.load(W + cols, mask=mask, other=0.0).to(tl.float32)
        tl.store(Y + row * stride_y + cols, (x * rstd * w).to(Y.dtype.element_ty), mask=mask)


def _torch_rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    xf = x.float()
    return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps) * weight.float()).to(x.dtype)


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-6, out: torch.Tensor | None = None) -> torch.Tensor:
    if not x.is_cuda or triton is None:
        y = _torch_rms_norm(x, weight, eps)
        return out.copy_(y) if out is not None else y
    hidden = x.shape[-1]
    x2 = x.reshape(-1, hidden)
    if x2.stride(-1) != 1:
        x2 = x2.contiguous()
    y = out if out is not None else torch.empty_like(x)
    y2 = y.view(-1, hidden)
    if x2.shape[0] == 0:
        return y
    block = triton.next_power_of_2(hidden)
    warps = 4 if block <= 2048 else (8 if block <= 8192 else 16)
    _rms_norm_fwd[(x2.shape[0],)](x2, weight, y2, x2.stride(0), y2.stride(0), hidden, eps, BLOCK=block, num_warps=warps)
    return y
