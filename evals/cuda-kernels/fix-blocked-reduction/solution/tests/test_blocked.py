"""Tests of the blocked reduction itself."""

from __future__ import annotations

import torch

from blocked_rmsnorm import blocked_sum_of_squares


def test_sum_of_squares_multiple_of_block():
    x = torch.randn(3, 2048)
    torch.testing.assert_close(blocked_sum_of_squares(x), x.pow(2).sum(-1), rtol=1e-5, atol=1e-4)


def test_sum_of_squares_with_a_partial_last_block():
    for n in (1000, 5000, 4095):
        x = torch.randn(3, n)
        torch.testing.assert_close(blocked_sum_of_squares(x), x.pow(2).sum(-1), rtol=1e-5, atol=1e-3)


def test_zero_rows_stay_zero():
    from blocked_rmsnorm import rms_norm_blocked

    y = rms_norm_blocked(torch.zeros(2, 1024), torch.ones(1024))
    assert torch.equal(y, torch.zeros(2, 1024))
