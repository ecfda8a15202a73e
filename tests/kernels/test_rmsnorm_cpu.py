"""CPU-runnable tests of rmsnorm's pure-Python parts: input checks, layer mapping, build
description, variant naming and the committed build/ layout."""

from __future__ import annotations

import json
import os
import tomllib
import warnings
from pathlib import Path

import pytest
import torch
from rmsnorm_helpers import ARCH_VARIANT, KERNEL_DIR, NOARCH_VARIANT, import_script, import_source_package

rms = import_source_package()
build = import_script("scripts/build_variants.py", "rmsnorm_build_variants")


def _x(shape=(4, 64), dtype=torch.bfloat16) -> torch.Tensor:
    return torch.randn(*shape, dtype=dtype)


@pytest.mark.parametrize(
    ("x", "w", "needle"),
    [
        (
            _x(dtype=torch.float64),
            torch.ones(64, dtype=torch.float64),
            "supported dtypes are bfloat16, float16 and float32",
        ),
        (_x(), torch.ones(64, dtype=torch.float32), "weight dtype torch.float32 != x dtype torch.bfloat16"),
        (_x(), torch.ones(32, dtype=torch.bfloat16), "weight shape (32,) does not match hidden size 64"),
        (_x((64, 4)).t(), torch.ones(64, dtype=torch.bfloat16), "x is not contiguous; call .contiguous() first"),
        (_x((4, 0)), torch.ones(0, dtype=torch.bfloat16), "non-empty last (hidden) dimension"),
        (_x(), torch.ones(64, dtype=torch.bfloat16), "x is on cpu; this kernel needs CUDA tensors"),
    ],
)
def test_rms_norm_refuses_with_clear_message(x: torch.Tensor, w: torch.Tensor, needle: str) -> None:
    with pytest.raises(rms.RMSNormInputError) as exc:
        rms.rms_norm(x, w)
    assert needle in str(exc.value)
    assert isinstance(exc.value, ValueError)


def test_fused_checks_residual() -> None:
    w = torch.ones(64, dtype=torch.bfloat16)
    with pytest.raises(rms.RMSNormInputError, match="residual has dtype"):
        rms.fused_add_rms_norm(_x(), _x().to(torch.int32), w)
    with pytest.raises(rms.RMSNormInputError, match="residual shape"):
        rms.check_fused_inputs(_x(), _x((2, 64)), w)


def test_triton_refuses_rows_too_long() -> None:
    x, w = _x((1, 70000)), torch.ones(70000, dtype=torch.bfloat16)
    reason = rms._validate.unsupported_reason(x, w, max_hidden=rms._validate.TRITON_MAX_HIDDEN)
    assert reason is not None and "is refused; use the CUDA variant" in reason


@pytest.mark.parametrize(
    ("hidden", "dtype", "path"),
    [
        (128, torch.bfloat16, "vectorized"),  # Qwen3 q/k norm (head_dim)
        (1024, torch.bfloat16, "vectorized"),
        (4096, torch.bfloat16, "vectorized"),  # Qwen3-8B hidden
        (32768, torch.bfloat16, "vectorized"),
        (32776, torch.bfloat16, "scalar"),  # longer than 64 KiB
        (4095, torch.bfloat16, "scalar"),  # not a multiple of 16 bytes
        (4092, torch.float32, "vectorized"),
        (0, torch.float16, "unsupported"),
    ],
)
def test_cuda_path_choice(hidden: int, dtype: torch.dtype, path: str) -> None:
    assert rms.cuda_path(hidden, dtype) == path


def test_layer_passes_kernels_layer_validation_and_falls_back_exactly() -> None:
    from kernels.layer.layer import _validate_layer
    from transformers.models.qwen3.modeling_qwen3 import Qwen3RMSNorm

    _validate_layer(check_cls=Qwen3RMSNorm, cls=rms.layers.RMSNorm, repo="rmsnorm-local")
    ref = Qwen3RMSNorm(64, eps=1e-6).to(torch.bfloat16)
    torch.nn.init.uniform_(ref.weight, 0.5, 1.5)
    layer = rms.layers.RMSNorm()
    layer.weight, layer.variance_epsilon = ref.weight, ref.variance_epsilon
    x = _x((3, 5, 64))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = layer(x)
    assert torch.equal(out, ref(x))  # the CPU fallback is the transformers formula
    assert any("falls back to the PyTorch formula" in str(w.message) for w in caught)


def test_build_toml_lists_existing_sources_for_sm90() -> None:
    cfg = tomllib.loads((KERNEL_DIR / "build.toml").read_text())
    assert cfg["general"]["name"] == "rmsnorm"
    kernel = cfg["kernel"]["rmsnorm"]
    assert kernel["backend"] == "cuda" and kernel["cuda-capabilities"] == ["9.0"]
    for src in kernel["src"] + cfg["torch"]["src"]:
        assert (KERNEL_DIR / src).is_file(), src
    assert "-gencode=arch=compute_90,code=sm_90" in build.NVCC_FLAGS


def test_variant_name_matches_kernels_parser() -> None:
    from kernels.variants import ArchVariant, parse_variant

    name = build.variant_name("2.11.0+cu130", "13.0", True, "x86_64", "linux")
    assert name == ARCH_VARIANT
    v = parse_variant(name)
    assert isinstance(v, ArchVariant) and v.variant_str == name


def test_committed_variants_resolve_for_their_systems() -> None:
    from kernels._rust import Metadata
    from kernels.backends import CPU, CUDA
    from kernels.variants import _resolve_variant_for_system, get_variants_local
    from packaging.version import Version

    variants = get_variants_local(KERNEL_DIR / "build")
    names = {v.variant_str for v in variants}
    assert NOARCH_VARIANT in names
    for name in names:
        meta = Metadata.read_from_file(KERNEL_DIR / "build" / name / "metadata.json")
        assert meta.name.python_name == "rmsnorm"

    def best(cuda: str | None, torch_v: str) -> str | None:
        backend = CUDA(version=Version(cuda)) if cuda else CPU()
        chosen, _ = _resolve_variant_for_system(variants, backend, "x86_64", "linux", Version(torch_v), True, None)
        return chosen[0].variant_str if chosen else None

    # The H100 machine (torch 2.11, CUDA 13.0) prefers the compiled variant when it is there.
    assert best("13.0", "2.11") == (ARCH_VARIANT if ARCH_VARIANT in names else NOARCH_VARIANT)
    # Any other CUDA torch gets the portable Triton variant; CPU gets nothing.
    assert best("12.8", "2.9") == NOARCH_VARIANT
    assert best(None, "2.11") is None


def test_variant_python_files_link_to_sources() -> None:
    src = KERNEL_DIR / "torch-ext" / "rmsnorm"
    py = sorted(p.name for p in src.glob("*.py"))
    for variant in (KERNEL_DIR / "build").iterdir():
        assert sorted(p.name for p in variant.glob("*.py")) == py, variant.name
        for name in py:
            link = variant / name
            # Relative links, so the checkout works wherever it lies (device copies, worktrees).
            assert link.is_symlink() and not Path(os.readlink(link)).is_absolute(), (
                f"{link} is not a relative link: rerun scripts/build_variants.py assemble"
            )
            assert link.resolve() == (src / name).resolve(), link
        meta = json.loads((variant / "metadata.json").read_text())
        assert meta == build.metadata(variant.name)


def test_benchmark_file_follows_kernels_benchmark_layout() -> None:
    from kernels.benchmark import Benchmark

    mod = import_script("benchmarks/benchmark_rmsnorm.py", "rmsnorm_benchmark_layout")
    cls = mod.RMSNormBenchmark
    assert issubclass(cls, Benchmark)
    workloads = [n.removeprefix("benchmark_") for n in dir(cls) if n.startswith("benchmark_")]
    assert "rows4096" in workloads and "decode_rows1" in workloads
    for w in workloads:
        assert hasattr(cls, f"setup_{w}") and hasattr(cls, f"verify_{w}")


def test_compiled_builds_list_matches_build_dir() -> None:
    arch = sorted(p.name for p in (KERNEL_DIR / "build").iterdir() if p.name != NOARCH_VARIANT)
    assert sorted(rms._ops.COMPILED_FOR) == arch
    line = rms._ops.triton_notice("2.13.0+cu130", "13.0")
    assert "\n" not in line and "torch 2.13.0+cu130" in line and arch[0] in line


def test_layer_steps_aside_under_torch_compile() -> None:
    """Compiled, the layer traces the transformers formula (no opaque op), so inductor can fuse the residual add."""
    from transformers.models.qwen3.modeling_qwen3 import Qwen3RMSNorm

    ref = Qwen3RMSNorm(64, eps=1e-6).to(torch.bfloat16)
    torch.nn.init.uniform_(ref.weight, 0.5, 1.5)
    layer = rms.layers.RMSNorm()
    layer.weight, layer.variance_epsilon = ref.weight, ref.variance_epsilon
    graphs: list[torch.fx.GraphModule] = []

    def record(gm: torch.fx.GraphModule, _inputs: list[torch.Tensor]):
        graphs.append(gm)
        return gm.forward

    x = _x((3, 5, 64))
    torch._dynamo.reset()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = torch.compile(layer, backend=record, fullgraph=True)(x)
    assert torch.equal(out, ref(x))
    assert not any("falls back" in str(w.message) for w in caught)  # stepping aside is not a fallback
    targets = " ".join(str(n.target) for gm in graphs for n in gm.graph.nodes)
    assert graphs and "rsqrt" in targets and "_rmsnorm_lc_cuda" not in targets and "rms_norm" not in targets
