"""Backend selection: the compiled CUDA extension when this variant ships one, else Triton.

The arch variant (build/torch*-cu*-x86_64-linux) holds `_rmsnorm_lc_cuda.so`; the noarch
`torch-cuda` variant is the same Python package without it.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

CUDA_NAMESPACE = "_rmsnorm_lc_cuda"
# The arch variants build/ ships (tests/kernels checks this list against build/): a user whose torch or
# CUDA matches none of them is told so once, instead of silently getting the Triton kernels.
COMPILED_FOR = ("torch211-cxx11-cu130-x86_64-linux",)
_LIBS = sorted(Path(__file__).parent.glob(f"{CUDA_NAMESPACE}*.so"))


def _register_cuda_fakes() -> None:
    # Shapes only, so torch.compile(fullgraph=True) and FakeTensor tracing see through the ops.
    def _like(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
        return torch.empty_like(x)

    def _like_cfg(
        x: torch.Tensor,
        weight: torch.Tensor,
        eps: float,
        vecs_per_thread: int,
        lanes: int,
        residual: torch.Tensor | None = None,
        min_blocks: int = 0,
    ) -> torch.Tensor:
        return torch.empty_like(x)

    def _none(x: torch.Tensor, residual: torch.Tensor, weight: torch.Tensor, eps: float) -> None:
        return None

    for op, fn in (("rms_norm", _like), ("rms_norm_config", _like_cfg), ("fused_add_rms_norm", _none)):
        try:
            torch.library.register_fake(f"{CUDA_NAMESPACE}::{op}")(fn)
        except RuntimeError:  # already registered by another copy of this package
            pass


def triton_notice(torch_version: str, cuda_version: str | None) -> str:
    """The one line a user sees when this package runs on Triton instead of the compiled extension."""
    return (
        f"rmsnorm: running the Triton kernels (no compiled extension in this variant for torch "
        f"{torch_version}, CUDA {cuda_version or 'none'}; compiled builds: {', '.join(COMPILED_FOR)})"
    )


if _LIBS and torch.version.cuda is not None:
    torch.ops.load_library(str(_LIBS[0]))
    _register_cuda_fakes()
    ops = getattr(torch.ops, CUDA_NAMESPACE)
    BACKEND = "cuda"
else:
    try:
        from ._triton_impl import ops  # noqa: F401  (re-exported)

        BACKEND = "triton"
        if torch.cuda.is_available():
            warnings.warn(triton_notice(torch.__version__, torch.version.cuda), stacklevel=2)
    except ImportError:  # no Triton (CPU-only torch): layers fall back, functions refuse
        ops = None
        BACKEND = "none"
