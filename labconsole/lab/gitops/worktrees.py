"""Hypothesis worktrees (branch ``lab/<hyp_id>``) and the throw-away detached checkouts candidates are measured in."""

from __future__ import annotations

import shutil
from pathlib import Path

from labconsole.errors import GitStateError
from labconsole.lab.gitops.plumbing import NO_HOOKS, GitPlumbing
from labconsole.lab.gitops.pointers import admin_dir
from labconsole.lab.gitops.records import (
    AUTHOR_RE,
    DEFAULT_AGENT,
    LAB_BRANCH_PREFIX,
    WORKTREES_DIR,
    Worktree,
    validate_hyp_id,
)


class WorktreeOps(GitPlumbing):
    # ------------------------------------------------------------------ hypothesis worktrees

    def create_worktree(self, hyp_id: str, base_sha: str) -> Worktree:
        """Worktree on ``lab/<hyp_id>`` at base_sha; an existing branch (crash resume) is reused, never reset."""
        validate_hyp_id(hyp_id)
        branch = LAB_BRANCH_PREFIX + hyp_id
        path = self.worktree_path(hyp_id)
        with self._lock:
            base = self._resolve(base_sha)
            head = self.branch_head(branch)
            if head is not None and not self.is_ancestor(base, head):
                raise GitStateError(
                    f"branch {branch} already exists but does not descend from base {base[:12]}: "
                    f"archive it (archive_and_remove) or use another hypothesis id"
                )
            self._git("worktree", "prune")  # forget worktrees whose directories vanished
            entry = self._worktree_at(path)
            if entry is not None:
                if entry.get("branch") != f"refs/heads/{branch}":
                    raise GitStateError(
                        f"{path} is checked out at {entry.get('branch') or 'a detached HEAD'}, "
                        f"not {branch}: remove it with archive_and_remove({hyp_id!r})"
                    )
                admin_dir(path, self.common_dir)  # reused after a crash: still wired as git made it?
                return Worktree(hyp_id, path, branch, base)
            if path.exists():
                if any(path.iterdir()):
                    raise GitStateError(f"{path} exists and is not a git worktree: move or delete it")
                path.rmdir()
            path.parent.mkdir(parents=True, exist_ok=True)
            if head is None:
                self._git(*NO_HOOKS, "worktree", "add", "-q", "-b", branch, str(path), base)
            else:
                self._git(*NO_HOOKS, "worktree", "add", "-q", str(path), branch)
            return Worktree(hyp_id, path, branch, base)

    def commit_all(self, worktree: Path, message: str, author: str = DEFAULT_AGENT) -> str | None:
        """Stage everything in the worktree and commit it; None when there was nothing to commit."""
        m = AUTHOR_RE.match(author)
        if not m:
            raise GitStateError(f"invalid author {author!r}: use 'Name <email>'")
        wt = Path(worktree)
        with self._lock:
            self._check_own_worktree(wt)
            if self._current_branch(cwd=wt) is None:
                # A commit on a detached HEAD would never reach the lab branch the gate merges.
                raise GitStateError(f"{wt} is on a detached HEAD: check out its lab/ branch in that worktree")
            self._clear_stale_index_lock(wt)
            self._git("add", "-A", cwd=wt)
            if self._ok("diff", "--cached", "--quiet", cwd=wt):
                return None
            self._bookkeeping_commit(wt, message, (m["name"], m["email"]))
            return self._git("rev-parse", "HEAD", cwd=wt)

    def list_lab_worktrees(self) -> list[Worktree]:
        with self._lock:
            self._git("worktree", "prune")
            result: list[Worktree] = []
            for entry in self._worktree_entries():
                ref = entry.get("branch", "")
                if not ref.startswith("refs/heads/" + LAB_BRANCH_PREFIX):
                    continue
                branch = ref[len("refs/heads/") :]
                hyp_id = branch[len(LAB_BRANCH_PREFIX) :]
                # The original base is not stored in git; the fork point from main is the best record.
                status, out, _ = self._run("merge-base", f"refs/heads/{self.main_branch}", ref)
                base = out.decode().strip() if status == 0 else entry.get("HEAD", "")
                result.append(Worktree(hyp_id, Path(entry["worktree"]), branch, base))
            return result

    # ------------------------------------------------------------------ measurement checkouts

    def checkout_detached(self, sha: str, dest: Path) -> Path:
        """A fresh, clean, detached worktree at exactly ``sha`` (replaces a previous checkout at dest)."""
        dest = Path(dest).expanduser().absolute()
        with self._lock:
            target = self._resolve(sha)
            self._git("worktree", "prune")
            entry = self._worktree_at(dest) if dest.exists() else None
            if entry is not None or self._is_orphan_checkout(dest):
                self.remove_checkout(dest)
            elif dest.exists():
                if any(dest.iterdir()):
                    raise GitStateError(f"{dest} exists and is not a checkout of {self.root}: choose an empty path")
                dest.rmdir()
            dest.parent.mkdir(parents=True, exist_ok=True)
            # No hooks: a post-checkout hook could alter the files about to be measured.
            self._git(*NO_HOOKS, "worktree", "add", "-q", "--detach", str(dest), target)
            got = self._git("rev-parse", "HEAD", cwd=dest)
            if got != target:
                raise GitStateError(f"checkout at {dest} is at {got[:12]}, expected {target[:12]}: retry the run")
            return dest

    def remove_checkout(self, dest: Path) -> None:
        """Remove a detached checkout made by checkout_detached; a no-op if it is already gone."""
        dest = Path(dest).expanduser().absolute()
        with self._lock:
            entry = self._worktree_at(dest)
            if entry is None:
                if self._is_orphan_checkout(dest):
                    shutil.rmtree(dest)
                self._git("worktree", "prune")
                return
            if "detached" not in entry:
                # Branch worktrees may hold unarchived work; they go through archive_and_remove.
                raise GitStateError(
                    f"{dest} is on {entry.get('branch')}, not a detached checkout: use archive_and_remove"
                )
            # Double force also removes a checkout left locked by a `worktree add` that was killed.
            self._git("worktree", "remove", "--force", "--force", str(dest))
            if dest.exists():  # git leaves the directory behind if it could not delete some file
                shutil.rmtree(dest, ignore_errors=True)
            self._git("worktree", "prune")

    def _is_orphan_checkout(self, dest: Path) -> bool:
        """A leftover checkout of ours whose registration is gone (e.g. its admin dir was deleted).

        Recognized by its ``.git`` file pointing into our ``worktrees/`` admin area; lab
        worktrees are excluded since they may hold uncommitted work.
        """
        marker = dest / ".git"
        if not marker.is_file() or dest.resolve().is_relative_to((self.root / WORKTREES_DIR).resolve()):
            return False
        text = marker.read_text(encoding="utf-8", errors="replace").strip()
        if not text.startswith("gitdir:"):
            return False
        gitdir = Path(text[len("gitdir:") :].strip())
        if not gitdir.is_absolute():
            gitdir = dest / gitdir
        admin = gitdir.resolve()
        return admin.parent == self.common_dir / "worktrees" and not admin.exists()
