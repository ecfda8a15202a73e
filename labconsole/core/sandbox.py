"""One bubblewrap builder for every process an agent can influence: measurement runs and CLI agents.

The shape of every sandbox: the system read-only (``/`` bound read-only), fresh ``/dev`` and ``/proc``
(own PID namespace: the console's pid and its ``/proc/<pid>/environ`` do not exist inside), a private
``/tmp`` (the console's control socket lives in the real one), and then, on top, directories *hidden*
under an empty tmpfs — the user's ``$HOME`` and config dir (the person's signing key is under
``~/.config/labconsole/keys``), the lab root (its ``.git``, ``sessions/``, every worktree) — and only
what the process needs bound back: its workspace read-write, tools and read paths read-only.
Network: none (``--unshare-all``) unless the caller shares it (CLI agents must reach their model API).

:func:`bwrap_path` says whether bubblewrap exists and works here; without it callers run the process
unsandboxed and say so (``sandbox: degraded``). :func:`allowed_env` is the environment allow-list:
the process never inherits the console's environment.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from labconsole.core.redact import SECRET_NAME

# What every sandboxed process may inherit from the console's environment, by name.
BASE_ENV_NAMES = ("PATH", "LANG", "LANGUAGE", "TZ", "TERM", "PYTHONUNBUFFERED")
LOCALE_PREFIX = "LC_"
SANDBOX_HOME = "/tmp/home"  # the fake, empty HOME inside the sandbox (on its private /tmp)


@lru_cache(maxsize=1)
def bwrap_path() -> str | None:
    """``bwrap`` if it exists *and* can build the sandbox here (containers often forbid namespaces)."""
    exe = shutil.which("bwrap")
    if not exe:
        return None
    try:
        probe = subprocess.run(
            [
                exe,
                "--ro-bind",
                "/",
                "/",
                "--dev",
                "/dev",
                "--proc",
                "/proc",
                "--unshare-all",
                "--die-with-parent",
                "--",
                "true",
            ],
            capture_output=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return exe if probe.returncode == 0 else None


def unavailable_reason() -> str:
    """One line for the session log and the person: why there is no sandbox, and what to do."""
    if shutil.which("bwrap") is None:
        return "bubblewrap (bwrap) is not installed: install it (Debian/Ubuntu: apt-get install bubblewrap)"
    return "bubblewrap cannot create namespaces here (unprivileged user namespaces are disabled?)"


def user_private_dirs(env: Mapping[str, str] | None = None) -> list[Path]:
    """The user's own directories no sandbox may see: ``$HOME`` and the config dir (signing keys,
    CLI logins, ssh keys). The config dir is listed even when it is under ``$HOME``."""
    env = os.environ if env is None else env
    home = Path(env.get("HOME") or Path.home())
    dirs = [home, Path(env.get("XDG_CONFIG_HOME") or home / ".config")]
    return [Path(os.path.realpath(d)) for d in dirs]


def console_python_dirs() -> list[Path]:
    """What ``python`` (the console's interpreter, first on PATH) needs: its bin dir, the venv, the stdlib."""
    dirs = {
        Path(sys.prefix),
        Path(sys.base_prefix),
        Path(sys.executable).parent,
        Path(os.path.realpath(sys.executable)).parent,
    }
    return sorted(Path(os.path.realpath(d)) for d in dirs)


def gpu_devices() -> list[Path]:
    """The NVIDIA device nodes a leased GPU needs inside the sandbox (none on a machine without GPUs)."""
    return sorted(Path("/dev").glob("nvidia*"))


@dataclass(frozen=True)
class StagedDir:
    """A read-only directory in which the process may create a few named files (a reporter's report in the
    session dir): inside, ``path`` is the host dir ``stage`` with every other entry of ``path`` bound back
    read-only. What the process wrote under ``names`` is in ``stage`` afterwards, for the console to copy
    (:meth:`collect`); nothing it does reaches the real directory."""

    path: Path
    stage: Path
    names: tuple[str, ...]

    def mounts(self) -> list[str]:
        out = ["--bind", str(self.stage), str(self.path)]
        for entry in sorted(self.path.iterdir()):
            # A symlink is not followed (an agent could have planted one pointing anywhere).
            if entry.name not in self.names and not entry.is_symlink():
                out += ["--ro-bind", str(entry), str(entry)]
        return out

    def collect(self) -> list[Path]:
        """Copy the named files the process wrote (regular files only) to the real directory."""
        copied = []
        for name in self.names:
            made = self.stage / name
            if made.is_file() and not made.is_symlink():
                shutil.copyfile(made, self.path / name)
                copied.append(self.path / name)
        return copied


@dataclass(frozen=True)
class SandboxSpec:
    """What one sandboxed process sees besides the read-only system. Paths are host paths, mounted
    at the same place inside; later (deeper) mounts win over earlier ones."""

    cwd: Path
    writable: tuple[Path, ...] = ()  # bound read-write (the run's checkout, the agent's worktree)
    read_only: tuple[Path, ...] = ()  # bound back read-only on top of hidden dirs (the venv, data caches)
    read_only_files: tuple[Path, ...] = ()  # single files made read-only inside a writable dir (a checkout's .git)
    hidden: tuple[Path, ...] = ()  # replaced by an empty tmpfs (HOME, the config dir, the lab root)
    devices: tuple[Path, ...] = ()  # device nodes bound in (GPUs)
    staged: tuple[StagedDir, ...] = ()  # read-only dirs where named files may be created (see StagedDir)
    network: bool = False  # share the host's network namespace
    home: str = SANDBOX_HOME  # created empty; the caller sets HOME to it

    def __post_init__(self) -> None:
        def real(paths: Iterable[Path]) -> tuple[Path, ...]:
            return tuple(Path(os.path.realpath(p)) for p in paths)

        object.__setattr__(self, "cwd", Path(os.path.realpath(self.cwd)))
        for name in ("writable", "read_only", "read_only_files", "hidden", "devices"):
            object.__setattr__(self, name, real(getattr(self, name)))


def bwrap_argv(exe: str, spec: SandboxSpec, argv: list[str]) -> list[str]:
    """The bubblewrap command line that runs ``argv`` inside ``spec``."""
    out = [exe, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    # Mount order is by depth so that a bind inside a hidden dir lands on top of the tmpfs, and a hidden
    # dir inside a bound one (a lab root under HOME) still hides. Same depth: hide first, then bind.
    mounts: list[tuple[int, int, list[str]]] = []
    for p in spec.hidden:
        if not p.is_dir():  # nothing there to hide (and no mount point to make on the read-only root)
            continue
        mounts.append((len(p.parts), 0, ["--tmpfs", str(p)]))
    covered = (*spec.hidden, Path("/tmp"))
    for p in spec.read_only:
        if any(p == h or h in p.parents for h in covered):  # elsewhere it is visible (read-only) already
            mounts.append((len(p.parts), 1, ["--ro-bind-try", str(p), str(p)]))
    for p in spec.writable:
        mounts.append((len(p.parts), 2, ["--bind", str(p), str(p)]))
    for p in spec.read_only_files:
        mounts.append((len(p.parts), 3, ["--ro-bind-try", str(p), str(p)]))
    for staged in spec.staged:
        mounts.append((len(staged.path.parts), 4, staged.mounts()))
    for _, _, args in sorted(mounts, key=lambda m: (m[0], m[1])):
        out += args
    for dev in spec.devices:
        out += ["--dev-bind-try", str(dev), str(dev)]
    out += ["--dir", spec.home, "--unshare-all"]
    if spec.network:
        out.append("--share-net")
    if os.geteuid() == 0:
        # Root outside: be an ordinary uid inside (mapped back to root for the files it writes). Root in
        # the sandbox's user namespace could not start a nested sandbox (codex's own) once capabilities
        # are dropped; without dropping them it could unmount the tmpfs that hides HOME.
        out += ["--uid", "1000", "--gid", "1000"]
    out += ["--die-with-parent", "--new-session", "--cap-drop", "ALL", "--chdir", str(spec.cwd), "--", *argv]
    return out


@dataclass
class AllowedEnv:
    """An environment built from an allow-list, and the names that were let through (for the log)."""

    env: dict[str, str] = field(default_factory=dict)
    passed: list[str] = field(default_factory=list)  # names taken from the console's environment
    refused: list[str] = field(default_factory=list)  # secret-looking names not named explicitly


def allowed_env(
    source: Mapping[str, str],
    names: Iterable[str] = (),
    explicit: Iterable[str] = (),
    set_vars: Mapping[str, str] | None = None,
) -> AllowedEnv:
    """Take from ``source`` only the base names, ``LC_*`` and ``names``; a secret-looking name
    (:data:`~labconsole.core.redact.SECRET_NAME`) only when it is in ``explicit`` (the lab or the
    backend named it on purpose). ``set_vars`` are set as given (the run's own variables)."""
    explicit = set(explicit)
    wanted = [*BASE_ENV_NAMES, *[n for n in source if n.startswith(LOCALE_PREFIX)], *names, *explicit]
    out = AllowedEnv()
    for name in dict.fromkeys(wanted):
        if name not in source:
            continue
        if SECRET_NAME.search(name) and name not in explicit:
            out.refused.append(name)
            continue
        out.env[name] = source[name]
        out.passed.append(name)
    out.env.update(set_vars or {})
    return out
