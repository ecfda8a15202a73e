"""The background thread both telemetry sources poll on: start it once, stop it and wait for it."""

from __future__ import annotations

import threading


class PollingThread:
    """A daemon thread running the subclass's ``_loop`` until ``_stop`` is set (``_loop`` waits on it)."""

    thread_name = "polling"

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._thread = None

    def _loop(self) -> None:
        raise NotImplementedError


__all__ = ["PollingThread"]
