"""Fixtures for git-layer tests: small real repositories in tmp_path, no global git config."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.git_lab import hermetic_git, init_lab


@pytest.fixture(autouse=True)
def _hermetic_git(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    hermetic_git(monkeypatch, tmp_path)


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    """A lab repo on branch main with a protected evaluator, data and a training script."""
    files = {
        "train.py": "lr = 0.1\nepochs = 3\n",
        "prepare.py": "def evaluate():\n    return 1.0\n",
        "bench/suite/cases.txt": "a\nb\n",
        "data/corpus.txt": "hello\n",
    }
    return init_lab(tmp_path / "lab", files)
