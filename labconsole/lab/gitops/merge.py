"""Gated merges: only the approved SHA of a lab branch goes into main; bringing a branch onto a moved main."""

from __future__ import annotations

from labconsole.errors import GitStateError
from labconsole.lab.gitops.plumbing import NO_HOOKS, GitPlumbing, split_z
from labconsole.lab.gitops.records import LAB_BRANCH_PREFIX, validate_hyp_id


class MergeOps(GitPlumbing):
    # ------------------------------------------------------------------ gate: merge and cleanup

    def merge(self, hyp_id: str, approved_sha: str, message: str) -> str:
        """Merge exactly the approved commit of ``lab/<hyp_id>`` into main with --no-ff; return the merge sha."""
        validate_hyp_id(hyp_id)
        branch = LAB_BRANCH_PREFIX + hyp_id
        with self._lock:
            head = self.branch_head(branch)
            if head is None:
                raise GitStateError(f"branch {branch} does not exist: nothing to merge for {hyp_id}")
            approved = self._resolve(approved_sha)
            if head != approved:
                raise GitStateError(
                    f"branch moved after approval: approved {approved[:12]}, now {head[:12]}; re-review"
                )
            current = self._current_branch()
            if current != self.main_branch:
                raise GitStateError(
                    f"{self.root} is on {current or 'a detached HEAD'}, not {self.main_branch}: "
                    f"check out {self.main_branch} before merging"
                )
            self.require_clean_base()
            before = self.head_sha()
            if self.is_ancestor(approved, before):
                raise GitStateError(f"{branch} at {approved[:12]} is already merged into {self.main_branch}")
            # Merge the SHA, not the branch name: the branch could move between check and merge.
            status, _, err = self._run(*NO_HOOKS, "merge", "--no-ff", "--no-edit", "-q", "-m", message, approved)
            if status != 0:
                self._abort_merge_and_raise(branch, err)
            merged = self.head_sha()
            parents = self._git("rev-list", "--parents", "-n", "1", merged).split()[1:]
            if merged == before or parents != [before, approved]:
                raise GitStateError(
                    f"merge of {branch} did not produce a merge commit of {before[:12]} and {approved[:12]}: "
                    "inspect the repository"
                )
            return merged

    def _abort_merge_and_raise(self, branch: str, err: str) -> None:
        conflicts = split_z(self._gitb("diff", "-z", "--name-only", "--diff-filter=U"))
        in_merge = self._ok("rev-parse", "-q", "--verify", "MERGE_HEAD")
        if in_merge:
            if not self._ok("merge", "--abort"):
                self._git("reset", "--merge")  # last resort; restores the pre-merge tree
        if conflicts:
            shown = ", ".join(conflicts[:5]) + (f" (+{len(conflicts) - 5} more)" if len(conflicts) > 5 else "")
            raise GitStateError(
                f"merging {branch} into {self.main_branch} conflicts in {shown}: "
                f"rebase the hypothesis on {self.main_branch} and re-review (merge aborted)"
            )
        raise GitStateError(self._fail_line(("merge", branch), err) + " (merge aborted)")

    def update_branch(self, hyp_id: str, main_sha: str) -> str:
        """Bring lab/<hyp_id> onto ``main_sha`` by merging it into the branch in its worktree.

        Used when main moved after a candidate was measured: the merged result is
        what gets measured (and approved) again. A conflict aborts and raises.
        """
        path = self.worktree_path(hyp_id)
        with self._lock:
            if not path.exists():
                raise GitStateError(f"the worktree of {hyp_id} is gone ({path}); it cannot be re-measured")
            status, _out, err = self._run(
                "-c",
                "core.hooksPath=/dev/null",
                "merge",
                "--no-ff",
                "--no-edit",
                "-m",
                f"Bring {hyp_id} onto {self.main_branch} {main_sha[:12]}",
                main_sha,
                cwd=path,
            )
            if status != 0:
                conflicts = split_z(self._gitb("diff", "-z", "--name-only", "--diff-filter=U", cwd=path))
                self._run("merge", "--abort", cwd=path)
                shown = ", ".join(conflicts[:5]) or err.strip().splitlines()[-1:]
                raise GitStateError(
                    f"{hyp_id} conflicts with {self.main_branch} in {shown}: it needs a new implementation"
                )
            return self._git("rev-parse", "HEAD", cwd=path)
