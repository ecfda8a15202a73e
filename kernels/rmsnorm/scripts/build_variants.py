"""Build and assemble the kernels-layout variants of this kernel.

    python scripts/build_variants.py compile OUT_DIR      # on a CUDA machine: builds the .so
    python scripts/build_variants.py assemble [--so PATH] [--variant NAME]

`assemble` without --so writes the noarch Triton variant build/torch-cuda; with --so it
writes the arch variant (name derived from the running torch unless --variant is given).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "torch-ext" / "rmsnorm"
LIB_NAME = "_rmsnorm_lc_cuda"
NOARCH_VARIANT = "torch-cuda"
NVCC_FLAGS = ["-O3", "-std=c++17", "-gencode=arch=compute_90,code=sm_90", "-lineinfo"]


def variant_name(
    torch_version: str, cuda_version: str, cxx11_abi: bool, machine: str | None = None, os_name: str | None = None
) -> str:
    """kernels' arch variant name, e.g. torch211-cxx11-cu130-x86_64-linux."""
    major, minor = torch_version.split("+")[0].split(".")[:2]
    cu_major, cu_minor = cuda_version.split(".")[:2]
    machine = machine or platform.machine()
    os_name = os_name or platform.system().lower()
    abi = "cxx11" if cxx11_abi else "cxx98"
    return f"torch{major}{minor}-{abi}-cu{cu_major}{cu_minor}-{machine}-{os_name}"


def metadata(variant: str) -> dict:
    cuda = variant != NOARCH_VARIANT
    return {
        "id": "rmsnorm_" + variant.replace("-", "_"),
        "name": "rmsnorm",
        "version": 1,
        "license": "Apache-2.0",
        "python-depends": [],
        "backend": {"type": "cuda", **({"archs": ["9.0"]} if cuda else {})},
    }


def assemble(variant: str, so: Path | None, build_dir: Path = ROOT / "build") -> Path:
    """Write build/<variant>: the package's .py files as relative links, the .so, metadata.json.

    The kernels layout wants the Python package inside every variant; links keep torch-ext/rmsnorm
    the one source (imports keep the link's path, so `_ops` still finds the variant's .so), and
    publishing copies the linked files' contents (shutil.copytree follows links)."""
    dest = build_dir / variant
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for src in sorted(PKG.glob("*.py")):
        (dest / src.name).symlink_to(os.path.relpath(src, dest))
    if so is not None:
        shutil.copy2(so, dest / f"{LIB_NAME}.so")
    (dest / "metadata.json").write_text(json.dumps(metadata(variant), indent=2) + "\n")
    return dest


def toolchain() -> dict[str, str]:
    """CC/CXX for the build: RMSNORM_CC/RMSNORM_CXX if set, else the system gcc when present.

    The H100 device image's default compiler (/opt/gcc) links libstdc++ statically into the
    extension, which then carries a second libstdc++ beside torch's; formatting an integer in
    a C++ error message crashed through it (README, known failures). The system g++ links it
    dynamically, as torch itself does."""
    cxx = os.environ.get("RMSNORM_CXX") or ("/usr/bin/g++" if Path("/usr/bin/g++").exists() else None)
    cc = os.environ.get("RMSNORM_CC") or ("/usr/bin/gcc" if Path("/usr/bin/gcc").exists() else None)
    return {k: v for k, v in (("CXX", cxx), ("CC", cc)) if v}


def libstdcxx_linkage(so: Path) -> str:
    """'dynamic' if the .so loads libstdc++.so, 'static' if it carries its own copy."""
    needed = subprocess.run(["readelf", "-d", str(so)], capture_output=True, text=True).stdout
    return "dynamic" if "libstdc++" in needed else "static"


def compile_extension(out_dir: Path) -> Path:
    """Build the .so into out_dir with the preferred toolchain, else torch's default one."""
    tc = toolchain()
    try:
        return _compile(out_dir, tc)
    except Exception as exc:  # noqa: BLE001 - any build failure: retry with torch's default
        if not tc:
            raise
        print(f"build with {tc} failed ({type(exc).__name__}); retrying with torch's default compiler", flush=True)
        for k in tc:
            os.environ.pop(k, None)
        return _compile(out_dir / "default-toolchain", {})


def _compile(out_dir: Path, tc: dict[str, str]) -> Path:
    from torch.utils import cpp_extension

    out_dir.mkdir(parents=True, exist_ok=True)
    os.environ.update(tc)
    print(f"toolchain: {tc or 'torch default'}", flush=True)
    cpp_extension.load(
        name=LIB_NAME,
        sources=[str(ROOT / "torch-ext" / "torch_binding.cpp"), str(ROOT / "rmsnorm" / "rmsnorm_kernels.cu")],
        extra_cflags=["-O3", "-std=c++17"],
        extra_cuda_cflags=NVCC_FLAGS,
        build_directory=str(out_dir),
        is_python_module=False,
        verbose=True,
    )
    so = out_dir / f"{LIB_NAME}.so"
    print(f"libstdc++ linkage: {libstdcxx_linkage(so)}", flush=True)
    return so


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("compile")
    c.add_argument("out_dir", type=Path)
    a = sub.add_parser("assemble")
    a.add_argument("--so", type=Path)
    a.add_argument("--variant")
    a.add_argument("--build-dir", type=Path, default=ROOT / "build")
    args = ap.parse_args(argv)
    if args.cmd == "compile":
        print(compile_extension(args.out_dir))
        return 0
    if args.so is None:
        print(assemble(NOARCH_VARIANT, None, args.build_dir))
        return 0
    variant = args.variant
    if variant is None:
        import torch

        variant = variant_name(torch.__version__, torch.version.cuda, torch.compiled_with_cxx11_abi())
    print(assemble(variant, args.so, args.build_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
