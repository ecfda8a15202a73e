"""A local HTTP server on 127.0.0.1 that answers like the Hub's jobs endpoints (shapes from huggingface_hub's
``HfApi.run_job`` / ``inspect_job`` / ``fetch_job_logs`` / ``cancel_job`` / ``list_jobs`` and ``JobInfo``).

It really runs each job's command (``sh -c …``) as a local process with the job's environment, ignoring the
image, so the job script the executor sends is exercised end to end: bundle, commit check, objective, markers.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, UTC
from http.server import ThreadingHTTPServer
from typing import Any

from tests.helpers.json_http import JsonHandler

TOKEN = "hf_fake_token_for_tests"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class FakeJob:
    id: str
    namespace: str
    spec: dict[str, Any]
    proc: subprocess.Popen[bytes]
    created: str
    output: list[tuple[str, str]] = field(default_factory=list)  # (timestamp, line)
    canceled: bool = False

    def stage(self) -> str:
        if self.canceled:
            return "CANCELED"
        rc = self.proc.poll()
        if rc is None:
            return "RUNNING"
        return "COMPLETED" if rc == 0 else "ERROR"

    def info(self) -> dict[str, Any]:
        stage = self.stage()
        return {
            "id": self.id,
            "createdAt": self.created,
            "dockerImage": self.spec.get("dockerImage"),
            "command": self.spec["command"],
            "arguments": self.spec.get("arguments", []),
            "environment": {k: "…" for k in self.spec.get("environment", {})},
            "secrets": {},
            "flavor": self.spec.get("flavor"),
            "labels": self.spec.get("labels"),
            "status": {"stage": stage, "message": f"exit code {self.proc.returncode}" if stage == "ERROR" else None},
            "owner": {"id": "5e9e", "name": self.namespace, "type": "user"},
        }


class FakeHub:
    def __init__(self) -> None:
        self.jobs: dict[str, FakeJob] = {}
        self.specs: list[dict[str, Any]] = []
        hub = self

        class Handler(JsonHandler):
            def _authorized(self) -> bool:
                if self.headers.get("authorization") == f"Bearer {TOKEN}":
                    return True
                self.send_json(401, {"error": "Invalid credentials in Authorization header"})
                return False

            def do_GET(self) -> None:
                if not self._authorized():
                    return
                parts = self.path.split("?")[0].strip("/").split("/")
                if parts == ["api", "whoami-v2"]:
                    return self.send_json(200, {"type": "user", "id": "5e9e", "name": "tester", "auth": {}})
                if parts[:2] == ["api", "jobs"] and len(parts) == 3:
                    return self.send_json(200, [j.info() for j in hub.jobs.values()])
                job = hub.jobs.get(parts[3]) if parts[:2] == ["api", "jobs"] and len(parts) >= 4 else None
                if job is None:
                    return self.send_json(404, {"error": "Job not found"})
                if len(parts) == 4:
                    return self.send_json(200, job.info())
                if parts[4] == "logs":
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.end_headers()
                    self.wfile.write(
                        b'data: {"timestamp": "%s", "data": "===== Job started ====="}\n\n' % job.created.encode()
                    )
                    for ts, line in list(job.output):
                        self.wfile.write(b"data: " + json.dumps({"timestamp": ts, "data": line}).encode() + b"\n\n")
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.send_json(404, {"error": "no such route"})

            def do_POST(self) -> None:
                if not self._authorized():
                    return
                parts = self.path.strip("/").split("/")
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if parts[:2] == ["api", "jobs"] and len(parts) == 3:
                    return self.send_json(200, hub.start(parts[2], body).info())
                if parts[:2] == ["api", "jobs"] and len(parts) == 5 and parts[4] == "cancel":
                    job = hub.jobs[parts[3]]
                    job.canceled = True
                    try:
                        os.killpg(job.proc.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    return self.send_json(200, {})
                self.send_json(404, {"error": "no such route"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self, namespace: str, spec: dict[str, Any]) -> FakeJob:
        self.specs.append(spec)
        env = {
            "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", "/tmp"),
            **spec.get("environment", {}),
        }
        proc = subprocess.Popen(
            spec["command"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        job = FakeJob(uuid.uuid4().hex[:24], namespace, spec, proc, _now())
        self.jobs[job.id] = job

        def pump() -> None:
            assert proc.stdout is not None
            for raw in proc.stdout:
                job.output.append((job.created, raw.decode("utf-8", "replace").rstrip("\n")))
            proc.wait()

        # Logs are complete before the job reads as finished: wait for the pump in stage() via the thread.
        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        job.proc = _WaitsForReader(proc, reader)  # type: ignore[assignment]
        return job

    def __enter__(self) -> FakeHub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for job in self.jobs.values():
            try:
                os.killpg(job.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.server.shutdown()
        self.server.server_close()


class _WaitsForReader:
    """A finished job's log is whole: ``poll`` reports the end only once its output has been read."""

    def __init__(self, proc: subprocess.Popen[bytes], reader: threading.Thread) -> None:
        self._proc, self._reader = proc, reader
        self.pid = proc.pid

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode

    def poll(self) -> int | None:
        if self._proc.poll() is None or self._reader.is_alive():
            return None
        return self._proc.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        self._reader.join(timeout)
        return self._proc.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
