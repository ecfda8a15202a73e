"""What an eval result was measured with, so that two result sets can be compared honestly.

Every attempt records the repository commit, a hash of the skill's files, a hash of its case's
files, the backend and model, and the harness version (labconsole's version plus a hash of the
code that runs and judges attempts): a changed number then comes with the change that explains it.
"""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import labconsole

SKIP = frozenset({"__pycache__", ".git", "node_modules", ".venv"})
# The code whose change changes what a result means: the eval harness and the agent runner.
HARNESS_SOURCES = ("evals", "agents")


def tree_hash(*roots: Path) -> str:
    """sha256 over the relative paths and bytes of every file under ``roots`` (short, 16 hex)."""
    h = hashlib.sha256()
    for root in roots:
        root = Path(root)
        files = (
            [root]
            if root.is_file()
            else sorted(
                p
                for p in root.rglob("*")
                if p.is_file() and not SKIP.intersection(p.relative_to(root).parts) and p.suffix != ".pyc"
            )
        )
        for p in files:
            h.update(str(p.relative_to(root) if p != root else p.name).encode() + b"\0")
            h.update(p.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def repo_commit(path: Path) -> str:
    """The commit ``path`` is checked out at, with ``+dirty`` for uncommitted changes; '' outside git."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(path), *args], capture_output=True, text=True, timeout=10
        ).stdout.strip()

    try:
        sha = git("rev-parse", "HEAD")
        if not sha:
            return ""
        return sha + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")
    except (OSError, subprocess.SubprocessError):
        return ""


@lru_cache(maxsize=1)
def harness_version() -> str:
    package = Path(labconsole.__file__).parent
    return f"labconsole {labconsole.__version__} ({tree_hash(*(package / d for d in HARNESS_SOURCES))})"


@dataclass(frozen=True)
class Provenance:
    repo_commit: str
    skill_hash: str
    harness: str

    @classmethod
    def of(cls, skill_dir: Path, repo: Path) -> Provenance:
        return cls(repo_commit(repo), tree_hash(skill_dir), harness_version())
