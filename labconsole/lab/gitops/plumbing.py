"""The git runner every LabRepo operation goes through: pinned environment, no hooks, one lock per repository.

All git calls go through :meth:`GitPlumbing._git`, which runs the git CLI via
gitpython with a pinned environment, and all of them hold a per-repository
``RLock`` so that several worker threads can share one repository safely.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path
from collections.abc import Mapping, Sequence

# GitPython probes for the git binary at import time and raises ImportError when
# it is missing; we want our own one-line GitStateError instead, from LabRepo().
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
import git  # noqa: E402  (must follow the refresh setting above)

from labconsole.errors import GitStateError  # noqa: E402
from labconsole.lab.gitops.records import WORKTREES_DIR, validate_hyp_id  # noqa: E402

STALE_LOCK_S = 30.0
# Used only when neither git config nor the environment names a committer.
DEFAULT_COMMITTER = ("LabConsole", "labconsole@localhost")
# Hooks could rewrite what we commit, check out or merge; the console's git
# operations must do exactly what was reviewed, so they run without hooks.
NO_HOOKS = ("-c", "core.hooksPath=/dev/null")

_LOCKS: dict[str, threading.RLock] = {}
_LOCKS_GUARD = threading.Lock()


def _repo_lock(common_dir: Path) -> threading.RLock:
    """One lock per repository (keyed by its common git dir), shared by every LabRepo on it."""
    key = str(common_dir.resolve())
    with _LOCKS_GUARD:
        lock = _LOCKS.get(key)
        if lock is None:
            lock = _LOCKS[key] = threading.RLock()
        return lock

def split_z(out: bytes) -> list[str]:
    """Entries of git's NUL-separated (-z) output."""
    return [p.decode("utf-8", "surrogateescape") for p in out.split(b"\0") if p]



class GitPlumbing:
    """Opens a lab's repository and runs git in it; the operations (worktrees, protection, merge,
    archive) are mixins over this class, combined in :class:`labconsole.lab.gitops.LabRepo`."""

    def __init__(self, root: Path) -> None:
        exe = shutil.which("git")
        if exe is None:
            raise GitStateError("git not found on PATH: install git")
        self._exe = exe
        root = Path(root).expanduser()
        not_repo = f"{root} is not a git repository: run `git init` and commit your lab"
        if not root.is_dir():
            raise GitStateError(not_repo)
        try:
            repo = git.Repo(root, search_parent_directories=True)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError):
            raise GitStateError(not_repo) from None
        if repo.bare or repo.working_tree_dir is None:
            raise GitStateError(f"{root} is a bare git repository: use a repository with a working tree")
        top = Path(repo.working_tree_dir).resolve()
        if top != root.resolve():
            # A lab is a whole repository; a subdirectory would make paths and cleanliness ambiguous.
            raise GitStateError(f"{root} is inside the git repository {top}, not its root: point the lab at {top}")
        self.repo = repo
        self.root: Path = top
        self.common_dir: Path = Path(repo.common_dir).resolve()
        self._lock = _repo_lock(self.common_dir)
        self._identity = self._default_identity()  # read once: config parsing per call is slow
        if not self._ok("rev-parse", "--verify", "-q", "HEAD^{commit}"):
            raise GitStateError(f"{self.root} has no commits: commit your lab first (git add -A && git commit)")
        # The branch checked out at root when the lab was opened is the one we merge into.
        self.main_branch: str = self._current_branch() or self._guess_main_branch()
        self.ensure_ignored([".labconsole/"])

    # ------------------------------------------------------------------ plumbing

    def _default_identity(self) -> dict[str, str]:
        """Identity env for commits, filled only where neither env nor git config provides one."""
        env: dict[str, str] = {}
        name, email = self._config("user.name"), self._config("user.email")
        for role in ("AUTHOR", "COMMITTER"):
            if not (os.environ.get(f"GIT_{role}_NAME") or name):
                env[f"GIT_{role}_NAME"] = DEFAULT_COMMITTER[0]
            if not (os.environ.get(f"GIT_{role}_EMAIL") or email):
                env[f"GIT_{role}_EMAIL"] = DEFAULT_COMMITTER[1]
        return env

    def _env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = dict(self._identity)
        env["GIT_TERMINAL_PROMPT"] = "0"  # never block a worker thread on a prompt
        if extra:
            env.update(extra)
        return env

    def _config(self, key: str) -> str | None:
        try:
            section, option = key.rsplit(".", 1)
            value = self.repo.config_reader().get_value(section, option, default="")
        except Exception:  # unreadable config: behave as if unset
            return None
        return str(value) or None

    def _run(
        self,
        *args: str,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> tuple[int, bytes, str]:
        where = str(cwd or self.root)
        # GitPython silently falls back to the process cwd when the directory is missing;
        # "-C" makes git itself fail instead of acting on whatever repository we run in.
        cmd = [self._exe, "-C", where, *args]
        runner = git.Git(where)
        with self._lock:
            status, out, err = runner.execute(
                cmd,
                with_extended_output=True,
                with_exceptions=False,
                stdout_as_string=False,
                strip_newline_in_stdout=False,
                env=self._env(env),
            )
        return int(status or 0), bytes(out or b""), str(err or "")

    def _git(self, *args: str, cwd: Path | None = None, env: Mapping[str, str] | None = None) -> str:
        """Run git and return stdout (trailing newline stripped); raise GitStateError on failure."""
        status, out, err = self._run(*args, cwd=cwd, env=env)
        if status != 0:
            raise GitStateError(self._fail_line(args, err))
        return out.decode("utf-8", "surrogateescape").rstrip("\n")

    def _gitb(self, *args: str, cwd: Path | None = None) -> bytes:
        status, out, err = self._run(*args, cwd=cwd)
        if status != 0:
            raise GitStateError(self._fail_line(args, err))
        return out

    def _ok(self, *args: str, cwd: Path | None = None) -> bool:
        return self._run(*args, cwd=cwd)[0] == 0

    @staticmethod
    def _fail_line(args: Sequence[str], err: str) -> str:
        shown: list[str] = []
        skip = False
        for a in args:  # drop "-c key=value" noise from the message
            if skip or a == "-c":
                skip = a == "-c"
                continue
            shown.append(a)
        cmd = " ".join(shown)
        lines = [ln.strip() for ln in err.splitlines() if ln.strip()]
        first = next((ln for ln in lines if ln.startswith(("fatal:", "error:"))), lines[0] if lines else "")
        return f"git {cmd} failed: {first or 'no error output'}"

    def _current_branch(self, cwd: Path | None = None) -> str | None:
        status, out, _ = self._run("symbolic-ref", "-q", "--short", "HEAD", cwd=cwd)
        return (out.decode().strip() or None) if status == 0 else None

    def _guess_main_branch(self) -> str:
        for name in ("main", "master"):
            if self.branch_head(name):
                return name
        heads = self._git("for-each-ref", "--format=%(refname:short)", "refs/heads/").splitlines()
        return heads[0] if heads else "main"

    def _dirty_paths(self, cwd: Path | None = None) -> list[str]:
        out = self._gitb("status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames", cwd=cwd)
        return [entry[3:] for entry in split_z(out) if len(entry) > 3]

    def _resolve(self, rev: str) -> str:
        status, out, _ = self._run("rev-parse", "--verify", "-q", f"{rev}^{{commit}}")
        if status != 0:
            raise GitStateError(f"unknown commit {rev!r} in {self.root}: check the SHA or branch name")
        return out.decode().strip()

    def _worktree_entries(self) -> list[dict[str, str]]:
        out = self._git("worktree", "list", "--porcelain")
        entries: list[dict[str, str]] = []
        cur: dict[str, str] = {}
        for line in out.splitlines() + [""]:
            if not line:
                if cur:
                    entries.append(cur)
                cur = {}
                continue
            key, _, value = line.partition(" ")
            cur[key] = value
        return entries

    def _worktree_at(self, path: Path) -> dict[str, str] | None:
        want = path.resolve()
        for entry in self._worktree_entries():
            if Path(entry["worktree"]).resolve() == want:
                return entry
        return None

    def _check_own_worktree(self, path: Path) -> Path:
        path = Path(path)
        status, out, _ = self._run("rev-parse", "--path-format=absolute", "--git-common-dir", cwd=path)
        if not path.is_dir() or status != 0 or Path(out.decode().strip()).resolve() != self.common_dir:
            raise GitStateError(f"{path} is not a worktree of {self.root}: create it with create_worktree")
        return path

    def _clear_stale_index_lock(self, wt: Path) -> None:
        """Remove an index.lock left by an agent killed mid-git (kill -9), so later commits work.

        Only locks older than STALE_LOCK_S count: a live git process holds its lock for far less.
        """
        gitdir = Path(self._git("rev-parse", "--path-format=absolute", "--git-dir", cwd=wt))
        lock = gitdir / "index.lock"
        try:
            if time.time() - lock.stat().st_mtime > STALE_LOCK_S:
                lock.unlink()
        except FileNotFoundError:
            pass

    def worktree_path(self, hyp_id: str) -> Path:
        return self.root / WORKTREES_DIR / validate_hyp_id(hyp_id)

    # ------------------------------------------------------------------ basics

    def ensure_ignored(self, patterns: list[str]) -> None:
        """Add patterns to .git/info/exclude (local, never committed); idempotent."""
        exclude = self.common_dir / "info" / "exclude"
        with self._lock:
            exclude.parent.mkdir(parents=True, exist_ok=True)
            text = exclude.read_text(encoding="utf-8") if exclude.exists() else ""
            have = {ln.strip() for ln in text.splitlines()}
            missing = [p for p in patterns if p.strip() and p.strip() not in have]
            if not missing:
                return
            if text and not text.endswith("\n"):
                text += "\n"
            text += "".join(f"{p.strip()}\n" for p in missing)
            exclude.write_text(text, encoding="utf-8")

    def require_clean_base(self) -> str:
        """HEAD sha of root, refusing a detached HEAD or any uncommitted/untracked change."""
        with self._lock:
            if self._current_branch() is None:
                raise GitStateError(f"{self.root} is on a detached HEAD: check out a branch")
            dirty = self._dirty_paths()
            if dirty:
                shown = ", ".join(dirty[:5]) + (f" (+{len(dirty) - 5} more)" if len(dirty) > 5 else "")
                raise GitStateError(f"{self.root} has uncommitted changes ({shown}): commit or stash them")
            return self.head_sha()

    def head_sha(self, ref: str | None = None) -> str:
        return self._resolve(ref or "HEAD")

    def branch_head(self, branch: str) -> str | None:
        ref = branch if branch.startswith("refs/") else f"refs/heads/{branch}"
        status, out, _ = self._run("rev-parse", "--verify", "-q", f"{ref}^{{commit}}")
        return out.decode().strip() if status == 0 else None

    def is_ancestor(self, a: str, b: str) -> bool:
        a_sha, b_sha = self._resolve(a), self._resolve(b)
        status, _, err = self._run("merge-base", "--is-ancestor", a_sha, b_sha)
        if status not in (0, 1):
            raise GitStateError(self._fail_line(("merge-base", "--is-ancestor", a, b), err))
        return status == 0

    # ------------------------------------------------------------------ used by the orchestrator

    def show_file(self, rev: str, path: str) -> str:
        """A file's text at a commit (what the baseline really holds, whatever the working tree says)."""
        return self._git("show", f"{rev}:{path}")
