"""GPU correctness of the rmsnorm kernels (compiled CUDA variant and Triton variant), loaded
the way users load them: kernels.get_local_kernel on the committed/built variant folders."""

from __future__ import annotations

from types import ModuleType

import pytest
import torch
from rmsnorm_helpers import KERNEL_DIR, import_script

pytestmark = pytest.mark.gpu

DTYPES = [torch.bfloat16, torch.float16, torch.float32]
# Relative L2 error vs an fp64 reference of the same formula (rounding points included).
TOL = {torch.float32: 1e-6, torch.float16: 1e-3, torch.bfloat16: 8e-3}


@pytest.fixture(scope="module", params=["cuda", "triton"])
def kernel(request: pytest.FixtureRequest) -> ModuleType:
    from kernels import get_local_kernel

    if request.param == "cuda":
        k = get_local_kernel(KERNEL_DIR)
        if k.BACKEND != "cuda":
            pytest.skip("no compiled variant for this torch/CUDA in kernels/rmsnorm/build")
    else:
        k = get_local_kernel(KERNEL_DIR / "build" / "torch-cuda")
    assert k.BACKEND == request.param
    return k


def reference(x: torch.Tensor, w: torch.Tensor, eps: float) -> torch.Tensor:
    """Qwen3RMSNorm in fp64, with its rounding to x.dtype before the weight multiply."""
    h = x.double()
    n = (h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype)
    return n.double() * w.double()


def rel_err(out: torch.Tensor, ref: torch.Tensor) -> float:
    return ((out.double() - ref).norm() / ref.norm()).item()


def inputs(rows: int, hidden: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(rows, hidden, device="cuda", dtype=dtype) * 3
    w = torch.rand(hidden, device="cuda", dtype=dtype) + 0.5
    return x, w


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("hidden", [64, 128, 256, 1024, 2048, 4096, 5120, 8192, 3, 1000, 4095, 12288, 40000])
@pytest.mark.parametrize("rows", [1, 7, 300])
def test_matches_reference(kernel: ModuleType, dtype: torch.dtype, hidden: int, rows: int) -> None:
    x, w = inputs(rows, hidden, dtype)
    out = kernel.rms_norm(x, w, 1e-6)
    assert out.shape == x.shape and out.dtype == dtype
    assert torch.isfinite(out).all()
    assert rel_err(out, reference(x, w, 1e-6)) < TOL[dtype]


@pytest.mark.parametrize("rows", [1, 2, 128, 4096, 65536])
def test_row_counts_hidden_4096(kernel: ModuleType, rows: int) -> None:
    x, w = inputs(rows, 4096, torch.bfloat16)
    out = kernel.rms_norm(x.view(1, rows, 4096), w, 1e-6)  # leading dims are flattened
    assert rel_err(out.view(rows, 4096), reference(x, w, 1e-6)) < TOL[torch.bfloat16]
    # Every row is written: compare per row, not only in aggregate.
    row_err = (out.view(rows, 4096).double() - reference(x, w, 1e-6)).norm(dim=-1)
    assert (row_err < 0.05 * 64).all()


def test_matches_transformers_module(kernel: ModuleType) -> None:
    from transformers.models.qwen3.modeling_qwen3 import Qwen3RMSNorm

    m = Qwen3RMSNorm(4096, eps=1e-6).cuda().to(torch.bfloat16)
    torch.nn.init.uniform_(m.weight, 0.5, 1.5)
    x = torch.randn(33, 4096, device="cuda", dtype=torch.bfloat16)
    out, ref = kernel.rms_norm(x, m.weight, 1e-6), m(x)
    # Same rounding points: at most one bf16 ulp apart, almost everywhere bit-equal.
    assert torch.allclose(out.float(), ref.float(), rtol=1e-2, atol=1e-2)
    assert (out == ref).float().mean() > 0.95


@pytest.mark.parametrize("eps", [1e-6, 1e-5, 1e-2, 1.0])
def test_eps(kernel: ModuleType, eps: float) -> None:
    x, w = inputs(16, 4096, torch.float32)
    x = x * 1e-3  # small rows, where eps matters
    assert rel_err(kernel.rms_norm(x, w, eps), reference(x, w, eps)) < 1e-6


@pytest.mark.parametrize("hidden", [128, 4096, 4095])
def test_nan_and_inf_propagate_to_their_row_only(kernel: ModuleType, hidden: int) -> None:
    x, w = inputs(4, hidden, torch.bfloat16)
    x[1, 5] = float("nan")
    x[2, 7] = float("inf")
    out = kernel.rms_norm(x, w, 1e-6)
    assert torch.isnan(out[1]).all()
    assert torch.isnan(out[2, 7])  # inf * rsqrt(inf) = inf * 0
    assert (out[2, :7] == 0).all() and (out[2, 8:] == 0).all()
    good = [0, 3]
    assert rel_err(out[good], reference(x[good], w, 1e-6)) < TOL[torch.bfloat16]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("hidden", [128, 4096, 4095])
def test_fused_add_in_place_semantics(kernel: ModuleType, dtype: torch.dtype, hidden: int) -> None:
    x, w = inputs(64, hidden, dtype)
    r = torch.randn_like(x)
    x0, r0 = x.clone(), r.clone()
    ptrs = (x.data_ptr(), r.data_ptr())
    out, res = kernel.fused_add_rms_norm(x, r, w, 1e-6)
    assert (out.data_ptr(), res.data_ptr()) == ptrs  # both updated in place
    s = (x0.float() + r0.float()).to(dtype)  # the residual is rounded to the dtype, as eager does
    assert torch.equal(r, s)
    assert rel_err(x, reference(s, w, 1e-6)) < TOL[dtype]


@pytest.mark.parametrize("hidden", [2048, 4096, 8192])
@pytest.mark.parametrize("rows", [16, 256, 1024, 2048, 3000, 8192])
def test_every_tuned_regime(kernel: ModuleType, hidden: int, rows: int) -> None:
    """The row counts where the tuned launch shape changes (block or warp per row, packets a
    thread), plain and fused, bf16: each shape the table can pick is exercised."""
    x, w = inputs(rows, hidden, torch.bfloat16)
    assert rel_err(kernel.rms_norm(x, w, 1e-6), reference(x, w, 1e-6)) < TOL[torch.bfloat16]
    r = torch.randn_like(x)
    s = (x.float() + r.float()).to(torch.bfloat16)
    kernel.fused_add_rms_norm(x, r, w, 1e-6)
    assert torch.equal(r, s)
    assert rel_err(x, reference(s, w, 1e-6)) < TOL[torch.bfloat16]


def test_zero_rows(kernel: ModuleType) -> None:
    x, w = inputs(0, 4096, torch.bfloat16)
    assert kernel.rms_norm(x, w, 1e-6).shape == (0, 4096)
    r = torch.empty_like(x)
    kernel.fused_add_rms_norm(x, r, w, 1e-6)


def test_unaligned_pointer_takes_the_fallback_correctly(kernel: ModuleType) -> None:
    base = torch.randn(5 * 4096 + 1, device="cuda", dtype=torch.bfloat16)
    x = base[1:].view(5, 4096)  # contiguous, but 2 bytes off 16-byte alignment
    w = torch.rand(4096, device="cuda", dtype=torch.bfloat16) + 0.5
    assert rel_err(kernel.rms_norm(x, w, 1e-6), reference(x, w, 1e-6)) < TOL[torch.bfloat16]


def test_refusals_on_gpu(kernel: ModuleType) -> None:
    x, w = inputs(4, 4096, torch.bfloat16)
    with pytest.raises(kernel.RMSNormInputError, match="weight is on cpu but x is on cuda"):
        kernel.rms_norm(x, w.cpu(), 1e-6)
    with pytest.raises(kernel.RMSNormInputError, match="not contiguous"):
        kernel.rms_norm(x[:, ::2], w[::2].contiguous(), 1e-6)


def test_compiled_op_checks_direct_calls() -> None:
    from kernels import get_local_kernel

    k = get_local_kernel(KERNEL_DIR)
    if k.BACKEND != "cuda":
        pytest.skip("no compiled variant")
    x = torch.randn(4, 64, device="cuda", dtype=torch.float64)
    with pytest.raises(RuntimeError, match="supported dtypes are bfloat16, float16 and float32"):
        k.ops.rms_norm(x, torch.ones(64, device="cuda", dtype=torch.float64), 1e-6)
    for h in (128, 1024, 4096, 32768, 32776, 4095):
        for dt in (torch.bfloat16, torch.float32):
            assert k.ops.kernel_path(h, str(dt).split(".")[-1]) == k.cuda_path(h, dt)
    assert k.ops.launch_config(4096, 4095, "bfloat16") == "scalar"
    assert k.ops.launch_config(1, 4096, "bfloat16").startswith(("block_per_row", "warp_per_row"))
    with pytest.raises(RuntimeError, match="dtype must be"):
        k.ops.launch_config(1, 4096, "int8")


# Every launch shape a sweep can force, on 4096-wide bf16 rows (512 packets): a block per row
# with 1..16 packets per thread (and the register-capped 2-packet variant), or a warp per row
# with 16. Odd row counts leave a partial block.
_SHAPES = [(nv, 0, 0) for nv in (1, 2, 4, 8, 16)] + [(2, 0, 6), (16, 32, 0)]


@pytest.mark.parametrize(("nv", "lanes", "min_blocks"), _SHAPES)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_forced_launch_shapes_agree(nv: int, lanes: int, min_blocks: int, dtype: torch.dtype) -> None:
    from kernels import get_local_kernel

    k = get_local_kernel(KERNEL_DIR)
    if k.BACKEND != "cuda":
        pytest.skip("no compiled variant")
    x, w = inputs(67, 4096, dtype)
    ref = reference(x, w, 1e-6)
    out = k.ops.rms_norm_config(x, w, 1e-6, nv, lanes, None, min_blocks)
    assert rel_err(out, ref) < TOL[dtype]
    r = torch.randn_like(x)
    s = (x.float() + r.float()).to(dtype)
    fused = k.ops.rms_norm_config(x, w, 1e-6, nv, lanes, r, min_blocks)
    assert torch.equal(r, s) and rel_err(fused, reference(s, w, 1e-6)) < TOL[dtype]
    # Reduction order differs between shapes: rare 1-ulp differences from the tuned choice.
    assert (out == k.rms_norm(x, w, 1e-6)).float().mean() > 0.99


def test_forced_launch_shape_that_cannot_cover_the_row_is_refused() -> None:
    from kernels import get_local_kernel

    k = get_local_kernel(KERNEL_DIR)
    if k.BACKEND != "cuda":
        pytest.skip("no compiled variant")
    x, w = inputs(4, 4096, torch.bfloat16)
    with pytest.raises(RuntimeError, match="kernel launch failed"):
        k.ops.rms_norm_config(x, w, 1e-6, 8, 32)  # 32 lanes x 8 packets < 512 packets
    with pytest.raises(RuntimeError, match="kernel launch failed"):
        k.ops.rms_norm_config(x, w, 1e-6, 3, 0)
    with pytest.raises(RuntimeError, match="kernel launch failed"):
        k.ops.rms_norm_config(x, w, 1e-6, 1, 0, None, 6)  # 512 threads: no register-capped variant


# What each case of scripts/error_paths.py (one bad direct torch.ops call) must say.
_ERROR_NEEDLES = {
    "fused_residual_shape": "residual shape (2, 4096) != x shape (4, 4096)",
    "fused_weight_dtype": "weight dtype",
    "fused_weight_shape": "weight shape (2048,) does not match hidden size 4096",
    "weight_shape": "weight shape (2048,) does not match hidden size 4096",
    "zero_hidden": "non-empty last (hidden) dimension, got shape (4, 0)",
    "weight_dtype": "weight dtype",
    "config_residual_shape": "residual and x differ in shape",
}


@pytest.mark.parametrize("case", sorted(import_script("scripts/error_paths.py", "rmsnorm_error_paths").CASES))
def test_compiled_op_error_paths(case: str) -> None:
    """Direct torch.ops calls refuse with RuntimeError and their message. In a child process, so a
    crash fails one case instead of killing the session (these paths segfaulted while the
    extension carried its own static libstdc++: README, known failures)."""
    import subprocess
    import sys

    from kernels import get_local_kernel

    if get_local_kernel(KERNEL_DIR).BACKEND != "cuda":
        pytest.skip("no compiled variant")
    script = KERNEL_DIR / "scripts" / "error_paths.py"
    proc = subprocess.run([sys.executable, str(script), case], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"rc={proc.returncode}: {proc.stdout[-1000:]} {proc.stderr[-2000:]}"
    assert f"{case}: RuntimeError: " in proc.stdout and _ERROR_NEEDLES[case] in proc.stdout, proc.stdout[-2000:]


def test_torch_compile_fullgraph(kernel: ModuleType) -> None:
    x, w = inputs(256, 4096, torch.bfloat16)
    r = torch.randn_like(x)

    def f(x: torch.Tensor, r: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        y = kernel.rms_norm(x * 2, w, 1e-6)
        a, b = x.clone(), r.clone()
        kernel.fused_add_rms_norm(a, b, w, 1e-6)
        return y + a + b

    torch._dynamo.reset()
    got = torch.compile(f, fullgraph=True)(x, r, w)
    want = f(x, r, w)
    assert torch.allclose(got.float(), want.float(), rtol=1e-2, atol=1e-2)


def test_cuda_graph_capture(kernel: ModuleType) -> None:
    x, w = inputs(128, 4096, torch.bfloat16)
    r = torch.randn_like(x)
    xs, rs = x.clone(), r.clone()
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        kernel.rms_norm(xs, w, 1e-6)
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        y = kernel.rms_norm(xs, w, 1e-6)
        kernel.fused_add_rms_norm(xs, rs, w, 1e-6)
    fresh_x, fresh_r = torch.randn_like(x), torch.randn_like(r)
    xs.copy_(fresh_x)
    rs.copy_(fresh_r)
    g.replay()
    torch.cuda.synchronize()
    assert rel_err(y, reference(fresh_x, w, 1e-6)) < TOL[torch.bfloat16]
    s_ref = (fresh_x.float() + fresh_r.float()).to(torch.bfloat16)
    assert torch.equal(rs, s_ref)


def test_kernelize_swaps_qwen3_norms() -> None:
    from kernels import LocalLayerRepository, Mode, kernelize, use_kernel_mapping
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from rmsnorm_helpers import ensure_qwen3_norm_extensible

    ensure_qwen3_norm_extensible()
    cfg = Qwen3Config(
        vocab_size=1000,
        hidden_size=512,
        intermediate_size=1024,
        num_hidden_layers=2,
        num_attention_heads=8,
        num_key_value_heads=2,
        head_dim=64,
    )
    torch.manual_seed(0)
    model = Qwen3ForCausalLM(cfg).cuda().to(torch.bfloat16).eval()
    for mod in model.modules():
        if type(mod).__name__ == "Qwen3RMSNorm":
            torch.nn.init.uniform_(mod.weight, 0.5, 1.5)
    ids = torch.randint(0, 1000, (2, 64), device="cuda")
    with torch.inference_mode():
        before = model(input_ids=ids).logits.float()
        mapping = {"RMSNorm": {"cuda": LocalLayerRepository(repo_path=KERNEL_DIR, layer_name="RMSNorm")}}
        with use_kernel_mapping(mapping):
            kernelize(model, mode=Mode.INFERENCE, device="cuda")
        assert model.model.norm.forward.__qualname__ == "RMSNorm.forward"
        assert model.model.layers[0].self_attn.q_norm.forward.__qualname__ == "RMSNorm.forward"
        after = model(input_ids=ids).logits.float()
    assert ((after - before).norm() / before.norm()).item() < 2e-2


def test_hot_path_errors_stay_typed(kernel: ModuleType) -> None:
    # The CUDA wrapper calls the op first and re-checks only on failure: same typed error.
    x, w = inputs(4, 4096, torch.bfloat16)
    with pytest.raises(kernel.RMSNormInputError, match="x is on cpu"):
        kernel.rms_norm(x.cpu(), w.cpu(), 1e-6)
    with pytest.raises(kernel.RMSNormInputError, match="weight dtype torch.float32 != x dtype torch.bfloat16"):
        kernel.rms_norm(x, w.float(), 1e-6)
    with pytest.raises(kernel.RMSNormInputError, match="residual shape"):
        kernel.fused_add_rms_norm(x, torch.randn(2, 4096, device="cuda", dtype=torch.bfloat16), w, 1e-6)


def test_layer_falls_back_for_mixed_dtypes(kernel: ModuleType) -> None:
    from transformers.models.qwen3.modeling_qwen3 import Qwen3RMSNorm

    ref = Qwen3RMSNorm(4096, eps=1e-6).cuda()  # fp32 weight, bf16 activations
    layer = kernel.layers.RMSNorm()
    layer.weight, layer.variance_epsilon = ref.weight, ref.variance_epsilon
    x = torch.randn(8, 4096, device="cuda", dtype=torch.bfloat16)
    with pytest.warns(UserWarning, match="falls back to the PyTorch formula"):
        out = layer(x)
    assert torch.equal(out, ref(x))
    xb, wb = inputs(8, 4096, torch.bfloat16)
    layer.weight = torch.nn.Parameter(wb)
    assert torch.equal(layer(xb), kernel.rms_norm(xb, wb, 1e-6))
