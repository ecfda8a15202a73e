"""The guard every git command of the console runs under: git may read an agent's files, never run its programs.

Agents write their worktrees and may be able to write the repository's git dir (objects, refs,
``config``, ``info/attributes``, a worktree's admin dir). Git runs programs named in config and
attributes: hooks, ``core.fsmonitor``, ``core.sshCommand``, credential helpers, pagers, filter
drivers (``filter.<x>.clean/smudge/process``), diff drivers (``diff.<x>.textconv/command``),
merge drivers (``merge.<x>.driver``), and ``include.path`` pulls in a config from anywhere.
The console runs git outside any sandbox, so each of these is closed here:

- **Environment**: every inherited ``GIT_*`` variable is dropped (no ``GIT_DIR``/``GIT_WORK_TREE``/
  ``GIT_CONFIG_PARAMETERS`` from the caller) except the author/committer identity;
  ``GIT_CONFIG_NOSYSTEM=1``, ``GIT_CONFIG_GLOBAL=/dev/null`` (the user's identity is read once,
  see :func:`read_identity`), ``GIT_ATTR_NOSYSTEM=1``, ``GIT_TERMINAL_PROMPT=0``.
- **Fixed ``-c`` overrides** (command-line config wins over every file): :data:`FIXED_OVERRIDES`.
- **Per-driver overrides**: every ``filter.<x>`` and ``merge.<x>`` driver defined in a config file
  git would read is emptied (an empty filter command is skipped by git; a merge driver becomes
  ``false``, so a merge that needs it stops with a conflict instead of running it). Diff drivers
  are disabled by ``--no-ext-diff --no-textconv``, added to every ``diff``/``show``/``log``.
- **Includes cannot be overridden** (git has no switch to ignore them), so a repository or
  worktree whose config has ``include.*``/``includeIf.*`` is refused with one line naming the
  file; so is ``core.worktree`` (it would point the console's commands at another tree).

The config files are listed by git itself (``git config --file F --no-includes --list``: reading,
never executing) and cached by (inode, size, mtime).
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from labconsole.errors import GitStateError

FIXED_OVERRIDES: tuple[str, ...] = (
    "core.hooksPath=/dev/null",  # no hook runs (post-index-change fires on a mere `git status`)
    "core.fsmonitor=false",  # an fsmonitor "hook" is a program run by status/add/diff
    "core.sshCommand=false",  # the console never talks to a remote; if it did, no agent program
    "core.askPass=",
    "credential.helper=",  # an empty value resets the list of helpers
    "core.pager=cat",
    "core.editor=false",
    "sequence.editor=false",
    "core.attributesFile=/dev/null",
    "protocol.allow=never",  # no transport at all: the console's git never leaves the machine
    "submodule.recurse=false",
    "commit.gpgSign=false",
    "tag.gpgSign=false",
    "gpg.program=false",
    "gpg.ssh.program=false",
    "gpg.x509.program=false",
    "merge.verifySignatures=false",
)
# The identity a person set for commits the console makes (merges) is theirs to keep.
_KEPT_ENV = frozenset({"GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"})
_DIFF_COMMANDS = frozenset({"diff", "show", "log"})
_REFUSED_SECTIONS = ("include.", "includeif.")
_REFUSED_KEYS = frozenset({"core.worktree"})


def guarded_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a console git command: the caller's minus git's own variables, plus the pins."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_") or k in _KEPT_ENV}
    env.update(
        {
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_ATTR_NOSYSTEM": "1",
            "GIT_TERMINAL_PROMPT": "0",  # never block a worker thread on a prompt
            "GIT_OPTIONAL_LOCKS": "0",  # status must not write the index (it triggers index hooks)
            "LC_ALL": "C",
            "LANGUAGE": "C",
        }
    )
    if extra:
        env.update(extra)
    return env


def guarded_argv(exe: str, where: str, overrides: Sequence[str], args: Sequence[str]) -> list[str]:
    """``git -C where -c … <args>``, with ``--no-ext-diff --no-textconv`` after a diff/show/log."""
    argv = [exe, "-C", where]
    for item in (*FIXED_OVERRIDES, *overrides):
        argv += ["-c", item]
    args = list(args)
    # Callers may put their own "-c k=v" before the subcommand: find it past them.
    i = 0
    while i < len(args) and args[i] == "-c":
        i += 2
    if i < len(args) and args[i] in _DIFF_COMMANDS:
        args[i + 1 : i + 1] = ["--no-ext-diff", "--no-textconv"]
    return argv + args


class ConfigScanner:
    """Reads the keys of git config files (cached) and turns them into overrides or a refusal."""

    def __init__(self, exe: str) -> None:
        self._exe = exe
        self._cache: dict[str, tuple[tuple[int, int, int], list[str]]] = {}
        self._lock = threading.Lock()

    def keys(self, path: Path) -> list[str]:
        """The ``section[.sub].name`` keys set in one config file ([] when it does not exist)."""
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise GitStateError(f"cannot read git config {path}: {exc.strerror}") from None
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        with self._lock:
            hit = self._cache.get(str(path))
            if hit is not None and hit[0] == stamp:
                return hit[1]
        proc = subprocess.run(
            [self._exe, "config", "--file", str(path), "--no-includes", "--list", "--name-only", "-z"],
            capture_output=True,
            env=guarded_env(),
            cwd="/",
            timeout=30,
            stdin=subprocess.DEVNULL,
        )
        if proc.returncode != 0:
            err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
            raise GitStateError(
                f"git config {path} is not readable by git ({err[0] if err else 'no detail'}): fix or restore it"
            )
        # Git prints section and name lower-cased; a subsection (a driver's name) keeps its case.
        keys = [k.decode("utf-8", "surrogateescape") for k in proc.stdout.split(b"\0") if k]
        with self._lock:
            self._cache[str(path)] = (stamp, keys)
        return keys

    def overrides(self, files: Iterable[Path]) -> list[str]:
        """``-c`` values that neutralise every filter/merge driver the files define; refuses includes."""
        out: list[str] = []
        seen: set[tuple[str, str]] = set()
        for path in files:
            for key in self.keys(path):
                section, _, rest = key.partition(".")
                section = section.lower()
                if f"{section}." in _REFUSED_SECTIONS or key.lower() in _REFUSED_KEYS:
                    raise GitStateError(
                        f"{path} sets {key}: the console does not run git on a config with {section} "
                        "(an agent could have written it); remove that line and retry"
                    )
                driver = rest.rpartition(".")[0]
                if not driver or (section, driver) in seen or section not in ("filter", "merge"):
                    continue
                seen.add((section, driver))
                if section == "filter":
                    out += [
                        f"filter.{driver}.clean=",
                        f"filter.{driver}.smudge=",
                        f"filter.{driver}.process=",
                        f"filter.{driver}.required=false",
                    ]
                else:
                    out.append(f"merge.{driver}.driver=false")
        return out


__all__ = ["FIXED_OVERRIDES", "ConfigScanner", "guarded_argv", "guarded_env"]
