"""The git runner every LabRepo operation goes through: the guard, pinned environment, one lock per repository.

All git calls go through :meth:`GitPlumbing._run`, which runs the git CLI under
:mod:`labconsole.lab.gitops.guard` (no hooks, fsmonitor, drivers, helpers or includes;
none of the caller's ``GIT_*`` variables), after checking with
:mod:`labconsole.lab.gitops.pointers` that a worktree it runs in is still wired to the
admin dir git created. All of them hold a per-repository ``RLock`` so that several
worker threads can share one repository safely. GitPython is not used: its command
wrapper inherits the caller's environment.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path
from collections.abc import Mapping, Sequence

from labconsole.errors import GitStateError
from labconsole.lab.gitops.guard import ConfigScanner, guarded_argv, guarded_env
from labconsole.lab.gitops.pointers import admin_dir
from labconsole.lab.gitops.records import WORKTREES_DIR, validate_hyp_id

STALE_LOCK_S = 30.0
GIT_TIMEOUT_S = 600.0  # a console git command that hangs this long is broken, not slow
# Used only when neither git config nor the environment names a committer.
DEFAULT_COMMITTER = ("LabConsole", "labconsole@localhost")
# Hooks could rewrite what we commit, check out or merge; the guard disables them on every
# call already (core.hooksPath is one of its fixed overrides): kept where a reader expects it.
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


def _find_git_dir(root: Path) -> tuple[Path, Path]:
    """(the directory holding ``.git``, its git dir) at or above ``root``, read as files (no git runs)."""
    for top in (root, *root.parents):
        dotgit = top / ".git"
        if dotgit.is_dir():
            return top, dotgit
        if dotgit.is_file():
            text = dotgit.read_text(encoding="utf-8", errors="replace").strip()
            if text.startswith("gitdir:"):
                target = Path(text[len("gitdir:") :].strip())
                return top, (target if target.is_absolute() else top / target).resolve()
    raise GitStateError(f"{root} is not a git repository: run `git init` and commit your lab")


def _common_dir(git_dir: Path) -> Path:
    pointer = git_dir / "commondir"
    if pointer.is_file():
        target = Path(pointer.read_text(encoding="utf-8", errors="replace").strip())
        return (target if target.is_absolute() else git_dir / target).resolve()
    return git_dir.resolve()


_SCANNERS: dict[str, ConfigScanner] = {}


def run_git(
    cwd: Path, *args: str, timeout: float = 60.0, env: Mapping[str, str] | None = None
) -> tuple[int, bytes, str]:
    """One git command outside a LabRepo (a view showing a branch's commits, an eval's workdir), under the
    same guard: fixed overrides, drivers emptied, includes refused, a linked worktree's pointers checked
    first. ``env`` adds variables (an identity). Returns (exit status, stdout, stderr); raises
    GitStateError when the guard refuses."""
    exe = shutil.which("git")
    if exe is None:
        raise GitStateError("git not found on PATH: install git")
    scanner = _SCANNERS.setdefault(exe, ConfigScanner(exe))
    try:
        top, git_dir = _find_git_dir(Path(cwd).resolve())
    except GitStateError:  # not a repository yet (git init): no repository config to read
        overrides: list[str] = []
    else:
        common = _common_dir(git_dir)
        config_worktree = git_dir / "config.worktree"
        if common != git_dir.resolve():
            config_worktree = admin_dir(top, common) / "config.worktree"
        overrides = scanner.overrides([common / "config", config_worktree])
    try:
        proc = subprocess.run(
            guarded_argv(exe, str(cwd), overrides, args),
            capture_output=True,
            env=guarded_env(env),
            stdin=subprocess.DEVNULL,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return 124, b"", f"fatal: git timed out after {timeout:.0f}s"
    return proc.returncode, proc.stdout, proc.stderr.decode("utf-8", "replace")


class GitPlumbing:
    """Opens a lab's repository and runs git in it; the operations (worktrees, protection, merge,
    archive) are mixins over this class, combined in :class:`labconsole.lab.gitops.LabRepo`."""

    def __init__(self, root: Path) -> None:
        exe = shutil.which("git")
        if exe is None:
            raise GitStateError("git not found on PATH: install git")
        self._exe = exe
        self._scanner = ConfigScanner(exe)
        root = Path(root).expanduser()
        if not root.is_dir():
            raise GitStateError(f"{root} is not a git repository: run `git init` and commit your lab")
        top, git_dir = _find_git_dir(root.resolve())
        if top != root.resolve():
            # A lab is a whole repository; a subdirectory would make paths and cleanliness ambiguous.
            raise GitStateError(f"{root} is inside the git repository {top}, not its root: point the lab at {top}")
        self.root: Path = top
        self.git_dir: Path = git_dir.resolve()
        self.common_dir: Path = _common_dir(self.git_dir)
        self._lock = _repo_lock(self.common_dir)
        if self._config("core.bare") == "true":
            raise GitStateError(f"{root} is a bare git repository: use a repository with a working tree")
        self._identity = self._default_identity()  # read once: config parsing per call is slow
        if not self._ok("rev-parse", "--verify", "-q", "HEAD^{commit}"):
            raise GitStateError(f"{self.root} has no commits: commit your lab first (git add -A && git commit)")
        # The branch checked out at root when the lab was opened is the one we merge into.
        self.main_branch: str = self._current_branch() or self._guess_main_branch()
        self.ensure_ignored([".labconsole/"])

    # ------------------------------------------------------------------ plumbing

    def _default_identity(self) -> dict[str, str]:
        """Identity env for commits, filled only where neither env nor git config provides one.

        The guard hides the user's global config from git, so the name and email are read here
        (repository config first, then the user's own global files) and passed as variables."""
        env: dict[str, str] = {}
        name, email = self._config("user.name"), self._config("user.email")
        for role in ("AUTHOR", "COMMITTER"):
            env_name, env_email = os.environ.get(f"GIT_{role}_NAME"), os.environ.get(f"GIT_{role}_EMAIL")
            if not env_name:
                env[f"GIT_{role}_NAME"] = name or DEFAULT_COMMITTER[0]
            if not env_email:
                env[f"GIT_{role}_EMAIL"] = email or DEFAULT_COMMITTER[1]
        return env

    def _env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        return guarded_env({**self._identity, **(extra or {})})

    def _config_files(self, cwd: Path | None) -> list[Path]:
        """The config files git reads for a command in ``cwd`` (system and global are off)."""
        files = [self.common_dir / "config", self.git_dir / "config.worktree"]
        if cwd is not None and Path(os.path.abspath(cwd)) != self.root:
            # A linked worktree: its .git and admin dir must be the ones git made, before git reads them.
            files[1] = admin_dir(Path(cwd), self.common_dir) / "config.worktree"
        return files

    def _config(self, key: str) -> str | None:
        """A value from the repository's config or the user's global files, read by git without
        running anything (``--no-includes`` for the repository's: an agent may have written it)."""
        home = Path(os.path.expanduser("~"))
        xdg = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
        sources = [
            ["--file", str(self.common_dir / "config"), "--no-includes"],
            ["--file", str(home / ".gitconfig")],
            ["--file", str(xdg / "git" / "config")],
        ]
        for source in sources:
            if not Path(source[1]).is_file():
                continue
            try:
                proc = subprocess.run(
                    [self._exe, "config", *source, "--get", key],
                    capture_output=True,
                    text=True,
                    env=guarded_env(),
                    cwd="/",
                    timeout=30,
                    stdin=subprocess.DEVNULL,
                )
            except (OSError, subprocess.TimeoutExpired):
                continue
            if proc.returncode == 0 and proc.stdout.strip():
                return proc.stdout.strip()
        return None

    def _run(
        self,
        *args: str,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> tuple[int, bytes, str]:
        where = str(cwd or self.root)
        with self._lock:
            overrides = self._scanner.overrides(self._config_files(cwd))
            # "-C" makes git itself fail on a missing directory instead of acting on whatever repository we run in.
            argv = guarded_argv(self._exe, where, overrides, args)
            try:
                proc = subprocess.run(
                    argv, capture_output=True, env=self._env(env), stdin=subprocess.DEVNULL, timeout=GIT_TIMEOUT_S
                )
            except subprocess.TimeoutExpired:
                return 124, b"", f"fatal: git timed out after {GIT_TIMEOUT_S:.0f}s"
        return proc.returncode, proc.stdout, proc.stderr.decode("utf-8", "replace")

    def _git(self, *args: str, cwd: Path | None = None, env: Mapping[str, str] | None = None) -> str:
        """Run git and return stdout (trailing newline stripped); raise GitStateError on failure."""
        status, out, err = self._run(*args, cwd=cwd, env=env)
        if status != 0:
            raise GitStateError(self._fail_line(args, err))
        return out.decode("utf-8", "surrogateescape").rstrip("\n")

    def _bookkeeping_commit(self, wt: Path, message: str, author: tuple[str, str]) -> None:
        """Commit what is staged in ``wt`` as ``author`` (name, email). Agent work is the console's
        bookkeeping: no hooks, no signing prompts."""
        env = {"GIT_AUTHOR_NAME": author[0], "GIT_AUTHOR_EMAIL": author[1]}
        self._git(
            *NO_HOOKS, "-c", "commit.gpgsign=false", "commit", "-q", "--no-verify", "-m", message, cwd=wt, env=env
        )

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
        """``path`` if it is a linked worktree of this repository whose pointers are intact (checked as files
        before any git runs there); WorktreeTamperedError when they were rewritten."""
        path = Path(path)
        if not path.is_dir():
            raise GitStateError(f"{path} is not a worktree of {self.root}: create it with create_worktree")
        admin_dir(path, self.common_dir)
        status, out, _ = self._run("rev-parse", "--path-format=absolute", "--git-common-dir", cwd=path)
        if status != 0 or Path(out.decode().strip()).resolve() != self.common_dir:
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
