"""Self-contained check shipped with the kernel repository (the project's full suites live in
tests/kernels/ of LabConsole). Needs a CUDA GPU; skips otherwise.

    pytest kernels/rmsnorm/tests
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
REPO = Path(__file__).resolve().parent.parent


def _reference(x: torch.Tensor, w: torch.Tensor, eps: float) -> torch.Tensor:
    h = x.double()
    return (h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype).double() * w.double()


@pytest.fixture(scope="module", params=["best", "triton"])
def rms(request: pytest.FixtureRequest):
    from kernels import get_local_kernel

    return get_local_kernel(REPO if request.param == "best" else REPO / "build" / "torch-cuda")


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
@pytest.mark.parametrize(("rows", "hidden"), [(1, 4096), (2048, 4096), (300, 128), (7, 4095)])
def test_ops_match_reference(rms, dtype: torch.dtype, rows: int, hidden: int) -> None:
    x = torch.randn(rows, hidden, device="cuda", dtype=dtype)
    r = torch.randn_like(x)
    w = torch.rand(hidden, device="cuda", dtype=dtype) + 0.5
    tol = {torch.float32: 1e-6, torch.float16: 1e-3, torch.bfloat16: 8e-3}[dtype]
    ref = _reference(x, w, 1e-6)
    assert ((rms.rms_norm(x, w, 1e-6).double() - ref).norm() / ref.norm()).item() < tol
    s = (x.float() + r.float()).to(dtype)
    out, res = rms.fused_add_rms_norm(x, r, w, 1e-6)
    assert torch.equal(res, s)
    ref = _reference(s, w, 1e-6)
    assert ((out.double() - ref).norm() / ref.norm()).item() < tol


def test_compiles_fullgraph(rms) -> None:
    x = torch.randn(64, 4096, device="cuda", dtype=torch.bfloat16)
    w = torch.ones(4096, device="cuda", dtype=torch.bfloat16)
    f = torch.compile(lambda a: rms.rms_norm(a, w, 1e-6) * 2, fullgraph=True)
    assert torch.allclose(f(x).float(), (rms.rms_norm(x, w, 1e-6) * 2).float())
