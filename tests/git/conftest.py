"""Fixtures for git-layer tests: small real repositories in tmp_path, no global git config."""

from __future__ import annotations

from pathlib import Path

import pytest
from gitrepo_util import sh, write


@pytest.fixture(autouse=True)
def _hermetic_git(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # No user/global config: tests must also prove the default-identity fallback works.
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    for var in (
        "GIT_AUTHOR_NAME",
        "GIT_AUTHOR_EMAIL",
        "GIT_COMMITTER_NAME",
        "GIT_COMMITTER_EMAIL",
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
    ):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    """A lab repo on branch main with a protected evaluator, data and a training script."""
    root = tmp_path / "lab"
    root.mkdir()
    sh(root, "init", "-q", "-b", "main")
    sh(root, "config", "user.name", "Lab Owner")
    sh(root, "config", "user.email", "owner@example.com")
    write(root / "train.py", "lr = 0.1\nepochs = 3\n")
    write(root / "prepare.py", "def evaluate():\n    return 1.0\n")
    write(root / "bench" / "suite" / "cases.txt", "a\nb\n")
    write(root / "data" / "corpus.txt", "hello\n")
    sh(root, "add", "-A")
    sh(root, "commit", "-q", "-m", "lab")
    return root
