"""Every console-measured run also goes to a local Trackio project named after the lab.

Trackio keeps one current run per process and prints to stdout, so the
writes happen in a child process (``python -m labconsole.runs.tracking``)
fed one JSON line per run: the console's own output stays intact, and a
tracking failure never fails a measurement.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from dataclasses import asdict, dataclass, field
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
        self.errors: list[str] = []
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def record(self, run: TrackedRun) -> None:
        with self._lock:
            try:
                proc = self._child()
                assert proc.stdin is not None
                proc.stdin.write((json.dumps(asdict(run), default=str) + "\n").encode())
                proc.stdin.flush()
            except (OSError, ValueError) as exc:
                self.errors.append(f"{run.name}: trackio writer unavailable: {exc}")

    def close(self, timeout: float = 30.0) -> None:
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait(timeout)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()

    def _child(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "labconsole.runs.tracking"],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            threading.Thread(target=self._read_errors, args=(self._proc,), daemon=True, name="trackio-errors").start()
        return self._proc

    def _read_errors(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            text = line.decode(errors="replace").rstrip()
            if text.startswith("trackio: "):  # ours; Trackio's own chatter is not an error
                self.errors.append(text)


def _write(run: dict[str, Any]) -> None:
    import trackio

    trackio.init(
        project=run["project"],
        name=run["name"],
        group=run["group"],
        config=run["config"],
        auto_log_cpu=False,
        auto_log_gpu=False,
    )
    for sample in run.get("system", []):
        trackio.log_system(sample)
    if run.get("metrics"):
        trackio.log(run["metrics"])
    if run.get("failed"):
        trackio.alert(
            f"run {run['name']} failed", text=run.get("error") or "see the session log", level=trackio.AlertLevel.ERROR
        )
    trackio.finish()


def main() -> None:
    """The child: one tracked run per stdin line, until stdin closes."""
    for line in sys.stdin:
        try:
            _write(json.loads(line))
        except Exception as exc:  # report and go on with the next run
            print(f"trackio: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
