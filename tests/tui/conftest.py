"""TUI test fixtures: a copy of the recorded example session, and a FakeLab that records commands."""

from __future__ import annotations

import copy
import shutil
import threading
from pathlib import Path
from typing import Any
from collections.abc import Callable

import pytest

from labconsole.errors import GateError, LabError
from labconsole.events.log import Event, get_blob, read_events
from labconsole.lab import gate
from labconsole.lab.reducer import apply
from labconsole.lab.state import LabState

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "sessions" / "examples" / "tui-review"


@pytest.fixture
def example_session(tmp_path: Path) -> Path:
    """A private copy: replay writes its index/ beside the log."""
    dest = tmp_path / "tui-review"
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns("index", "lock"))
    return dest


class FakeLab:
    """The slice of :class:`labconsole.lab.service.Lab` the TUI uses, over a recorded session.

    Decisions append synthetic events through the real reducer, so the screens see them.
    """

    def __init__(self, session_dir: Path, orchestrator: bool = True) -> None:
        self.session_dir = session_dir
        self._state = LabState()
        for ev in read_events(session_dir):
            apply(self._state, ev)
        self._lock = threading.RLock()
        self._subs: list[Callable[[Event, LabState], None]] = []
        self.calls: list[tuple[Any, ...]] = []
        self.orchestrator = object() if orchestrator else None
        self.stopped: list[bool] = []
        self.repo = None

    def subscribe(self, fn: Callable[[Event, LabState], None]) -> Callable[[], None]:
        self._subs.append(fn)
        return lambda: self._subs.remove(fn) if fn in self._subs else None

    def locked(self) -> threading.RLock:
        return self._lock

    def snapshot(self) -> LabState:
        with self._lock:
            return copy.deepcopy(self._state)

    def blob(self, digest: str) -> bytes:
        return get_blob(self.session_dir, digest)

    def agent_log_path(self, agent_id: str) -> Path:
        return self.session_dir / "agents" / f"{agent_id}.log"

    def append(self, kind: str, actor: str, data: dict) -> Event:
        with self._lock:
            ev = Event(self._state.last_seq + 1, self._state.last_ts + 1, kind, actor, data, "0" * 64, "0" * 64)
            apply(self._state, ev)
            for fn in list(self._subs):
                fn(ev, self._state)
            return ev

    def approve(
        self,
        hyp_id: str,
        who: str | None = None,
        reason: str = "",
        *,
        confirm_flags: bool = True,
        overrides: list[str] | None = None,
    ) -> Event:
        h = gate.hypothesis(self._state, hyp_id)
        if gate.needs_confirmation(h) and not confirm_flags:
            raise GateError(f"{hyp_id}: flagged; confirm to approve anyway")
        if h.status != "awaiting-human":
            raise GateError(f"{hyp_id} is {h.status}")
        self.calls.append(("approve", hyp_id, confirm_flags))
        return self.append(
            "decision.approved",
            "human:test",
            {"hyp_id": hyp_id, "sha": h.sha, "who": "test", "evidence_hash": h.evidence_hash, "reason": reason},
        )

    def reject(self, hyp_id: str, who: str | None = None, reason: str = "") -> Event:
        self.calls.append(("reject", hyp_id, reason))
        return self.append("decision.rejected", "human:test", {"hyp_id": hyp_id, "who": "test", "reason": reason})

    def merge(self, hyp_id: str, who: str | None = None, *, confirm_rules_change: bool = False) -> Event:
        h = gate.hypothesis(self._state, hyp_id)
        if h.status != "approved":
            raise GateError(f"{hyp_id} is {h.status}: a person must approve it first")
        self.calls.append(("merge", hyp_id))
        return self.append("merge.completed", "human:test", {"hyp_id": hyp_id, "sha": h.sha, "merge_sha": "f" * 40})

    def remeasure(self, hyp_id: str) -> None:
        gate.check_remeasure(self._state, hyp_id)
        self.calls.append(("remeasure", hyp_id))

    def agent_control(self, agent_id: str, action: str, who: str | None = None) -> None:
        if self.orchestrator is None:
            raise LabError("agents are not running in this console")
        self.calls.append(("control", agent_id, action))
        self.append("agent.control", "human:test", {"agent_id": agent_id, "action": action})

    def send_message(self, agent_id: str, text: str, who: str | None = None) -> None:
        self.calls.append(("message", agent_id, text))
        self.append("agent.message", "human:test", {"agent_id": agent_id, "text": text})

    def resume_after_budget(self, who: str | None = None) -> None:
        self.calls.append(("resume_budget",))

    def stop(self, *, stop_agents: bool = True, reason: str = "") -> None:
        self.stopped.append(stop_agents)


@pytest.fixture
def fake_lab(example_session: Path) -> FakeLab:
    return FakeLab(example_session)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # Textual runs on asyncio; the async tests use anyio's pytest plugin
