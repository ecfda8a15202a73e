"""Helpers for git-layer tests (plain git via subprocess, independent of the code under test)."""

from __future__ import annotations

import subprocess
from pathlib import Path

PROTECTED = ["prepare.py", "bench/**", "data/**"]


def sh(cwd: Path, *args: str) -> str:
    """Run git in cwd and return stripped stdout (raises on failure)."""
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
