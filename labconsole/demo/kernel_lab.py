"""The kernel lab (``labconsole demo --kernel``): the repository's RMSNorm kernel as a lab of its own.

The kernel folder (``kernels/rmsnorm`` of a LabConsole checkout) already holds everything a lab
needs — ``lab.toml``, the objective (``lab/objective.py``: build, correctness gate, the bench
harness), the knob header the sweep edits — so the lab is a copy of it in a scratch git repository,
with the kernel at the root (where ``labconsole publish`` expects a kernels repository).

Two things differ from the folder as committed, both so the session starts from an honest place:

* compiled variants (``build/torch*-cxx*``) are left out and ignored: their ``.so`` was built from
  the committed sources, not from what a candidate changes; the lab's runs build from source, and
  ``python lab/build.py assemble`` writes the variant of the merged sources before a publish;
* the knobs start at ``START``, a reasonable launch shape that is not the tuned one, so a session
  has a real improvement to find (the shipped header holds the tuned values).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from labconsole.core.params import read_params, write_params
from labconsole.errors import GitStateError, LabError

KNOBS_FILE = "rmsnorm/lab_knobs.h"
# 8 packets a thread (64 threads per 4096-wide row): ~94% of copy on the H100 sweep, where 2 packets
# (the tuned value) reach ~98.6% (benchmarks/results/rmsnorm_tune_h100_b523730.json, h4096_rows4096).
START = {"PACKETS_PER_THREAD": 8, "MIN_RESIDENT_THREADS": 0}
IGNORED = ("build/torch*-cxx*/", "bench.json", "__pycache__/", "*.pyc", "dist/", ".whl/")
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", "bench.json", ".whl", "dist")


def kernel_source() -> Path:
    """``kernels/rmsnorm`` of the checkout this labconsole runs from (it is not part of the wheel)."""
    return Path(__file__).resolve().parents[2] / "kernels" / "rmsnorm"


def default_kernel_lab_dir() -> Path:
    base = Path(os.environ.get("LABCONSOLE_DEMO_DIR", Path.home() / ".cache" / "labconsole" / "demos"))
    return base / time.strftime("kernel-lab-%Y%m%d-%H%M%S")


def _copy_ignore(src: str, names: list[str]) -> set[str]:
    skipped = set(_SKIP(src, names))
    if Path(src).name == "build":  # compiled variants: see the module docstring
        skipped |= {n for n in names if n.startswith("torch") and "-cxx" in n}
    return skipped


def create_kernel_lab(dest: Path, source: Path | None = None, start: dict[str, int] | None = None) -> Path:
    """Copy the kernel folder into ``dest`` (new or empty), set the starting knobs, commit once."""
    source = (source or kernel_source()).resolve()
    if not (source / "lab.toml").is_file():
        raise LabError(
            f"{source}: no lab.toml; the kernel lab runs from a LabConsole checkout "
            "(git clone the repository, then `labconsole demo --kernel` there), or pass --kernel-dir"
        )
    dest = Path(dest).resolve()
    if dest.exists() and any(dest.iterdir()):
        raise LabError(f"{dest} exists and is not empty: pick a new --dir")
    if shutil.which("git") is None:
        raise GitStateError("git not found on PATH: install git")
    shutil.copytree(source, dest, ignore=_copy_ignore, symlinks=True, dirs_exist_ok=True)
    (dest / ".gitignore").write_text("\n".join(IGNORED) + "\n", encoding="utf-8")
    knobs = dest / KNOBS_FILE
    values = dict(START if start is None else start)
    text = write_params(knobs.read_text(encoding="utf-8"), values)
    if read_params(text, list(values)) != values:
        raise LabError(f"{KNOBS_FILE}: the starting knobs {values} did not take")
    knobs.write_text(text, encoding="utf-8")
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "LabConsole demo",
        "GIT_AUTHOR_EMAIL": "demo@labconsole.invalid",
        "GIT_COMMITTER_NAME": "LabConsole demo",
        "GIT_COMMITTER_EMAIL": "demo@labconsole.invalid",
    }
    start_text = ", ".join(f"{k} = {v}" for k, v in values.items())
    for cmd in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "add", "-A"],
        ["git", "commit", "-q", "-m", f"Kernel lab: rmsnorm, starting at {start_text}"],
    ):
        result = subprocess.run(cmd, cwd=dest, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise GitStateError(f"{' '.join(cmd)} failed in {dest}: {result.stderr.strip()}")
    return dest
