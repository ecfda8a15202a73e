"""Backend selection: the compiled CUDA extension when this variant ships one, else Triton.

The arch variant (build/torch*-cu*-x86_64-linux) holds `_rmsnorm_lc_cuda.so`; the noarch
`torch-cuda` variant is the same Python package without it.
"""

from __future__ import annotations

from pathlib import Path

import torch

CUDA_NAMESPACE = "_rmsnorm_lc_cuda"
_LIBS = sorted(Path(__file__).parent.glob(f"{CUDA_NAMESPACE}*.so"))


def _register_cuda_fakes() -> None:
    # Shapes only, so torch.compile(fullgraph=True) and FakeTensor tracing see through the ops.
    def _like(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
        return torch.empty_like(x)

    def _like_cfg(x: torch.Tensor, weight: torch.Tensor, eps: float, vecs_per_thread: int, lanes: int,
                  residual: torch.Tensor | None = None, min_blocks: int = 0) -> torch.Tensor:
        return torch.empty_like(x)

    def _none(x: torch.Tensor, residual: torch.Tensor, weight: torch.Tensor, eps: float) -> None:
        return None

    for op, fn in (("rms_norm", _like), ("rms_norm_config", _like_cfg), ("fused_add_rms_norm", _none)):
        try:
            torch.library.register_fake(f"{CUDA_NAMESPACE}::{op}")(fn)
        except RuntimeError:  # already registered by another copy of this package
            pass


if _LIBS and torch.version.cuda is not None:
    torch.ops.load_library(str(_LIBS[0]))
    _register_cuda_fakes()
    ops = getattr(torch.ops, CUDA_NAMESPACE)
    BACKEND = "cuda"
else:
    try:
        from ._triton_impl import ops  # noqa: F401  (re-exported)

        BACKEND = "triton"
    except ImportError:  # no Triton (CPU-only torch): layers fall back, functions refuse
        ops = None
        BACKEND = "none"
