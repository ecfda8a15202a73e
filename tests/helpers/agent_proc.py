"""Drive one agent process (``python -m labconsole.agents.runner``) through the protocol in tests."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labconsole.agents.protocol import AgentLaunch

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class AgentProc:
    role: str
    backend: str
    lab_root: Path
    model: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    lines: list[dict[str, Any]] = field(default_factory=list)
    stderr: str = ""

    def __post_init__(self) -> None:
        # The supervisor's own command line, so the tests start agents the way the console does.
        launch = AgentLaunch(f"{self.role}-1", self.role, self.backend, self.model, self.lab_root, self.options)
        argv = launch.runner_argv(heartbeat_s=0.5)
        env = {**os.environ, "PYTHONPATH": str(ROOT), **self.env}
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT
        )
        self._cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout
        for line in self.proc.stdout:
            try:
                msg = json.loads(line)
            except json.JSONDecodeError:
                msg = {"type": "raw", "text": line}
            with self._cond:
                self.lines.append(msg)
                self._cond.notify_all()
        with self._cond:
            self.lines.append({"type": "_eof"})
            self._cond.notify_all()

    def _read_err(self) -> None:
        assert self.proc.stderr
        self.stderr = self.proc.stderr.read()

    def send(self, type_: str, **fields: Any) -> None:
        assert self.proc.stdin
        self.proc.stdin.write(json.dumps({"type": type_, **fields}) + "\n")
        self.proc.stdin.flush()

    def wait_for(self, type_: str, timeout: float = 60, **match: Any) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for msg in self.lines:
                    if msg["type"] == type_ and all(msg.get(k) == v for k, v in match.items()):
                        return msg
                if any(m["type"] == "_eof" for m in self.lines):
                    raise AssertionError(f"agent exited before {type_}: {self.lines}\nstderr: {self.stderr}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {type_} within {timeout}s: {self.lines}")
                self._cond.wait(left)

    def run_task(self, kind: str, payload: dict[str, Any], task_id: str = "t1", timeout: float = 60) -> dict[str, Any]:
        """Send a task and wait for its ``done`` or ``error``; returns that line."""
        self.send("task", task=task_id, kind=kind, payload=payload)
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                for msg in self.lines:
                    if msg["type"] in ("done", "error") and msg.get("task") == task_id:
                        return msg
                    if msg["type"] == "_eof":
                        raise AssertionError(f"agent exited: {self.lines}\nstderr: {self.stderr}")
                self._cond.wait(max(deadline - time.monotonic(), 0.01))
            if time.monotonic() > deadline:
                raise AssertionError(f"task {task_id} not finished in {timeout}s: {self.lines}")

    def of(self, type_: str) -> list[dict[str, Any]]:
        with self._cond:
            return [m for m in self.lines if m["type"] == type_]

    def close(self) -> int:
        if self.proc.poll() is None:
            try:
                self.send("shutdown")
            except (BrokenPipeError, OSError):
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def __enter__(self) -> AgentProc:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
