"""A repository laid out like karpathy/autoresearch (prepare.py, train.py, program.md, pyproject.toml and an
untracked results.tsv), copied fresh for each test and committed as a person's clone would be."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from byol.repo_fixture import git

FIXTURE = Path(__file__).resolve().parent / "autoresearch_repo"


@pytest.fixture
def autoresearch_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    repo = tmp_path / "autoresearch"
    shutil.copytree(FIXTURE, repo, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # nothing of the person's ~/.cache is read
    git(repo, "init", "-q", "-b", "master")
    # autoresearch keeps results.tsv untracked; everything else is committed.
    git(repo, "add", "prepare.py", "train.py", "program.md", "pyproject.toml", "data")
    git(repo, "commit", "-qm", "autoresearch fixture")
    return repo
