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
from labconsole.lab.command_methods import CommandMethods
from labconsole.lab import commands as C
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


class FakeLab(CommandMethods[Event]):
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

    # The command methods are the real ones (CommandMethods); only where the commands go is faked:
    # the gate's checks run, the call is recorded and the decision's event is appended.
    def _decide(self, command: C.Approve | C.Reject | C.Merge) -> Event:
        h = gate.hypothesis(self._state, command.hyp_id)
        if isinstance(command, C.Approve):
            if gate.needs_confirmation(h) and not command.confirm_flags:
                raise GateError(f"{h.hyp_id}: flagged; confirm to approve anyway")
            if h.status != "awaiting-human":
                raise GateError(f"{h.hyp_id} is {h.status}")
            self.calls.append(("approve", h.hyp_id, command.confirm_flags))
            data = {"sha": h.sha, "who": "test", "evidence_hash": h.evidence_hash, "reason": command.reason}
            return self.append("decision.approved", "human:test", {"hyp_id": h.hyp_id, **data})
        if isinstance(command, C.Reject):
            self.calls.append(("reject", h.hyp_id, command.reason))
            data = {"hyp_id": h.hyp_id, "who": "test", "reason": command.reason}
            return self.append("decision.rejected", "human:test", data)
        if h.status != "approved":
            raise GateError(f"{h.hyp_id} is {h.status}: a person must approve it first")
        self.calls.append(("merge", h.hyp_id))
        return self.append("merge.completed", "human:test", {"hyp_id": h.hyp_id, "sha": h.sha, "merge_sha": "f" * 40})

    def _order(self, command: C.Command) -> None:
        if isinstance(command, C.Remeasure):
            gate.check_remeasure(self._state, command.hyp_id)
            self.calls.append(("remeasure", command.hyp_id))
        elif isinstance(command, C.AgentControl):
            if self.orchestrator is None:
                raise LabError("agents are not running in this console")
            self.calls.append(("control", command.agent_id, command.action))
            self.append("agent.control", "human:test", {"agent_id": command.agent_id, "action": command.action})
        elif isinstance(command, C.SendMessage):
            self.calls.append(("message", command.agent_id, command.text))
            self.append("agent.message", "human:test", {"agent_id": command.agent_id, "text": command.text})
        elif isinstance(command, C.ResumeAfterBudget):
            self.calls.append(("resume_budget",))
        else:
            raise AssertionError(f"the TUI sent {command!r}, which FakeLab does not know")

    def stop(self, *, stop_agents: bool = True, reason: str = "") -> None:
        self.stopped.append(stop_agents)


@pytest.fixture
def fake_lab(example_session: Path) -> FakeLab:
    return FakeLab(example_session)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # Textual runs on asyncio; the async tests use anyio's pytest plugin
