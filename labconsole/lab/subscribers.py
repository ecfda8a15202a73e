"""Views subscribed to a lab's events: added and removed under the lab's lock, told in order."""

from __future__ import annotations

import threading
from typing import Any
from collections.abc import Callable

Subscriber = Callable[[Any, Any], None]  # fn(event, state)


class Subscribers:
    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self._fns: list[Subscriber] = []

    def add(self, fn: Subscriber) -> Callable[[], None]:
        """Subscribe ``fn``; returns the function that unsubscribes it."""
        with self._lock:
            self._fns.append(fn)

        def remove() -> None:
            with self._lock:
                if fn in self._fns:
                    self._fns.remove(fn)

        return remove

    def notify(self, event: Any, state: Any) -> None:
        """Call every subscriber (the caller holds the lock, so events arrive in log order)."""
        for fn in list(self._fns):
            try:
                fn(event, state)
            except Exception:  # a broken view must not stop the lab
                pass
