"""Hidden checks of the fix: partial blocks, hidden < BLOCK, zero rows, bf16, several block sizes."""

from __future__ import annotations

import pytest
import torch

from blocked_rmsnorm import BLOCK, blocked_sum_of_squares, rms_norm_blocked


def reference(x, w, eps):
    xf = x.double()
    return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps) * w.double()).float()


@pytest.mark.parametrize("n", [1, 100, 1000, 1023, 1025, 2560, 4095, 5000, 5120])
def test_any_hidden_size(n):
    x, w = torch.randn(4, n), torch.randn(n)
    torch.testing.assert_close(rms_norm_blocked(x, w), reference(x, w, 1e-6), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("block", [128, 256, BLOCK])
def test_block_sizes(block):
    x = torch.randn(2, 3000)
    torch.testing.assert_close(blocked_sum_of_squares(x, block), x.pow(2).sum(-1), rtol=1e-5, atol=1e-3)


def test_zero_rows():
    y = rms_norm_blocked(torch.zeros(3, 5000), torch.ones(5000))
    assert torch.isfinite(y).all() and torch.equal(y, torch.zeros(3, 5000))


def test_bf16_odd_size():
    x, w = torch.randn(8, 5000, dtype=torch.bfloat16), torch.randn(5000, dtype=torch.bfloat16)
    torch.testing.assert_close(
        rms_norm_blocked(x, w).float(), reference(x, w, 1e-6).bfloat16().float(), rtol=2e-2, atol=2e-2
    )
