"""The git layer of a lab: worktrees per hypothesis, measurement checkouts, gated merges, archiving.

Every hypothesis lives on branch ``lab/<hyp_id>`` in a worktree under
``<root>/.labconsole/worktrees/<hyp_id>``. The console measures candidates in
throw-away detached checkouts, merges only an approved SHA, and never deletes a
commit that is not on the main branch: it archives it under
``refs/labconsole/archive/<hyp_id>/<UTC timestamp>`` first.

All git calls go through :meth:`LabRepo._git`, which runs the git CLI via
gitpython with a pinned environment, and all of them hold a per-repository
``RLock`` so that several worker threads can share one repository safely.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Mapping, Sequence

# GitPython probes for the git binary at import time and raises ImportError when
# it is missing; we want our own one-line GitStateError instead, from LabRepo().
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
import git  # noqa: E402  (must follow the refresh setting above)

from labconsole.errors import GitStateError  # noqa: E402

LAB_BRANCH_PREFIX = "lab/"
ARCHIVE_PREFIX = "refs/labconsole/archive/"
WORKTREES_DIR = Path(".labconsole") / "worktrees"
STALE_LOCK_S = 30.0
DEFAULT_AGENT = "LabConsole agent <agent@labconsole>"
# Used only when neither git config nor the environment names a committer.
DEFAULT_COMMITTER = ("LabConsole", "labconsole@localhost")

# Conservative subset of git's ref rules: one path component, no "..", no ".lock".
_HYP_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_AUTHOR_RE = re.compile(r"^\s*(?P<name>[^<>]+?)\s*<(?P<email>[^<>]*)>\s*$")
# Hooks could rewrite what we commit, check out or merge; the console's git
# operations must do exactly what was reviewed, so they run without hooks.
_NO_HOOKS = ("-c", "core.hooksPath=/dev/null")

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


def _glob_to_parts(pattern: str) -> list[str]:
    pattern = pattern.strip().replace("\\", "/")
    while pattern.startswith("./"):
        pattern = pattern[2:]
    pattern = pattern.lstrip("/")
    if pattern.endswith("/"):  # "data/" means everything under data
        pattern += "**"
    return [p for p in pattern.split("/") if p]


def _match_parts(path: Sequence[str], pat: Sequence[str]) -> bool:
    if not pat:
        return not path
    head, rest = pat[0], pat[1:]
    if head == "**":
        # "**" swallows zero or more whole path components.
        return any(_match_parts(path[i:], rest) for i in range(len(path) + 1))
    if not path:
        return False
    return fnmatch.fnmatchcase(path[0], head) and _match_parts(path[1:], rest)


def matches_glob(path: str, pattern: str) -> bool:
    """fnmatch per path component, anchored at the repo root; ``**`` spans directories.

    ``prepare.py`` matches only the top-level file, ``**/prepare.py`` matches it anywhere,
    ``bench/**`` (or ``bench/``) matches everything under ``bench``.
    """
    parts = _glob_to_parts(pattern)
    return bool(parts) and _match_parts([p for p in path.split("/") if p], parts)


def matches_any(path: str, globs: Iterable[str]) -> bool:
    return any(matches_glob(path, g) for g in globs)


def _split_z(out: bytes) -> list[str]:
    return [p.decode("utf-8", "surrogateescape") for p in out.split(b"\0") if p]


class LabRepo:
    """A lab's git repository. Thread-safe: every git call holds the repository's lock."""

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
            value = self.repo.config_reader().get_value(*key.rsplit(".", 1), default="")
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
        return [entry[3:] for entry in _split_z(out) if len(entry) > 3]

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
                return Worktree(hyp_id, path, branch, base)
            if path.exists():
                if any(path.iterdir()):
                    raise GitStateError(f"{path} exists and is not a git worktree: move or delete it")
                path.rmdir()
            path.parent.mkdir(parents=True, exist_ok=True)
            if head is None:
                self._git(*_NO_HOOKS, "worktree", "add", "-q", "-b", branch, str(path), base)
            else:
                self._git(*_NO_HOOKS, "worktree", "add", "-q", str(path), branch)
            return Worktree(hyp_id, path, branch, base)

    def commit_all(self, worktree: Path, message: str, author: str = DEFAULT_AGENT) -> str | None:
        """Stage everything in the worktree and commit it; None when there was nothing to commit."""
        m = _AUTHOR_RE.match(author)
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
            env = {"GIT_AUTHOR_NAME": m["name"], "GIT_AUTHOR_EMAIL": m["email"]}
            # Agent commits are the console's bookkeeping: no hooks, no signing prompts.
            self._git(
                *_NO_HOOKS, "-c", "commit.gpgsign=false",
                "commit", "-q", "--no-verify", "-m", message, cwd=wt, env=env,
            )
            return self._git("rev-parse", "HEAD", cwd=wt)

    def list_lab_worktrees(self) -> list[Worktree]:
        with self._lock:
            self._git("worktree", "prune")
            result: list[Worktree] = []
            for entry in self._worktree_entries():
                ref = entry.get("branch", "")
                if not ref.startswith("refs/heads/" + LAB_BRANCH_PREFIX):
                    continue
                branch = ref[len("refs/heads/"):]
                hyp_id = branch[len(LAB_BRANCH_PREFIX):]
                # The original base is not stored in git; the fork point from main is the best record.
                status, out, _ = self._run("merge-base", f"refs/heads/{self.main_branch}", ref)
                base = out.decode().strip() if status == 0 else entry.get("HEAD", "")
                result.append(Worktree(hyp_id, Path(entry["worktree"]), branch, base))
            return result

    # ------------------------------------------------------------------ diffs and protection

    # Fixed options so the diff text (hashed into evidence) does not depend on user config.
    _DIFF_OPTS = (
        "-c", "diff.noprefix=false", "-c", "diff.mnemonicPrefix=false", "-c", "core.quotePath=true",
    )

    def diff(self, base: str, sha: str) -> str:
        a, b = self._resolve(base), self._resolve(sha)
        out = self._gitb(
            *self._DIFF_OPTS, "diff", "--no-color", "--no-ext-diff", "--no-textconv", "--no-renames", a, b
        )
        return out.decode("utf-8", "replace")

    def diff_stats(self, base: str, sha: str) -> DiffStats:
        a, b = self._resolve(base), self._resolve(sha)
        out = self._gitb("diff", "--numstat", "-z", "--no-renames", "--no-ext-diff", a, b)
        files: list[str] = []
        adds = dels = 0
        for rec in _split_z(out):
            added, deleted, path = rec.split("\t", 2)
            files.append(path)
            # Binary files report "-": they count as changed files with no line counts.
            adds += int(added) if added.isdigit() else 0
            dels += int(deleted) if deleted.isdigit() else 0
        return DiffStats(files=files, additions=adds, deletions=dels)

    def _tree_entries(self, sha: str) -> dict[str, tuple[str, str]]:
        """path -> (mode, object id) for every file (blob, symlink, submodule) in the commit."""
        out = self._gitb("ls-tree", "-r", "-z", "--full-tree", sha)
        entries: dict[str, tuple[str, str]] = {}
        for rec in _split_z(out):
            meta, _, path = rec.partition("\t")
            mode, _type, oid = meta.split()
            entries[path] = (mode, oid)
        return entries

    def protected_changes(self, base: str, sha: str, globs: list[str]) -> list[str]:
        """Protected paths added, deleted, or whose blob id or mode differs between two commits."""
        if not globs:
            return []
        a, b = self._tree_entries(self._resolve(base)), self._tree_entries(self._resolve(sha))
        # Mode counts too: a regular file swapped for a symlink could keep the same blob bytes.
        return sorted(p for p in set(a) | set(b) if a.get(p) != b.get(p) and matches_any(p, globs))

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
            self._git(*_NO_HOOKS, "worktree", "add", "-q", "--detach", str(dest), target)
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
        gitdir = Path(text[len("gitdir:"):].strip())
        if not gitdir.is_absolute():
            gitdir = dest / gitdir
        admin = gitdir.resolve()
        return admin.parent == self.common_dir / "worktrees" and not admin.exists()

    def verify_checkout(self, dest: Path, sha: str, globs: list[str]) -> list[str]:
        """Protected paths in the checkout's files that differ from ``sha`` (modified, added or deleted).

        Hashes file contents (not git's stat cache), so a run that rewrites a file and
        restores its size and mtime is still caught.
        """
        if not globs:
            return []
        dest = Path(dest)
        with self._lock:
            self._check_own_worktree(dest)
            expected = {p: e for p, e in self._tree_entries(self._resolve(sha)).items() if matches_any(p, globs)}
            changed: set[str] = set()
            to_hash: list[str] = []
            for path, (mode, _oid) in expected.items():
                f = dest / path
                if mode == "160000":  # submodule: its gitlink can't be edited in place by a run
                    continue
                if mode == "120000":
                    if not f.is_symlink():
                        changed.add(path)
                    continue
                if f.is_symlink() or not f.is_file():
                    changed.add(path)  # deleted, or replaced by a directory/symlink
                else:
                    to_hash.append(path)
            for i in range(0, len(to_hash), 200):
                chunk = to_hash[i : i + 200]
                # With path-based filters (autocrlf, LFS) applied, exactly as git would store them.
                oids = self._git("hash-object", "--", *chunk, cwd=dest).splitlines()
                for path, oid in zip(chunk, oids):
                    if oid != expected[path][1]:
                        changed.add(path)
            for path in expected:
                if expected[path][0] == "120000" and path not in changed:
                    target = os.readlink(dest / path).encode("utf-8", "surrogateescape")
                    status, out, _ = self._run_hash_bytes(target, dest)
                    if status != 0 or out != expected[path][1]:
                        changed.add(path)
            # New files (untracked, or staged/committed by the run itself) under protected globs.
            present = _split_z(
                self._gitb("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=dest)
            )
            for path in present:
                if path not in expected and matches_any(path, globs) and (dest / path).exists():
                    changed.add(path)
            return sorted(changed)

    def _run_hash_bytes(self, data: bytes, cwd: Path) -> tuple[int, str, str]:
        """Blob id of raw bytes (for symlink targets), via a temp file outside the checkout."""
        with tempfile.NamedTemporaryFile(delete=False) as tmp:
            tmp.write(data)
        try:
            status, out, err = self._run("hash-object", "--no-filters", tmp.name, cwd=cwd)
        finally:
            os.unlink(tmp.name)
        return status, out.decode().strip(), err

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
            status, _, err = self._run(
                *_NO_HOOKS, "merge", "--no-ff", "--no-edit", "-q", "-m", message, approved
            )
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
        conflicts = _split_z(self._gitb("diff", "-z", "--name-only", "--diff-filter=U"))
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
                entry = next(
                    (e for e in self._worktree_entries() if e.get("branch") == f"refs/heads/{branch}"), None
                )
            wt_path = Path(entry["worktree"]) if entry else None
            if wt_path is not None and wt_path.resolve() == self.root:
                raise GitStateError(f"{branch} is checked out at {self.root}: check out {self.main_branch} first")
            if wt_path is not None:
                self._clear_stale_index_lock(wt_path)
            if wt_path is not None and self._dirty_paths(cwd=wt_path):
                self._git("add", "-A", cwd=wt_path)
                self._git(
                    *_NO_HOOKS, "-c", "commit.gpgsign=false", "commit", "-q", "--no-verify",
                    "-m", f"labconsole: uncommitted work of {hyp_id} at cleanup", cwd=wt_path,
                    env={"GIT_AUTHOR_NAME": "LabConsole", "GIT_AUTHOR_EMAIL": "agent@labconsole"},
                )
                entry = self._worktree_at(wt_path)
            # Candidates: the branch head, and the worktree's HEAD if an agent detached or switched it.
            candidates: list[str] = []
            head = self.branch_head(branch)
            if head:
                candidates.append(head)
            if entry and entry.get("HEAD") and entry["HEAD"] not in candidates:
                candidates.append(entry["HEAD"])
            main_ref = f"refs/heads/{self.main_branch}"
            stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
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

    def archived_refs(self) -> list[tuple[str, str]]:
        out = self._git("for-each-ref", "--format=%(refname) %(objectname)", ARCHIVE_PREFIX)
        return [tuple(line.split(" ", 1)) for line in out.splitlines() if line]  # type: ignore[misc]

    # ------------------------------------------------------------------ used by the orchestrator

    def show_file(self, rev: str, path: str) -> str:
        """A file's text at a commit (what the baseline really holds, whatever the working tree says)."""
        return self._git("show", f"{rev}:{path}")

    def max_hypothesis_number(self) -> int:
        """The highest N of any lab/hN branch or archived hN, so a new session numbers after them."""
        out = self._git("for-each-ref", "--format=%(refname)", "refs/heads/" + LAB_BRANCH_PREFIX, ARCHIVE_PREFIX)
        best = 0
        for ref in out.splitlines():
            name = ref.removeprefix("refs/heads/" + LAB_BRANCH_PREFIX).removeprefix(ARCHIVE_PREFIX).split("/")[0]
            if name[:1] == "h" and name[1:].isdigit():
                best = max(best, int(name[1:]))
        return best

    def update_branch(self, hyp_id: str, main_sha: str) -> str:
        """Bring lab/<hyp_id> onto ``main_sha`` by merging it into the branch in its worktree.

        Used when main moved after a candidate was measured: the merged result is
        what gets measured (and approved) again. A conflict aborts and raises.
        """
        path = self.worktree_path(hyp_id)
        with self._lock:
            if not path.exists():
                raise GitStateError(f"the worktree of {hyp_id} is gone ({path}); it cannot be re-measured")
            status, _out, err = self._run("-c", "core.hooksPath=/dev/null", "merge", "--no-ff", "--no-edit",
                                          "-m", f"Bring {hyp_id} onto {self.main_branch} {main_sha[:12]}",
                                          main_sha, cwd=path)
            if status != 0:
                conflicts = _split_z(self._gitb("diff", "-z", "--name-only", "--diff-filter=U", cwd=path))
                self._run("merge", "--abort", cwd=path)
                shown = ", ".join(conflicts[:5]) or err.strip().splitlines()[-1:]
                raise GitStateError(f"{hyp_id} conflicts with {self.main_branch} in {shown}: it needs a new implementation")
            return self._git("rev-parse", "HEAD", cwd=path)

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
            leftover = self._git("commit-tree", tree, "-p", head, "-m",
                                 f"Uncommitted work left in {hyp_id}'s worktree by a stopped agent")
            ref = self._archive(hyp_id, leftover, time.strftime("leftover-%Y%m%dT%H%M%SZ", time.gmtime()))
            self._git("reset", "-q", "--hard", head, cwd=path)
            self._git("clean", "-q", "-fd", cwd=path)
            return ref
