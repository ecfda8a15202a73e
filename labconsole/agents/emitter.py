"""Agent side of the JSONL protocol (docs/protocol.md): writes protocol lines to stdout."""

from __future__ import annotations

import json
import sys
import threading
from typing import IO, Any

PROTOCOL_VERSION = 1


class Emitter:
    """Thread-safe writer of protocol lines. Every line is one JSON object with a ``type``."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self._stream = stream or sys.stdout
        self._lock = threading.Lock()

    def send(self, type_: str, **fields: Any) -> None:
        line = json.dumps({"type": type_, **fields}, separators=(",", ":"), default=str)
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()

    # Named helpers keep call sites short and field names consistent with the protocol doc.
    def hello(self, role: str, backend: str, model: str = "") -> None:
        self.send("hello", protocol=PROTOCOL_VERSION, role=role, backend=backend, model=model)

    def heartbeat(self) -> None:
        self.send("heartbeat")

    def status(self, state: str, hypothesis: str | None = None, detail: str = "") -> None:
        self.send("status", state=state, hypothesis=hypothesis, detail=detail)

    def log(self, text: str, level: str = "info") -> None:
        self.send("log", level=level, text=text)

    def tool_call(self, tool: str, input: str, ok: bool = True, error: str | None = None) -> None:
        self.send("tool_call", tool=tool, input=input[:500], ok=ok, error=error)

    def proposal(self, title: str, params: dict[str, Any], rationale: str, source: str,
                 priority: float | None = None) -> None:
        self.send("proposal", title=title, params=params, rationale=rationale, source=source, priority=priority)

    def plan(self, hypothesis: str, decision: str, priority: float | None = None,
             of: str | None = None, similarity: float | None = None) -> None:
        self.send("plan", hypothesis=hypothesis, decision=decision, priority=priority, of=of, similarity=similarity)

    def commit(self, hypothesis: str, sha: str, message: str) -> None:
        self.send("commit", hypothesis=hypothesis, sha=sha, message=message)

    def verdict(self, hypothesis: str, verdict: str, reasons: list[str]) -> None:
        self.send("verdict", hypothesis=hypothesis, verdict=verdict, reasons=reasons)

    def report(self, path: str) -> None:
        self.send("report", path=path)

    def usage(self, input_tokens: int = 0, output_tokens: int = 0, cached_tokens: int = 0,
              cost_usd: float = 0.0, model: str = "", tool_calls: int = 0, repair_attempts: int = 0) -> None:
        self.send("usage", input_tokens=input_tokens, output_tokens=output_tokens, cached_tokens=cached_tokens,
                  cost_usd=cost_usd, model=model, tool_calls=tool_calls, repair_attempts=repair_attempts)

    def done(self, task: str, summary: str = "") -> None:
        self.send("done", task=task, summary=summary)

    def error(self, message: str, task: str | None = None, fatal: bool = False) -> None:
        self.send("error", message=message, task=task, fatal=fatal)
