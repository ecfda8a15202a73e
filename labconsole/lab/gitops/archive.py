"""Archiving: no commit off main is ever deleted before it is reachable from ``refs/labconsole/archive/…``."""

from __future__ import annotations

import os
import shutil
import time
from datetime import datetime, UTC
from pathlib import Path

from labconsole.errors import GitStateError
from labconsole.lab.gitops.plumbing import GitPlumbing
from labconsole.lab.gitops.pointers import WorktreeTamperedError, admin_dir
from labconsole.lab.gitops.records import ARCHIVE_PREFIX, LAB_BRANCH_PREFIX, QUARANTINE_DIR, validate_hyp_id


class ArchiveOps(GitPlumbing):
    def _archive(self, hyp_id: str, sha: str, stamp: str) -> str:
        """Create a new archive ref for sha; never overwrites an existing ref."""
        base = f"{ARCHIVE_PREFIX}{hyp_id}/{stamp}"
        for n in range(1000):
            ref = base if n == 0 else f"{base}-{n}"
            # Empty old-value: create only if the ref does not exist yet.
            if self._ok("update-ref", "-m", "labconsole archive", ref, sha, ""):
                if self._resolve(ref) != sha:
                    raise GitStateError(f"archive ref {ref} does not point at {sha[:12]}: inspect the repository")
                return ref
        raise GitStateError(f"could not create an archive ref under {base}: prune {ARCHIVE_PREFIX}{hyp_id}/")

    def archive_and_remove(self, hyp_id: str) -> str | None:
        """Archive unmerged work of ``lab/<hyp_id>``, then remove its worktree and branch.

        Uncommitted changes left in the worktree are first committed to the branch, so
        they are archived too. Returns the archive ref of the branch head, or None when
        everything was already on main.
        """
        validate_hyp_id(hyp_id)
        branch = LAB_BRANCH_PREFIX + hyp_id
        path = self.worktree_path(hyp_id)
        with self._lock:
            self._git("worktree", "prune")
            entry = self._worktree_at(path)
            if entry is None:  # the worktree might have been moved: find it by branch
                entry = next((e for e in self._worktree_entries() if e.get("branch") == f"refs/heads/{branch}"), None)
            wt_path = Path(entry["worktree"]) if entry else None
            if wt_path is not None and wt_path.resolve() == self.root:
                raise GitStateError(f"{branch} is checked out at {self.root}: check out {self.main_branch} first")
            if wt_path is not None and wt_path.exists():
                try:
                    admin_dir(wt_path, self.common_dir)
                except WorktreeTamperedError as exc:
                    self._quarantine(hyp_id, wt_path, exc)
            if wt_path is not None:
                self._clear_stale_index_lock(wt_path)
            if wt_path is not None and self._dirty_paths(cwd=wt_path):
                self._git("add", "-A", cwd=wt_path)
                message = f"labconsole: uncommitted work of {hyp_id} at cleanup"
                self._bookkeeping_commit(wt_path, message, ("LabConsole", "agent@labconsole"))
                entry = self._worktree_at(wt_path)
            # Candidates: the branch head, and the worktree's HEAD if an agent detached or switched it.
            candidates: list[str] = []
            head = self.branch_head(branch)
            if head:
                candidates.append(head)
            if entry and entry.get("HEAD") and entry["HEAD"] not in candidates:
                candidates.append(entry["HEAD"])
            main_ref = f"refs/heads/{self.main_branch}"
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            archived: list[str] = []
            for sha in candidates:
                if self.branch_head(main_ref) and self.is_ancestor(sha, main_ref):
                    continue
                if archived and self.is_ancestor(sha, candidates[0]):
                    continue
                archived.append(self._archive(hyp_id, sha, stamp))
            # Only now that every commit is reachable from an archive ref (or main) may we force.
            if wt_path is not None:
                self._git("worktree", "remove", "--force", "--force", str(wt_path))
                if wt_path.exists():
                    shutil.rmtree(wt_path, ignore_errors=True)
                self._git("worktree", "prune")
            if head is not None:
                self._git("branch", "-D", "-q", branch)
            return archived[0] if archived else None

    def _quarantine(self, hyp_id: str, wt_path: Path, exc: WorktreeTamperedError) -> None:
        """A worktree whose pointers an agent rewrote: no git runs in it. Its branch is archived from the
        ref (in the common dir, which the guard reads safely), its files are moved aside (never deleted),
        and the refusal is raised with where both went."""
        branch = LAB_BRANCH_PREFIX + hyp_id
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        head = self.branch_head(branch)
        ref = None
        if head and not (
            self.branch_head(self.main_branch) and self.is_ancestor(head, f"refs/heads/{self.main_branch}")
        ):
            ref = self._archive(hyp_id, head, stamp)
        kept = self.root / QUARANTINE_DIR / f"{hyp_id}-{stamp}"
        kept.parent.mkdir(parents=True, exist_ok=True)
        os.replace(wt_path, kept)
        self._git("worktree", "prune")  # forgets the admin dir whose worktree is gone
        if head is not None:
            self._ok("branch", "-D", "-q", branch)  # archived (or on main); if git refuses, the branch stays
        raise WorktreeTamperedError(exc.worktree, exc.reason, archived_ref=ref, kept_at=kept)

    def archived_refs(self) -> list[tuple[str, str]]:
        out = self._git("for-each-ref", "--format=%(refname) %(objectname)", ARCHIVE_PREFIX)
        return [tuple(line.split(" ", 1)) for line in out.splitlines() if line]  # type: ignore[misc]

    def max_hypothesis_number(self) -> int:
        """The highest N of any lab/hN branch or archived hN, so a new session numbers after them."""
        out = self._git("for-each-ref", "--format=%(refname)", "refs/heads/" + LAB_BRANCH_PREFIX, ARCHIVE_PREFIX)
        best = 0
        for ref in out.splitlines():
            name = ref.removeprefix("refs/heads/" + LAB_BRANCH_PREFIX).removeprefix(ARCHIVE_PREFIX).split("/")[0]
            if name[:1] == "h" and name[1:].isdigit():
                best = max(best, int(name[1:]))
        return best

    def set_aside_leftovers(self, hyp_id: str) -> str | None:
        """Uncommitted edits a dead worker left in lab/<hyp_id>'s worktree: commit them onto an
        archive ref (never lost), and give the next worker a clean worktree at the branch head."""
        path = self.worktree_path(hyp_id)
        with self._lock:
            if not path.exists() or not self._dirty_paths(cwd=path):
                return None
            head = self._git("rev-parse", "HEAD", cwd=path)
            self._git("add", "-A", cwd=path)
            tree = self._git("write-tree", cwd=path)
            leftover = self._git(
                "commit-tree",
                tree,
                "-p",
                head,
                "-m",
                f"Uncommitted work left in {hyp_id}'s worktree by a stopped agent",
            )
            ref = self._archive(hyp_id, leftover, time.strftime("leftover-%Y%m%dT%H%M%SZ", time.gmtime()))
            self._git("reset", "-q", "--hard", head, cwd=path)
            self._git("clean", "-q", "-fd", cwd=path)
            return ref
