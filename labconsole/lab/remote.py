"""A session run by another console, seen from here: the log followed for state, the control channel for commands.

It offers the part of ``Lab``'s surface that views use (snapshot, subscribe,
locked, blob, decisions, agent controls), so the TUI attaches to a headless
session exactly as it runs over its own — and closing it stops nothing.
"""

from __future__ import annotations

import copy
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from collections.abc import Callable

from labconsole.errors import LabError
from labconsole.events.follow import LogFollower
from labconsole.events.log import Event, get_blob
from labconsole.lab.command_methods import CommandMethods
from labconsole.lab.commands import Approve, Command, Merge, ProposeExternal, Reject
from labconsole.lab.control import ControlClient
from labconsole.lab.gitops import LabRepo
from labconsole.lab.reducer import apply
from labconsole.lab.session import final_state
from labconsole.lab.state import LabState
from labconsole.lab.subscribers import Subscribers

POLL_S = 0.2


class RemoteLab(CommandMethods[Any]):
    orchestrator = None  # the agents run in the other console
    telemetry = None  # and so does their GPU sampler

    def __init__(self, lab_root: Path, session_dir: Path, *, readonly: bool = False) -> None:
        self.repo = LabRepo(lab_root)
        self.session_dir = session_dir
        self.readonly = readonly
        self._client = None if readonly else ControlClient(session_dir)
        self._state, start = final_state(session_dir)
        self._follower = LogFollower(session_dir, start_seq=start)
        self._lock = threading.RLock()
        self._subscribers = Subscribers(self._lock)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="follow-log", daemon=True)
        self._thread.start()

    # --- state ------------------------------------------------------------------------------------

    def _follow(self) -> None:
        while not self._stop.wait(POLL_S):
            for event in self._follower.poll():
                with self._lock:
                    apply(self._state, event)
                    self._subscribers.notify(event, self._state)

    @property
    def state(self) -> LabState:
        return self._state

    @property
    def session_id(self) -> str:
        return self._state.session_id

    def snapshot(self) -> LabState:
        with self._lock:
            return copy.deepcopy(self._state)

    def locked(self) -> threading.RLock:
        return self._lock

    def subscribe(self, fn: Callable[[Event, LabState], None]) -> Callable[[], None]:
        return self._subscribers.add(fn)

    def blob(self, digest: str) -> bytes:
        return get_blob(self.session_dir, digest)

    def agent_log_path(self, agent_id: str) -> Path:
        return self.session_dir / "agents" / f"{agent_id}.log"

    # --- commands, carried out by the console that runs the session ----------------------------------

    def _call(self, command: Command) -> SimpleNamespace:
        if self._client is None:
            raise LabError("read-only view: decisions and agent controls are disabled here")
        return SimpleNamespace(data=self._client.send(command) or {})

    def _decide(self, command: Approve | Reject | Merge) -> Any:
        return self._call(command)

    def _order(self, command: Command) -> None:
        self._call(command)

    def propose_external(
        self, hypotheses: list[dict[str, Any]], actor: str, evidence_blobs: dict[int, bytes] | None = None
    ) -> list[str]:
        # Blob bytes travel as text (to_wire decodes them), keyed by the hypothesis' index.
        return list(self._call(ProposeExternal(hypotheses, actor, evidence_blobs)).data)

    def stop(self, **_: Any) -> None:
        """Detaching never stops the other console's session."""

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
