"""Assembling the Hub-ready folder of a kernel repository, and checking that ``kernels`` can load it."""

from __future__ import annotations

import json
import shutil
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labconsole.errors import LabError
from labconsole.publish.approval import PublishApproval

# What a Hub kernel repository carries: the built variants, the card, the build recipe and sources.
INCLUDE = ("build", "README.md", "build.toml", "torch-ext", "benchmarks", "tests")
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")


@dataclass(frozen=True)
class LoadCheck:
    loaded: bool
    detail: str  # what loaded, or why it could not be tried here


def kernel_name(kernel_dir: Path) -> str:
    build_toml = kernel_dir / "build.toml"
    if not build_toml.exists():
        raise LabError(f"{kernel_dir} has no build.toml: not a kernels repository")
    try:
        return tomllib.loads(build_toml.read_text())["general"]["name"]
    except (tomllib.TOMLDecodeError, KeyError):
        raise LabError(f"{build_toml}: needs [general] name") from None


def variants(kernel_dir: Path) -> list[Path]:
    build = kernel_dir / "build"
    found = sorted(p for p in build.iterdir() if p.is_dir() and (p / "__init__.py").exists()) if build.is_dir() else []
    if not found:
        raise LabError(
            f"{kernel_dir}/build has no variant folders (build/<variant>/__init__.py): build the kernel first"
        )
    return found


def assemble(kernel_dir: Path, approval: PublishApproval, out_dir: Path) -> Path:
    """Copy the repository's publishable parts to ``out_dir`` with the approved evidence and provenance."""
    name = kernel_name(kernel_dir)
    variants(kernel_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    for item in INCLUDE:
        src = kernel_dir / item
        if src.is_dir():
            shutil.copytree(src, out_dir / item, ignore=SKIP)
        elif src.is_file():
            shutil.copy2(src, out_dir / item)
    (out_dir / "benchmarks").mkdir(exist_ok=True)
    (out_dir / "benchmarks" / "approved_results.json").write_text(json.dumps(approval.bench, indent=2))
    provenance: dict[str, Any] = {
        "kernel": name,
        "commit": approval.head_sha,
        "approved_commit": approval.approved_sha,
        "evidence_hash": approval.evidence_hash,
        "approved_by": approval.who,
        "hypothesis": approval.hyp_id,
        "session": approval.session_dir.name,
        "bench_blob": approval.bench_blob,
        "device": (approval.bench.get("provenance") or {}).get("device"),
        "assembled": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (out_dir / "PROVENANCE.json").write_text(json.dumps(provenance, indent=2))
    return out_dir


def check_loads(repo_dir: Path) -> LoadCheck:
    """Load the assembled repository the way users will (``kernels.get_local_kernel``).

    On a machine with no matching variant (e.g. no GPU) that cannot succeed; the
    reason ``kernels`` gives is reported rather than hidden or faked.
    """
    from kernels import get_local_kernel  # type: ignore[attr-defined]  # mypy finds the repo's kernels/ folder

    try:
        module = get_local_kernel(repo_dir)
    except (FileNotFoundError, ValueError, ImportError, OSError) as exc:
        return LoadCheck(False, " ".join(str(exc).split())[:500])
    ops = [n for n in ("rms_norm", "fused_add_rms_norm") if hasattr(module, n)]
    return LoadCheck(True, f"loaded {getattr(module, '__name__', 'module')} with {', '.join(ops) or 'no known ops'}")
