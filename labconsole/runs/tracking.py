"""Every console-measured run also goes to a local Trackio project named after the lab.

Trackio keeps one current run per process, so all calls go through one thread.
Its chatter on stdout is swallowed; failures to track never fail a measurement.
"""

from __future__ import annotations

import contextlib
import io
import queue
import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class TrackedRun:
    project: str
    name: str
    group: str
    config: dict[str, Any]
    metrics: dict[str, float] = field(default_factory=dict)
    failed: bool = False
    error: str = ""
    system: list[dict[str, float]] = field(default_factory=list)  # GPU telemetry taken during the run


class TrackioSink:
    def __init__(self) -> None:
        self._queue: queue.Queue[TrackedRun | None] = queue.Queue()
        self.errors: list[str] = []
        self._thread = threading.Thread(target=self._loop, name="trackio", daemon=True)
        self._thread.start()

    def record(self, run: TrackedRun) -> None:
        self._queue.put(run)

    def close(self, timeout: float = 10.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)

    def _loop(self) -> None:
        while (run := self._queue.get()) is not None:
            try:
                self._write(run)
            except Exception as exc:  # tracking is a mirror of the log, never a reason to fail a run
                self.errors.append(f"{run.name}: {exc}")

    @staticmethod
    def _write(run: TrackedRun) -> None:
        import trackio

        sink = io.StringIO()
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            trackio.init(project=run.project, name=run.name, group=run.group, config=run.config,
                         auto_log_cpu=False, auto_log_gpu=False)
            for sample in run.system:
                trackio.log_system(sample)
            if run.metrics:
                trackio.log(run.metrics)
            if run.failed:
                trackio.alert(f"run {run.name} failed", text=run.error or "see the session log",
                              level=trackio.AlertLevel.ERROR)
            trackio.finish()
