"""The sandbox of one measurement run: what the objective command sees, and its environment.

The objective runs the candidate's code, which an agent wrote: it is hostile input. Inside the
sandbox it sees the read-only system, its own detached checkout (writable, except the ``.git``
pointer the console reads back afterwards), the console's Python (read-only), the lab's declared
``read_paths`` (read-only), a private ``/tmp`` and an empty ``HOME``. The lab root (its ``.git``,
``sessions/``, every worktree), the user's ``$HOME`` and config dir are hidden; there is no network
unless ``[objective] network = true``; the console's pid is not in its PID namespace. The
environment is an allow-list (:func:`labconsole.core.sandbox.allowed_env`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from labconsole.core.config import Objective
from labconsole.core.sandbox import (
    SANDBOX_HOME,
    AllowedEnv,
    SandboxSpec,
    allowed_env,
    bwrap_argv,
    bwrap_path,
    console_python_dirs,
    gpu_devices,
    unavailable_reason,
    user_private_dirs,
)

SANDBOX_BWRAP = "bwrap"
SANDBOX_DEGRADED = "degraded"


@dataclass(frozen=True)
class SandboxStatus:
    """Whether runs of this session are sandboxed, and why not (one line)."""

    mode: str  # bwrap | degraded
    reason: str = ""

    @classmethod
    def here(cls) -> SandboxStatus:
        return cls(SANDBOX_BWRAP) if bwrap_path() else cls(SANDBOX_DEGRADED, unavailable_reason())


@dataclass
class PreparedRun:
    prefix: list[str]  # the bubblewrap line up to its ``--`` (empty when degraded)
    command: list[str]  # what runs inside: ``/bin/sh -c <objective command>``
    env: dict[str, str]
    sandbox: str  # bwrap | degraded
    env_names: list[str] = field(default_factory=list)  # taken from the console's environment
    refused_env: list[str] = field(default_factory=list)  # secret-looking names present but not named by the lab


def run_env(
    objective: Objective, own: Mapping[str, str], sandboxed: bool, source: Mapping[str, str] | None = None
) -> AllowedEnv:
    """The run's environment: the allow-list, the lab's named variables, the run's ``own`` (its ``LABCONSOLE_*``
    and its lease's ``CUDA_VISIBLE_DEVICES``, over anything else), and the console's Python first on PATH."""
    source = os.environ if source is None else source
    chosen = allowed_env(source, explicit=objective.env)
    # `python` in the objective means the console's interpreter, with its packages.
    path = os.path.dirname(sys.executable) + os.pathsep + source.get("PATH", os.defpath)
    home = SANDBOX_HOME if sandboxed else source.get("HOME", "")
    chosen.env.update(
        {
            "PATH": path,
            "PYTHONUNBUFFERED": "1",
            "HOME": home,
            "TMPDIR": "/tmp" if sandboxed else source.get("TMPDIR", "/tmp"),
            **own,
        }
    )
    return chosen


def prepare(
    objective: Objective,
    command: str,
    workdir: Path,
    lab_root: Path,
    run_vars: Mapping[str, str],
    gpu_env: Mapping[str, str],
    status: SandboxStatus,
    source: Mapping[str, str] | None = None,
) -> PreparedRun:
    """The command line and environment of one run under ``status``'s sandbox (or none, degraded)."""
    exe = bwrap_path() if status.mode == SANDBOX_BWRAP else None
    chosen = run_env(objective, {**run_vars, **gpu_env}, exe is not None, source)
    argv = ["/bin/sh", "-c", command]
    if exe is None:
        return PreparedRun([], argv, chosen.env, SANDBOX_DEGRADED, chosen.passed, chosen.refused)
    spec = SandboxSpec(
        cwd=workdir,
        writable=(workdir,),
        # The console reads the checkout's .git pointer after the run: the run may not repoint it.
        read_only_files=(workdir / ".git",),
        read_only=(*console_python_dirs(), *(Path(os.path.expanduser(p)) for p in objective.read_paths)),
        hidden=(*user_private_dirs(source), lab_root),
        devices=tuple(gpu_devices()) if gpu_env.get("CUDA_VISIBLE_DEVICES") else (),
        network=objective.network,
    )
    return PreparedRun(bwrap_argv(exe, spec, []), argv, chosen.env, SANDBOX_BWRAP, chosen.passed, chosen.refused)
