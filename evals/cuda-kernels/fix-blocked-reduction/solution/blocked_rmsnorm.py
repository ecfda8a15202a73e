"""CPU model of the RMSNorm kernel's blocked row reduction.

The GPU kernel walks each row in chunks of BLOCK elements, accumulating the
sum of squares in fp32; this module does the same with torch ops so the
indexing can be tested without a GPU.
"""

from __future__ import annotations

import torch

BLOCK = 1024


def blocked_sum_of_squares(x: torch.Tensor, block: int = BLOCK) -> torch.Tensor:
    """Sum of x**2 over the last dimension, one chunk of ``block`` columns at a time (fp32)."""
    n = x.shape[-1]
    acc = torch.zeros(x.shape[:-1], dtype=torch.float32)
    for start in range(0, n, block):  # the last chunk may be partial
        chunk = x[..., start : start + block].float()
        acc += (chunk * chunk).sum(-1)
    return acc


def rms_norm_blocked(x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-6, block: int = BLOCK) -> torch.Tensor:
    ss = blocked_sum_of_squares(x, block)
    rstd = torch.rsqrt(ss / x.shape[-1] + eps)  # eps inside the root: zero rows stay finite
    return (x.float() * rstd.unsqueeze(-1) * weight.float()).to(x.dtype)
