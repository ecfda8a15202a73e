"""PID → owner attribution: which agent or run a GPU process belongs to."""

from __future__ import annotations

import threading
from collections.abc import Callable

import psutil  # type: ignore[import-untyped]


class OwnerRegistry:
    """Root PIDs of agents/runs with labels; any descendant process is attributed to the nearest one.

    ``parent_of`` is injectable for tests; by default it walks psutil's parent chain.
    """

    def __init__(self, parent_of: Callable[[int], int | None] | None = None) -> None:
        self._lock = threading.Lock()
        self._roots: dict[int, str] = {}
        self._parent_of = parent_of or _psutil_parent

    def register(self, pid: int, label: str) -> None:
        with self._lock:
            self._roots[pid] = label

    def unregister(self, pid: int) -> None:
        with self._lock:
            self._roots.pop(pid, None)

    def roots(self) -> dict[int, str]:
        with self._lock:
            return dict(self._roots)

    def owner_of(self, pid: int) -> str | None:
        roots = self.roots()
        seen: set[int] = set()
        current: int | None = pid
        while current is not None and current not in seen and current > 0:
            if current in roots:
                return roots[current]
            seen.add(current)
            current = self._parent_of(current)
        return None


def _psutil_parent(pid: int) -> int | None:
    try:
        ppid = psutil.Process(pid).ppid()
    except (psutil.Error, OSError):
        return None
    return ppid if ppid != pid else None
