"""A measurement run's log and blob store kept in memory, for tests that drive an executor directly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from labconsole.core.config import load_config
from labconsole.events.kinds import KINDS
from labconsole.runs.executor import ExecutorContext


class RunRecorder:
    """The Lab's ``append`` and ``put_blob`` as an executor sees them: events as (kind, data), each checked
    against its declaration; blobs under keys b0, b1, …"""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.blobs: dict[str, bytes] = {}

    def append(self, kind: str, actor: str, data: dict[str, Any]) -> None:
        KINDS[kind].check(data)  # every field an executor logs is declared
        self.events.append((kind, data))

    def put_blob(self, data: bytes) -> str:
        self.blobs[f"b{len(self.blobs)}"] = data
        return f"b{len(self.blobs) - 1}"

    def first(self, kind: str) -> dict[str, Any]:
        return next(d for k, d in self.events if k == kind)

    def context(self, repo: Any, lab: Path) -> ExecutorContext:
        """An executor's context for the lab at ``lab`` (its lab.toml), run files under its .labconsole/runs."""
        return ExecutorContext(
            repo, load_config(lab / "lab.toml"), self.append, self.put_blob, lab / ".labconsole" / "runs"
        )
