"""Is a worktree still wired to the admin dir git created for it? Checked before the console runs git in it.

``git worktree add P`` writes ``P/.git`` (``gitdir: <common>/worktrees/<name>``) and, in that
admin dir, ``commondir`` (back to ``<common>``) and ``gitdir`` (back to ``P/.git``). An agent
owns ``P``: if it rewrites ``P/.git`` to a git dir of its own, every git command the console
runs in ``P`` reads that git dir's config (``core.fsmonitor``, hooks, …). So before any git runs
there, the three pointers are checked as plain files, without git: all must still agree.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from labconsole.errors import GitStateError


class WorktreeTamperedError(GitStateError):
    """A worktree's ``.git`` pointer or its admin dir's back-pointers are not the ones git created."""

    def __init__(
        self, worktree: Path, reason: str, *, archived_ref: str | None = None, kept_at: Path | None = None
    ) -> None:
        self.worktree = worktree
        self.reason = reason
        self.archived_ref = archived_ref  # set by cleanup: where the branch's work now is
        self.kept_at = kept_at  # set by cleanup: where the worktree's files were moved (never deleted)
        line = f"worktree {worktree} was tampered with: {reason}; the console runs no git in it"
        if kept_at is not None:
            line += f" (work archived at {archived_ref or 'main'}, files kept at {kept_at})"
        super().__init__(line)


def _read_small(path: Path) -> str:
    """A pointer file's text; a symlink or anything but a small regular file is refused."""
    st = os.lstat(path)
    if not stat.S_ISREG(st.st_mode) or st.st_size > 4096:
        raise ValueError(f"{path.name} is not a plain pointer file")
    return path.read_text(encoding="utf-8", errors="strict").strip()


def _resolve_from(base: Path, text: str) -> Path:
    p = Path(text)
    return Path(os.path.realpath(p if p.is_absolute() else base / p))


def admin_dir(worktree: Path, common_dir: Path) -> Path:
    """The admin dir of a linked worktree of ``common_dir`` after checking every pointer; raises
    :class:`WorktreeTamperedError` (or GitStateError when it is no worktree of ours at all)."""
    worktree = Path(os.path.abspath(worktree))
    dotgit = worktree / ".git"
    if not os.path.lexists(dotgit):
        raise GitStateError(f"{worktree} is not a worktree of {common_dir.parent}: create it with create_worktree")
    try:
        text = _read_small(dotgit)
    except (OSError, ValueError) as exc:
        raise WorktreeTamperedError(worktree, f".git is not the pointer file git wrote ({exc})") from None
    if not text.startswith("gitdir:") or "\n" in text:
        raise WorktreeTamperedError(worktree, ".git does not hold one 'gitdir:' line")
    gitdir_text = text[len("gitdir:") :].strip()
    admin = Path(os.path.abspath(worktree / gitdir_text))  # as written; symlinks checked below
    expected_parent = Path(os.path.realpath(common_dir)) / "worktrees"
    if Path(os.path.realpath(admin)) != expected_parent / admin.name or admin.parent.name != "worktrees":
        raise WorktreeTamperedError(worktree, f".git points to {gitdir_text}, not into {expected_parent}")
    real_admin = expected_parent / admin.name
    try:
        if not stat.S_ISDIR(os.lstat(real_admin).st_mode):
            raise ValueError("not a directory")
        common = _resolve_from(real_admin, _read_small(real_admin / "commondir"))
        back = _resolve_from(real_admin, _read_small(real_admin / "gitdir"))
    except (OSError, ValueError) as exc:
        raise WorktreeTamperedError(
            worktree, f"its admin dir {real_admin} is not the one git created ({exc})"
        ) from None
    if common != Path(os.path.realpath(common_dir)):
        raise WorktreeTamperedError(worktree, f"{real_admin}/commondir points to {common}, not {common_dir}")
    if back != Path(os.path.realpath(dotgit)):
        raise WorktreeTamperedError(worktree, f"{real_admin}/gitdir points to {back}, not back to {dotgit}")
    return real_admin


__all__ = ["WorktreeTamperedError", "admin_dir"]
