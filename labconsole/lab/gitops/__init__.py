"""The git layer of a lab: worktrees per hypothesis, measurement checkouts, gated merges, archiving.

Every hypothesis lives on branch ``lab/<hyp_id>`` in a worktree under
``<root>/.labconsole/worktrees/<hyp_id>``. The console measures candidates in
throw-away detached checkouts, merges only an approved SHA, and never deletes a
commit that is not on the main branch: it archives it under
``refs/labconsole/archive/<hyp_id>/<UTC timestamp>`` first.

Modules: ``plumbing`` (the locked git runner), ``guard`` (what every git command runs under:
no hooks, fsmonitor, drivers, helpers or includes), ``pointers`` (a worktree's ``.git`` must be
the one git wrote), ``worktrees``, ``protection``
(diffs, protected files), ``merge``, ``archive``; ``records`` and ``globs`` hold
the names and pure helpers they share.
"""

from __future__ import annotations

from labconsole.lab.gitops.archive import ArchiveOps
from labconsole.lab.gitops.globs import matches_any, matches_glob
from labconsole.lab.gitops.merge import MergeOps
from labconsole.lab.gitops.plumbing import STALE_LOCK_S, run_git
from labconsole.lab.gitops.pointers import WorktreeTamperedError
from labconsole.lab.gitops.protection import ProtectionOps
from labconsole.lab.gitops.records import (
    ARCHIVE_PREFIX,
    DEFAULT_AGENT,
    LAB_BRANCH_PREFIX,
    WORKTREES_DIR,
    DiffStats,
    Worktree,
    validate_hyp_id,
)
from labconsole.lab.gitops.worktrees import WorktreeOps


class LabRepo(WorktreeOps, ProtectionOps, MergeOps, ArchiveOps):
    """A lab's git repository. Thread-safe: every git call holds the repository's lock."""


__all__ = [
    "ARCHIVE_PREFIX",
    "DEFAULT_AGENT",
    "LAB_BRANCH_PREFIX",
    "STALE_LOCK_S",
    "WORKTREES_DIR",
    "DiffStats",
    "LabRepo",
    "Worktree",
    "WorktreeTamperedError",
    "matches_any",
    "matches_glob",
    "run_git",
    "validate_hyp_id",
]
