"""Memory and process limits of one measurement run, and the reason recorded when one was hit.

A cgroup when this machine lets us make one (exact: the kernel counts the OOM kills and refused
forks), otherwise rlimits: ``RLIMIT_AS`` for memory (virtual memory — CUDA reserves far more than it
uses, so on GPU labs prefer a machine with cgroups) and ``RLIMIT_NPROC`` for processes (set *inside*
the sandbox by ``prlimit``: set before bubblewrap it would count every process of the user). With
rlimits the hit is read off the run's output (an allocation or fork failure).
"""

from __future__ import annotations

import os
import re
import resource
import shlex
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
MEMORY_FAILURE = re.compile(rb"MemoryError|Cannot allocate memory|std::bad_alloc|out of memory", re.IGNORECASE)
FORK_FAILURE = re.compile(rb"Resource temporarily unavailable|fork: retry|can't fork|BlockingIOError")


@dataclass(frozen=True)
class RunLimits:
    memory_mb: int = 0  # 0 = none
    max_processes: int = 0

    def memory_reason(self) -> str:
        return f"killed: memory limit {self.memory_mb} MB"

    def process_reason(self) -> str:
        return f"killed: process limit {self.max_processes}"


class Cgroup:
    """A cgroup v1 (memory, pids hierarchies) or v2 directory for one run; ``None`` from :meth:`make`
    when cgroups are not writable here."""

    def __init__(self, dirs: dict[str, Path], v2: bool) -> None:
        self.dirs, self.v2 = dirs, v2  # controller ("memory"|"pids") -> directory

    @classmethod
    def make(cls, name: str, limits: RunLimits) -> Cgroup | None:
        wanted = [c for c, n in (("memory", limits.memory_mb), ("pids", limits.max_processes)) if n]
        if not wanted:
            return None
        v2 = (CGROUP_ROOT / "cgroup.controllers").is_file()
        dirs: dict[str, Path] = {}
        try:
            for ctrl in wanted:
                base = CGROUP_ROOT if v2 else CGROUP_ROOT / ctrl
                if not v2 and not base.is_dir():
                    raise OSError(f"no {ctrl} cgroup hierarchy")
                path = base / f"labconsole-{name}-{os.getpid()}"
                path.mkdir(exist_ok=True)
                dirs[ctrl] = path
                if ctrl == "memory":
                    limit = str(limits.memory_mb << 20)
                    (path / ("memory.max" if v2 else "memory.limit_in_bytes")).write_text(limit)
                    if v2 and (path / "memory.swap.max").exists():
                        (path / "memory.swap.max").write_text("0")  # else the limit is reached in swap, slowly
                else:
                    (path / "pids.max").write_text(str(limits.max_processes))
                if v2:
                    break  # one directory holds both controllers
            if v2:
                for ctrl in wanted:
                    dirs[ctrl] = dirs[wanted[0]]
        except OSError:
            cls(dirs, v2).remove()
            return None
        return cls(dirs, v2)

    def wrap(self, argv: list[str]) -> list[str]:
        """``argv`` started by a shell that first moves itself (so the run's whole tree) into the cgroup:
        no Python between fork and exec, and no child can fork before the move."""
        moves = " && ".join(
            f"echo $$ > {shlex.quote(str(p / 'cgroup.procs'))}" for p in dict.fromkeys(self.dirs.values())
        )
        return ["/bin/sh", "-c", f'{moves} && exec "$@"', "labconsole-run", *argv]

    def hit(self, limits: RunLimits) -> str:
        if "memory" in self.dirs:
            events = self.dirs["memory"] / ("memory.events" if self.v2 else "memory.oom_control")
            if _count(events, "oom_kill") > 0:
                return limits.memory_reason()
        if "pids" in self.dirs and _count(self.dirs["pids"] / "pids.events", "max") > 0:
            return limits.process_reason()
        return ""

    def remove(self) -> None:
        for path in dict.fromkeys(self.dirs.values()):
            for _ in range(20):  # the run's last processes may still be exiting
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)


def _count(path: Path, key: str) -> int:
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


class Limiter:
    """The limits of one run: how to apply them (before and inside the sandbox), and what was hit."""

    def __init__(self, name: str, limits: RunLimits) -> None:
        self.limits = limits
        self.cgroup = Cgroup.make(name, limits)

    @property
    def how(self) -> str:
        if not (self.limits.memory_mb or self.limits.max_processes):
            return "none"
        return "cgroup" if self.cgroup is not None else "rlimit"

    def preexec(self) -> None:
        """The memory rlimit, set in the child between fork and exec (only a setrlimit call)."""
        if self.cgroup is None and self.limits.memory_mb:
            size = self.limits.memory_mb << 20
            resource.setrlimit(resource.RLIMIT_AS, (size, size))

    def outer(self, argv: list[str]) -> list[str]:
        """``argv`` (the bubblewrap line, or the bare command) placed in the cgroup."""
        return self.cgroup.wrap(argv) if self.cgroup is not None else argv

    def inner(self, argv: list[str], sandboxed: bool) -> list[str]:
        """The command inside the sandbox, with the process rlimit when there is no cgroup: set inside,
        where it counts only the sandbox's processes (see the module doc)."""
        if self.cgroup is None and self.limits.max_processes and sandboxed and shutil.which("prlimit"):
            return ["prlimit", f"--nproc={self.limits.max_processes}", "--", *argv]
        return argv

    def hit(self, returncode: int | None, output: bytes) -> str:
        """The limit this run hit, as the recorded reason (``killed: memory limit 2048 MB``), or ``""``."""
        if self.cgroup is not None:
            return self.cgroup.hit(self.limits)
        if returncode in (0, None):
            return ""
        tail = output[-8192:]
        if self.limits.memory_mb and MEMORY_FAILURE.search(tail):
            return self.limits.memory_reason()
        if self.limits.max_processes and FORK_FAILURE.search(tail):
            return self.limits.process_reason()
        return ""

    def close(self) -> None:
        if self.cgroup is not None:
            self.cgroup.remove()
