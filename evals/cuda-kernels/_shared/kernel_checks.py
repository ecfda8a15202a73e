"""Static and runtime checks shared by the cuda-kernels eval cases (a protected file: do not edit)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent


def triton_kernels(source_file: str) -> list[str]:
    """Names of functions decorated with ``triton.jit`` (or ``triton.autotune``) in ``source_file``."""
    tree = ast.parse((ROOT / source_file).read_text())
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            if any("jit" in ast.unparse(d) or "autotune" in ast.unparse(d) for d in node.decorator_list):
                names.append(node.name)
    return names


def imports_without_triton(module: str) -> subprocess.CompletedProcess:
    """Import ``module`` in a fresh interpreter where ``import triton`` fails."""
    code = (
        "import builtins\n"
        "real = builtins.__import__\n"
        "def fake(name, *a, **k):\n"
        "    if name == 'triton' or name.startswith('triton.'):\n"
        "        raise ImportError('no triton here')\n"
        "    return real(name, *a, **k)\n"
        "builtins.__import__ = fake\n"
        f"import {module}\n"
    )
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)


def assert_module_contract(module: str) -> None:
    """The case's module imports where Triton is missing (its CPU fallback) and defines a Triton kernel."""
    proc = imports_without_triton(module)
    assert proc.returncode == 0, proc.stderr
    assert triton_kernels(f"{module}.py"), f"{module}.py defines no @triton.jit kernel"


def kernels_launched(fn) -> str:
    """Run ``fn`` under the CUDA profiler; return the launched kernel names (for 'did the Triton kernel run')."""
    import torch

    fn()  # compile outside the profiler
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize()
    return " ".join(e.key for e in prof.key_averages())
