"""Agent side of the JSONL protocol (docs/protocol.md): writes protocol messages to stdout.

The messages themselves are defined in :mod:`labconsole.agents.protocol`; the named helpers
here keep call sites short (``emit.proposal(...)``).
"""

from __future__ import annotations

import sys
import threading
from typing import IO, Any

from labconsole.agents import protocol as P
from labconsole.core.usage import Usage

PROTOCOL_VERSION = P.PROTOCOL_VERSION


class Emitter:
    """Thread-safe writer of protocol lines (the heartbeat thread and the worker share it)."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self._stream = stream or sys.stdout
        self._lock = threading.Lock()

    def write(self, message: P.AgentMessage) -> None:
        line = message.to_json()
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()

    def hello(self, role: str, backend: str, model: str = "") -> None:
        self.write(P.Hello(role=role, backend=backend, model=model))

    def heartbeat(self) -> None:
        self.write(P.Heartbeat())

    def status(self, state: str, hypothesis: str | None = None, detail: str = "") -> None:
        self.write(P.Status(state=state, hypothesis=hypothesis, detail=detail))

    def log(self, text: str, level: str = "info") -> None:
        self.write(P.Log(text=text, level=level))

    def tool_call(self, tool: str, input: str, ok: bool = True, error: str | None = None) -> None:
        self.write(P.ToolCall(tool=tool, input=input[:500], ok=ok, error=error))

    def proposal(
        self, title: str, params: dict[str, Any], rationale: str, source: str, priority: float | None = None
    ) -> None:
        self.write(P.Proposal(title=title, params=params, rationale=rationale, source=source, priority=priority))

    def plan(
        self,
        hypothesis: str,
        decision: str,
        priority: float | None = None,
        of: str | None = None,
        similarity: float | None = None,
    ) -> None:
        self.write(P.Plan(hypothesis=hypothesis, decision=decision, priority=priority, of=of, similarity=similarity))

    def commit(self, hypothesis: str, sha: str, message: str) -> None:
        self.write(P.Commit(hypothesis=hypothesis, sha=sha, message=message))

    def verdict(self, hypothesis: str, verdict: str, reasons: list[str]) -> None:
        self.write(P.Verdict(hypothesis=hypothesis, verdict=verdict, reasons=reasons))

    def report(self, path: str) -> None:
        self.write(P.Report(path=path))

    def usage(
        self,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cached_tokens: int = 0,
        cost_usd: float = 0.0,
        model: str = "",
        tool_calls: int = 0,
        repair_attempts: int = 0,
    ) -> None:
        self.write(
            P.UsageReport(
                Usage(input_tokens, output_tokens, cached_tokens, cost_usd, tool_calls, repair_attempts), model=model
            )
        )

    def done(self, task: str, summary: str = "") -> None:
        self.write(P.Done(task=task, summary=summary))

    def error(self, message: str, task: str | None = None, fatal: bool = False) -> None:
        self.write(P.Error(message=message, task=task, fatal=fatal))
