"""Portable Triton implementation of the same two ops (the noarch `torch-cuda` variant).

Registered through torch.library.triton_op so torch.compile sees into the kernel.
Same numerics as the CUDA kernel: fp32 sum of squares, normalized value rounded to the
input dtype before the weight multiply (transformers' Qwen3RMSNorm).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch.library import triton_op, wrap_triton

NAMESPACE = "_rmsnorm_lc_triton"


@triton.jit
def _rms_norm_kernel(x_ptr, res_ptr, w_ptr, y_ptr, hidden, inv_hidden, eps, FUSED: tl.constexpr, BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK)
    mask = cols < hidden
    off = row * hidden + cols
    dt = y_ptr.dtype.element_ty
    x = tl.load(x_ptr + off, mask=mask, other=0.0)
    if FUSED:
        r = tl.load(res_ptr + off, mask=mask, other=0.0)
        x = (x.to(tl.float32) + r.to(tl.float32)).to(dt)
        tl.store(res_ptr + off, x, mask=mask)
    xf = x.to(tl.float32)
    inv = tl.rsqrt(tl.sum(xf * xf, axis=0) * inv_hidden + eps)
    w = tl.load(w_ptr + cols, mask=mask, other=0.0)
    n = (xf * inv).to(dt).to(tl.float32)
    tl.store(y_ptr + off, (n * w.to(tl.float32)).to(dt), mask=mask)


def _launch_config(hidden: int, elem_size: int) -> tuple[int, int]:
    block = triton.next_power_of_2(hidden)
    # About 1 KiB of the row per warp, 1..16 warps.
    warps = max(1, min(16, block * elem_size // 1024))
    return block, warps


def _launch(y: torch.Tensor, x: torch.Tensor, res: torch.Tensor | None, w: torch.Tensor, eps: float) -> None:
    hidden = x.shape[-1]
    rows = x.numel() // hidden
    if rows == 0:
        return
    block, warps = _launch_config(hidden, x.element_size())
    wrap_triton(_rms_norm_kernel)[(rows,)](
        x,
        res if res is not None else x,
        w,
        y,
        hidden,
        1.0 / hidden,
        eps,
        FUSED=res is not None,
        BLOCK=block,
        num_warps=warps,
    )


def _define() -> None:
    @triton_op(f"{NAMESPACE}::rms_norm", mutates_args=())
    def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
        y = torch.empty_like(x)
        _launch(y, x, None, weight, eps)
        return y

    @triton_op(f"{NAMESPACE}::fused_add_rms_norm", mutates_args={"x", "residual"})
    def fused_add_rms_norm(x: torch.Tensor, residual: torch.Tensor, weight: torch.Tensor, eps: float) -> None:
        _launch(x, x, residual, weight, eps)


# A second copy of this file (another variant directory) in the same process reuses the
# ops the first one registered instead of failing on a duplicate definition.
if not hasattr(getattr(torch.ops, NAMESPACE), "rms_norm"):
    _define()

ops = getattr(torch.ops, NAMESPACE)
