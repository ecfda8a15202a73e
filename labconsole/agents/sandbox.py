"""Where an agent may read, write and run commands.

Two layers:

* :class:`PathPolicy` — every file tool resolves its path here; reads stay inside the
  workspace (plus extra read roots), writes stay inside a writable workspace (never a
  protected file), read-only roles write nothing. Symlinks are resolved first, so a link
  cannot lead out.
* :class:`CommandSandbox` — ``run_command`` runs in the workspace under the console's bubblewrap
  builder (:mod:`labconsole.core.sandbox`) when ``bwrap`` exists and works: the whole filesystem
  read-only, the workspace read-write (read-only for planner/reviewer), ``/tmp`` private, the
  user's HOME and config dir and the lab root (other worktrees, sessions) hidden, the network and
  the console's PID namespace unshared.
  Commands get *no* network at all: the model API is called by the agent process itself,
  outside the sandbox (bwrap cannot allow-list one host; that would need a proxy).
  Without bwrap, a conservative policy refuses commands that would write outside the
  workspace (redirections, write commands, ``cd`` to absolute paths) or — for read-only
  roles — anything not on a read-only allowlist. That fallback is a guard rail against
  mistakes, not a security boundary; the environment is scrubbed of secrets either way.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from labconsole.core.redact import SECRET_NAME
from labconsole.core.sandbox import SandboxSpec, bwrap_argv, bwrap_path, console_python_dirs, user_private_dirs

__all__ = [
    "CommandResult",
    "CommandSandbox",
    "PathPolicy",
    "Refused",
    "Workspace",
    "bwrap_path",
    "command_refusal",
    "is_protected",
    "scrubbed_env",
]


class Refused(Exception):
    """A tool use the policy does not allow; the message says why (shown as ``refused: …``)."""


@dataclass(frozen=True)
class Workspace:
    root: Path  # the agent's cwd (worktree, lab root, session dir)
    writable: bool = False  # may write anywhere inside root
    protected: tuple[str, ...] = ()  # globs relative to root that are never written
    write_files: tuple[Path, ...] = ()  # single files writable even when not `writable`
    read_roots: tuple[Path, ...] = ()  # extra directories that may be read

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root).resolve())
        object.__setattr__(self, "write_files", tuple(Path(p).resolve() for p in self.write_files))
        object.__setattr__(self, "read_roots", tuple(Path(p).resolve() for p in self.read_roots))


def is_protected(rel_path: str, globs: tuple[str, ...] | list[str]) -> bool:
    """``bench/**`` matches everything under bench/; plain globs match the relative path."""
    rel_path = rel_path.replace(os.sep, "/")
    for pattern in globs:
        if fnmatch.fnmatchcase(rel_path, pattern):
            return True
        if pattern.endswith("/**") and (rel_path == pattern[:-3] or rel_path.startswith(pattern[:-2])):
            return True
    return False


@dataclass
class PathPolicy:
    workspace: Workspace

    def _resolve(self, path: str) -> Path:
        p = Path(path).expanduser()
        if not p.is_absolute():
            p = self.workspace.root / p
        return p.resolve()  # follows symlinks: a link pointing out is judged by its target

    def _inside(self, p: Path, root: Path) -> bool:
        return p == root or root in p.parents

    def read(self, path: str) -> Path:
        p = self._resolve(path)
        roots = (self.workspace.root, *self.workspace.read_roots)
        if any(self._inside(p, r) for r in roots) or p in self.workspace.write_files:
            return p
        raise Refused(f"read outside the workspace: {path} (allowed: {self.workspace.root})")

    def write(self, path: str) -> Path:
        p = self._resolve(path)
        if p in self.workspace.write_files:
            return p
        if not self.workspace.writable:
            raise Refused(f"this role is read-only: cannot write {path}")
        if not self._inside(p, self.workspace.root):
            raise Refused(f"write outside the worktree: {path} (allowed: {self.workspace.root})")
        rel = p.relative_to(self.workspace.root).as_posix()
        if rel == ".git" or rel.startswith(".git/"):
            raise Refused(f"write into git metadata: {path}")
        if is_protected(rel, self.workspace.protected):
            raise Refused(f"protected file: {rel} (the objective's harness; editing it is metric gaming)")
        return p

    def relative(self, p: Path) -> str:
        try:
            return p.relative_to(self.workspace.root).as_posix() or "."
        except ValueError:
            return str(p)


# ---------------------------------------------------------------------------------- commands

READ_ONLY_COMMANDS = frozenset(
    {
        "ls",
        "cat",
        "head",
        "tail",
        "wc",
        "grep",
        "rg",
        "find",
        "file",
        "stat",
        "du",
        "diff",
        "cmp",
        "sort",
        "uniq",
        "cut",
        "tr",
        "echo",
        "printf",
        "pwd",
        "tree",
        "sha256sum",
        "md5sum",
        "nl",
        "true",
        "python",
        "python3",
        "git",
    }
)
READ_ONLY_GIT = frozenset({"log", "show", "diff", "status", "blame", "ls-files", "rev-parse", "grep", "branch"})
WRITE_COMMANDS = frozenset(
    {"rm", "mv", "cp", "touch", "mkdir", "rmdir", "ln", "chmod", "chown", "tee", "truncate", "dd", "install", "rsync"}
)
REDIRECTS = frozenset({">", ">>", ">|", "&>", "&>>"})


def _outside(word: str, root: Path) -> bool:
    if not word or word.startswith("-"):
        return False
    if word.startswith(("/", "~")) or ".." in Path(word).parts:
        p = Path(os.path.expanduser(word))
        p = (p if p.is_absolute() else root / p).resolve()
        return not (p == root or root in p.parents) and str(p) != "/dev/null"
    return False


def _segments(command: str) -> list[list[str]] | None:
    """Simple commands of a shell line (quote-aware), with redirections kept as tokens."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError:
        return None
    segments: list[list[str]] = [[]]
    for tok in tokens:
        if tok and set(tok) <= set(";|&()") and tok not in REDIRECTS:
            segments.append([])
        else:
            segments[-1].append(tok)
    return [seg for seg in segments if seg]


def command_refusal(command: str, ws: Workspace) -> str | None:
    """Why the fallback policy refuses ``command`` (``None`` = allowed)."""
    if ("$(" in command or "`" in command) and not ws.writable:
        return "command substitution is not allowed for a read-only role"
    segments = _segments(command)
    if segments is None:
        return "unparsable command (unbalanced quotes)"
    for words in segments:
        # Redirections: `> target`, `>> target` (`>&` duplicates a descriptor; `<` only reads).
        targets = [words[i + 1] for i, w in enumerate(words[:-1]) if w in REDIRECTS]
        for target in targets:
            if target == "/dev/null":
                continue
            if not ws.writable:
                return f"read-only role: output redirection to {target}"
            if _outside(target, ws.root):
                return f"redirection outside the worktree: {target}"
        while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
            words = words[1:]  # VAR=value prefixes
        if not words:
            continue
        name = os.path.basename(words[0])
        if name == "labconsole" or (name.startswith("python") and "labconsole.cli" in words[1:3]):
            return "agents cannot run labconsole: approvals, merges and publishing come from a person"
        if not ws.writable:
            if name not in READ_ONLY_COMMANDS:
                return f"read-only role: {name!r} is not on the read-only command list"
            if name == "git" and (len(words) < 2 or words[1] not in READ_ONLY_GIT):
                return f"read-only role: git {words[1] if len(words) > 1 else ''} may write"
            if name in {"python", "python3"} and not (len(words) > 1 and words[1] in {"-V", "--version"}):
                return "read-only role: running python may write files"
            if name == "find" and any(w in {"-delete", "-exec", "-execdir", "-fprint"} for w in words):
                return "read-only role: find with -delete/-exec"
            continue
        if name == "cd" and len(words) > 1 and _outside(words[1], ws.root):
            return f"cd outside the worktree: {words[1]}"
        if name == "git" and "-C" in words:
            idx = words.index("-C")
            if idx + 1 < len(words) and _outside(words[idx + 1], ws.root):
                return f"git -C outside the worktree: {words[idx + 1]}"
        if name in WRITE_COMMANDS or (name == "sed" and any(w.startswith("-i") for w in words)):
            for w in words[1:]:
                if _outside(w, ws.root):
                    return f"{name} touches a path outside the worktree: {w}"
    return None


def scrubbed_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for agent commands: no variable whose name looks secret."""
    env = dict(os.environ if env is None else env)
    return {k: v for k, v in env.items() if not SECRET_NAME.search(k)}


@dataclass
class CommandResult:
    exit_code: int
    output: str
    sandboxed: bool  # ran under bwrap
    timed_out: bool = False


@dataclass
class CommandSandbox:
    workspace: Workspace
    use_bwrap: bool = True
    env: dict[str, str] = field(default_factory=scrubbed_env)

    @property
    def bwrap(self) -> str | None:
        return bwrap_path() if self.use_bwrap else None

    def argv(self, command: str) -> list[str]:
        exe = self.bwrap
        if exe is None:
            return ["/bin/sh", "-c", command]
        ws = self.workspace
        common = self._git_common_dir()
        # The lab root holds .git, sessions/ and every worktree: hidden, with the workspace bound back.
        lab_root = common.parent if common is not None and common.name == ".git" else None
        labs = [lab_root, lab_root / "sessions", lab_root / ".labconsole"] if lab_root is not None else []
        spec = SandboxSpec(
            cwd=ws.root,
            writable=(ws.root,) if ws.writable else (),
            # The repo's git dir read-only: `git log`/`git diff` work, nothing in it changes.
            read_only=(
                *(() if ws.writable else (ws.root,)),
                *ws.read_roots,
                *([common] if common else []),
                *console_python_dirs(),
            ),
            read_only_files=(ws.root / ".git",) if ws.writable else (),  # the console runs git here later
            hidden=(*user_private_dirs(), *labs),
        )
        return bwrap_argv(exe, spec, ["/bin/sh", "-c", command])

    def _git_common_dir(self) -> Path | None:
        try:
            common = subprocess.run(
                ["git", "-C", str(self.workspace.root), "rev-parse", "--path-format=absolute", "--git-common-dir"],
                capture_output=True,
                text=True,
                timeout=10,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        out = common.stdout.strip()
        return Path(out).resolve() if common.returncode == 0 and out else None

    def run(self, command: str, timeout_s: float = 120.0) -> CommandResult:
        """Run ``command``; raises :class:`Refused` when the fallback policy says no."""
        sandboxed = self.bwrap is not None
        if not sandboxed:
            reason = command_refusal(command, self.workspace)
            if reason:
                raise Refused(reason)
        try:
            proc = subprocess.run(
                self.argv(command),
                cwd=self.workspace.root,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=timeout_s,
                start_new_session=True,
            )
        except subprocess.TimeoutExpired as exc:
            out = (exc.stdout or b"").decode("utf-8", "replace")
            return CommandResult(124, out + f"\n[timed out after {timeout_s:.0f} s]", sandboxed, True)
        return CommandResult(proc.returncode, proc.stdout.decode("utf-8", "replace"), sandboxed)
