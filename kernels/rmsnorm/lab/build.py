"""The kernel lab's build: the compiled extension from this checkout's sources, cached by their hash.

    python lab/build.py            # prints the path of _rmsnorm_lc_cuda.so for these sources
    python lab/build.py assemble   # also writes build/<variant>/ here (what `publish` ships)

Every measurement run of the lab calls this on its own checkout. A candidate's sources hash to a
new key and compile once (nvcc on the .cu only: the binding's object is reused from a stable
staging copy, so ninja recompiles just what changed); the baseline's and repeated runs' builds are
cache hits. The compiler flags and toolchain are scripts/build_variants.py's, the ones the
committed variant was built with. Cache: $RMSNORM_LAB_CACHE, else $XDG_CACHE_HOME/rmsnorm-lab,
else ~/.cache/rmsnorm-lab (inside a bubblewrap sandbox the home is per run, so only that run's
repeats hit it).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import build_variants as bv  # noqa: E402  (scripts/ is no package)

# The files the extension is compiled from (build.toml's src lists, and the build recipe itself).
SOURCES = (
    "rmsnorm/rmsnorm.h",
    "rmsnorm/rmsnorm_kernels.cu",
    "rmsnorm/tuned_shapes.h",
    "rmsnorm/lab_knobs.h",
    "torch-ext/torch_binding.cpp",
    "torch-ext/torch_binding.h",
    "scripts/build_variants.py",
)


def cache_dir() -> Path:
    if os.environ.get("RMSNORM_LAB_CACHE"):
        return Path(os.environ["RMSNORM_LAB_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rmsnorm-lab"


def source_key(root: Path, torch_version: str, cuda_version: str | None) -> str:
    """Hash of every source file's bytes, the flags and the torch/CUDA build they compile against."""
    h = hashlib.sha256()
    for rel in SOURCES:
        h.update(rel.encode() + b"\0" + (root / rel).read_bytes() + b"\0")
    h.update(" ".join(bv.NVCC_FLAGS).encode() + f"\0{torch_version}\0{cuda_version}".encode())
    return h.hexdigest()[:20]


def cached_so(root: Path = ROOT) -> Path | None:
    """The cached extension for these sources, when one was built (no compiler started)."""
    import torch

    so = cache_dir() / "so" / source_key(root, torch.__version__, torch.version.cuda) / f"{bv.LIB_NAME}.so"
    return so if so.is_file() else None


def _stage(root: Path, stage: Path) -> None:
    """Copy the sources to the stable staging dir, rewriting only files whose bytes changed: ninja
    keys on paths and mtimes, so an unchanged binding keeps its object file."""
    for rel in SOURCES:
        src, dst = root / rel, stage / rel
        data = src.read_bytes()
        if dst.is_file() and dst.read_bytes() == data:
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(data)


def build(root: Path = ROOT, log: bool = False) -> Path:
    """The .so for ``root``'s sources: from the cache, else compiled (one build at a time per cache)."""
    import torch

    key = source_key(root, torch.__version__, torch.version.cuda)
    cache = cache_dir()
    dest = cache / "so" / key / f"{bv.LIB_NAME}.so"
    if dest.is_file():
        return dest
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if dest.is_file():  # another run built it while this one waited
            return dest
        stage = cache / "stage"
        _stage(root, stage)
        # torch's cpp_extension takes its lock file inside build_directory and does not create it
        (cache / "ninja").mkdir(parents=True, exist_ok=True)
        from torch.utils import cpp_extension

        os.environ.update(bv.toolchain())
        cpp_extension.load(
            name=bv.LIB_NAME,
            sources=[str(stage / "torch-ext" / "torch_binding.cpp"), str(stage / "rmsnorm" / "rmsnorm_kernels.cu")],
            extra_cflags=["-O3", "-std=c++17"],
            extra_cuda_cflags=bv.NVCC_FLAGS,
            build_directory=str(cache / "ninja"),
            is_python_module=False,
            verbose=log,
        )
        tmp = dest.with_suffix(".tmp")
        tmp.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(cache / "ninja" / f"{bv.LIB_NAME}.so", tmp)
        tmp.replace(dest)
    return dest


def main(argv: list[str]) -> int:
    so = build(ROOT, log="-v" in argv)
    if "assemble" in argv:
        import torch

        variant = bv.variant_name(torch.__version__, torch.version.cuda, torch.compiled_with_cxx11_abi())
        print(bv.assemble(variant, so, ROOT / "build"), file=sys.stderr)
    print(so)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
