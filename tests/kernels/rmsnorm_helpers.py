"""Shared helpers for the rmsnorm tests: paths and an import of the kernel's Python package."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
KERNEL_DIR = ROOT / "kernels" / "rmsnorm"
ARCH_VARIANT = "torch211-cxx11-cu130-x86_64-linux"
NOARCH_VARIANT = "torch-cuda"


def import_source_package() -> ModuleType:
    """The torch-ext/rmsnorm package straight from source (no compiled library: Triton or none)."""
    name = "rmsnorm_src_under_test"
    if name in sys.modules:
        return sys.modules[name]
    init = KERNEL_DIR / "torch-ext" / "rmsnorm" / "__init__.py"
    spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=[str(init.parent)])
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def import_script(rel: str, name: str) -> ModuleType:
    path = KERNEL_DIR / rel
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def ensure_qwen3_norm_extensible() -> bool:
    """Mark transformers' Qwen3RMSNorm as the kernels layer "RMSNorm" if transformers did not:
    the end-to-end benchmark's helper (benchmarks/e2e_qwen3.py), so tests and benchmark swap alike."""
    return import_script("benchmarks/e2e_qwen3.py", "rmsnorm_e2e_qwen3").ensure_qwen3_norm_extensible()
