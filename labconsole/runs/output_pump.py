"""Read a run's output as it is printed: every line goes to a callback at once, and all of it is kept.

Local runs (runs/local.py) and Ray runs on their node (runs/remote_run.py) both wait for the objective
with :func:`wait_streaming` instead of ``communicate``, so their lines stream back while the run is in
flight and the whole output is still there at the end for the metric and the log blob.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable
from typing import IO

MAX_LINE_BYTES = 64 << 10  # a "line" with no newline for this long is passed on in pieces
EXIT_GRACE_S = 5.0  # how long the output may stay open after the run's process has exited


class OutputPump:
    """A daemon thread reading ``pipe`` to its end; ``on_line`` gets each line, decoded, and must not raise."""

    def __init__(self, pipe: IO[bytes], on_line: Callable[[str], None]) -> None:
        self._pipe = pipe
        self._on_line = on_line
        self._chunks: list[bytes] = []
        self.callback_errors = 0  # a broken consumer loses lines from the stream, never from the output
        self._thread = threading.Thread(target=self._read, name="run-output", daemon=True)

    def start(self) -> OutputPump:
        self._thread.start()
        return self

    def join(self, timeout: float | None) -> bool:
        """Wait for the end of the output; True if it ended."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def output(self) -> bytes:
        return b"".join(self._chunks)

    def _read(self) -> None:
        for raw in iter(lambda: self._pipe.readline(MAX_LINE_BYTES), b""):
            self._chunks.append(raw)
            try:
                self._on_line(raw.decode("utf-8", "replace"))
            except Exception:
                self.callback_errors += 1


def wait_streaming(
    proc: subprocess.Popen[bytes],
    timeout_s: float,
    on_line: Callable[[str], None],
    kill: Callable[[subprocess.Popen[bytes]], None],
) -> tuple[bytes, bool]:
    """Wait for ``proc`` (stdout piped) and the end of its output, streaming lines to ``on_line``.

    Returns (output, timed out). Past ``timeout_s`` with the process still running, ``kill`` ends it, as
    ``communicate`` with a timeout would have. Once the process has exited, output still held open by an
    escaped child is read for at most ``EXIT_GRACE_S`` more, then left to its reader thread. If the
    waiting thread is interrupted (a cancelled Ray task), ``kill`` runs before the exception goes on.
    """
    assert proc.stdout is not None
    pump = OutputPump(proc.stdout, on_line).start()
    deadline = time.monotonic() + timeout_s
    try:
        proc.wait(timeout=timeout_s)
        # The run's own process has ended, so its output has too. A child that left its process group and
        # still holds the pipe gets a short grace, not the run's whole timeout: a console stopping (its
        # runs cancelled) would otherwise wait that long on it.
        pump.join(min(EXIT_GRACE_S, max(0.0, deadline - time.monotonic())))
        timed_out = False
    except subprocess.TimeoutExpired:
        timed_out = True
    except BaseException:
        kill(proc)
        raise
    if timed_out:
        kill(proc)
        proc.wait()
        pump.join(5.0)
    if pump.join(0):  # a pipe still held by an escaped child stays open rather than closed under its reader
        proc.stdout.close()
    return pump.output(), timed_out
