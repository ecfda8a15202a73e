"""A run's log lines as ``run.log`` events while it is in flight, rate-limited so a flood cannot stall the console.

Every executor reports the lines its runs print through one :class:`RunLogSink` (the port's line callback):
the local executor as its subprocess prints them, the Ray executor as the remote task pushes them, the
HF Jobs executor as it polls the job's logs. The sink redacts each line like the run's stored log, cuts
it to :data:`MAX_LINE_CHARS`, and lets each run through at most :data:`LINES_PER_S` lines a second (after
a burst of :data:`BURST_LINES`). Lines over that are dropped and counted, like an agent's chatter under a
flood: the next line that goes through, or the run's closing event, says how many were dropped. The whole
output still reaches the run's log blob at the end; the stream is for watching, the blob is the record.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from labconsole.core.redact import Redactor
from labconsole.events import kinds as K

if TYPE_CHECKING:  # executor.py builds every executor's RunLogSink: a run-time import would be circular
    from labconsole.runs.executor import Append

MAX_LINE_CHARS = 500
LINES_PER_S = 20.0
BURST_LINES = 100

# (run id, stream, text): what an executor calls for every line a run printed.
LineCallback = Callable[[str, str, str], None]


@dataclass
class _Bucket:
    hyp_id: str | None
    tokens: float
    at: float
    dropped: int = 0


class RunLogSink:
    """Turns runs' output lines into ``run.log`` events through the Lab's ``append``; thread-safe."""

    def __init__(
        self,
        append: Append,
        redactor: Redactor,  # the executor's own, so a streamed line is masked exactly as its stored log is
        lines_per_s: float = LINES_PER_S,
        burst: int = BURST_LINES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.append = append
        self.redactor = redactor
        self.lines_per_s = lines_per_s
        self.burst = burst
        self._clock = clock
        self._lock = threading.Lock()
        self._runs: dict[str, _Bucket] = {}

    def open(self, run_id: str, hyp_id: str | None) -> None:
        """Start counting ``run_id``'s lines (a line for a run not opened is dropped: it has no run.started)."""
        with self._lock:
            self._runs[run_id] = _Bucket(hyp_id, float(self.burst), self._clock())

    def line(self, run_id: str, stream: str, text: str) -> None:
        """One line the run printed (``stream``: stdout | stderr | the executor's own name for it)."""
        with self._lock:
            bucket = self._runs.get(run_id)
            if bucket is None:
                return
            now = self._clock()
            bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.at) * self.lines_per_s)
            bucket.at = now
            if bucket.tokens < 1.0:
                bucket.dropped += 1
                return
            bucket.tokens -= 1.0
            dropped, bucket.dropped = bucket.dropped, 0
            hyp_id = bucket.hyp_id
        self._emit(run_id, hyp_id, stream, text, dropped)

    def dropped(self, run_id: str, count: int) -> None:
        """Lines of ``run_id`` dropped before they reached the sink (a remote run's own bound)."""
        with self._lock:
            if (bucket := self._runs.get(run_id)) is not None:
                bucket.dropped += count

    def close(self, run_id: str) -> None:
        """The run ended: report lines still counted as dropped (call before its ``run.finished``)."""
        with self._lock:
            bucket = self._runs.pop(run_id, None)
        if bucket is not None and bucket.dropped:
            self._emit(run_id, bucket.hyp_id, "console", "", bucket.dropped)

    def _emit(self, run_id: str, hyp_id: str | None, stream: str, text: str, dropped: int) -> None:
        text = self.redactor.text(text.rstrip("\r\n"))
        data: dict[str, object] = {"run_id": run_id, "hyp_id": hyp_id, "stream": stream, "text": text}
        if len(text) > MAX_LINE_CHARS:
            data["text"], data["truncated"] = text[:MAX_LINE_CHARS], True
        if dropped:
            data["dropped"] = dropped
        self.append(K.RUN_LOG, "console", data)
