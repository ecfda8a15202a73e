"""A list of callbacks added and removed at will under their owner's lock (a lab's views, a sampler's consumers)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Generic, TypeVar

F = TypeVar("F", bound=Callable[..., None])


class Listeners(Generic[F]):
    """Callbacks of one signature; the owner's lock guards the list, so the owner can read it under that lock."""

    def __init__(self, lock: AbstractContextManager[Any]) -> None:
        self._lock = lock
        self._fns: list[F] = []

    def add(self, fn: F) -> Callable[[], None]:
        """Add ``fn``; returns the function that removes it (a second call does nothing)."""
        with self._lock:
            self._fns.append(fn)

        def remove() -> None:
            with self._lock:
                if fn in self._fns:
                    self._fns.remove(fn)

        return remove

    def current(self) -> list[F]:
        """A copy of the callbacks now (the caller holds the lock, which need not be reentrant)."""
        return list(self._fns)
