"""Small real git labs for tests: plain git via subprocess (independent of the code under test), no
user or system git config leaking in."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

# Variables that would point git at another repository or give it an identity the test did not choose.
_LEAKY_GIT_VARS = (
    "GIT_AUTHOR_NAME",
    "GIT_AUTHOR_EMAIL",
    "GIT_COMMITTER_NAME",
    "GIT_COMMITTER_EMAIL",
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
)


def sh(cwd: Path, *args: str) -> str:
    """Run git in cwd and return stripped stdout (raises on failure)."""
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def hermetic_git(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No user/global config and no inherited identity: tests also prove the default-identity fallback."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    for var in _LEAKY_GIT_VARS:
        monkeypatch.delenv(var, raising=False)


def init_lab(root: Path, files: dict[str, str]) -> Path:
    """A lab repo at ``root`` on branch main, owned by "Lab Owner", with ``files`` in one commit."""
    root.mkdir(parents=True)
    sh(root, "init", "-q", "-b", "main")
    sh(root, "config", "user.name", "Lab Owner")
    sh(root, "config", "user.email", "owner@example.com")
    for name, text in files.items():
        write(root / name, text)
    sh(root, "add", "-A")
    sh(root, "commit", "-q", "-m", "lab")
    return root
