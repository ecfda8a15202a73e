"""Names and records of the git layer: lab branch and archive ref prefixes, hypothesis ids, worktrees."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from labconsole.errors import GitStateError

LAB_BRANCH_PREFIX = "lab/"
ARCHIVE_PREFIX = "refs/labconsole/archive/"
WORKTREES_DIR = Path(".labconsole") / "worktrees"
# Worktrees whose git pointers an agent rewrote are moved here, never deleted.
QUARANTINE_DIR = Path(".labconsole") / "quarantine"
DEFAULT_AGENT = "LabConsole agent <agent@labconsole>"

# Conservative subset of git's ref rules: one path component, no "..", no ".lock".
_HYP_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
AUTHOR_RE = re.compile(r"^\s*(?P<name>[^<>]+?)\s*<(?P<email>[^<>]*)>\s*$")


@dataclass
class Worktree:
    hyp_id: str
    path: Path
    branch: str
    base_sha: str


@dataclass
class DiffStats:
    files: list[str]
    additions: int
    deletions: int


def validate_hyp_id(hyp_id: str) -> str:
    """Return ``hyp_id`` if it is safe as a branch component and a directory name, else raise."""
    if (
        not isinstance(hyp_id, str)
        or not _HYP_ID_RE.match(hyp_id)
        or ".." in hyp_id
        or hyp_id.endswith(".lock")
        or hyp_id.endswith(".")
    ):
        raise GitStateError(
            f"invalid hypothesis id {hyp_id!r}: use letters, digits, '.', '_' or '-' "
            "(start with a letter or digit, at most 100 characters)"
        )
    return hyp_id
