"""kernels.benchmark.Benchmark workloads for rmsnorm (Qwen3-8B: hidden 4096, bf16).

Runs under `kernels benchmark` or LabConsole's harness, which set `self.kernel` to the
loaded kernel module. Each verify_* returns the transformers Qwen3RMSNorm formula in
PyTorch; the runner compares it with `self.out`. For the device-time method (CUDA graphs,
L2 flush, interleaved baselines) see run_device.py beside this file.
"""

from __future__ import annotations

import torch

from kernels.benchmark import Benchmark

HIDDEN = 4096
EPS = 1e-6


def _reference(x: torch.Tensor, weight: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    h = x.float()
    h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)
    return weight * h.to(x.dtype)


def _sized(rows: int):
    """A setup_<workload> method: inputs of `rows` rows."""

    def setup(self: RMSNormBenchmark) -> None:
        self._make(rows)

    return setup


class RMSNormBenchmark(Benchmark):
    seed = 42

    def _make(self, rows: int) -> None:
        self.x = torch.randn(rows, HIDDEN, device=self.device, dtype=torch.bfloat16)
        self.weight = torch.rand(HIDDEN, device=self.device, dtype=torch.bfloat16) + 0.5
        self.out = torch.empty_like(self.x)

    def _rms_norm(self) -> None:
        self.out = self.kernel.rms_norm(self.x, self.weight, EPS)

    def _rms_norm_reference(self) -> torch.Tensor:
        return _reference(self.x, self.weight)

    # rms_norm workloads differ only in rows: decode (one token), batched decode, a 4096-token
    # prefill, a large-batch prefill. The runners find them by name (benchmark_<w>, setup_<w>,
    # verify_<w>); decode_rows1 comes first, so it is the default candidate.
    setup_decode_rows1, setup_rows128, setup_rows4096, setup_rows65536 = map(_sized, (1, 128, 4096, 65536))
    benchmark_decode_rows1 = benchmark_rows128 = benchmark_rows4096 = benchmark_rows65536 = _rms_norm
    verify_decode_rows1 = verify_rows128 = verify_rows4096 = verify_rows65536 = _rms_norm_reference

    # residual add + norm, in place (fresh copies each call so the inputs stay fixed)
    def setup_fused_rows4096(self) -> None:
        self._make(4096)
        self.residual = torch.randn_like(self.x)

    def benchmark_fused_rows4096(self) -> None:
        x, r = self.x.clone(), self.residual.clone()
        self.out, _ = self.kernel.fused_add_rms_norm(x, r, self.weight, EPS)

    def verify_fused_rows4096(self) -> torch.Tensor:
        return _reference((self.x.float() + self.residual.float()).to(self.x.dtype), self.weight)
