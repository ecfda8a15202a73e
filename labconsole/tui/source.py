"""Where the TUI's state comes from: a live Lab or a replay cursor over a recorded log.

Both expose the same small surface (``snapshot``, ``blob``, log paths, commands),
so every screen works unchanged in replay. Nothing here imports Textual: the
app decides on which thread each call runs.
"""

from __future__ import annotations

import itertools
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any
from collections.abc import Callable

from labconsole.errors import LabError
from labconsole.events.kinds import DECISION_KINDS
from labconsole.events.log import LOG_NAME, Event, get_blob, read_events
from labconsole.lab.reducer import apply
from labconsole.lab.state import LabState

if TYPE_CHECKING:
    from labconsole.events.replay import Replay
    from labconsole.lab.service import Lab


AGENT_LOG_LINES = 2_000  # replay: the agent log shows at most this many of its events before the cursor


class ReadOnlyError(LabError):
    """A decision was attempted in a read-only view (observer mode or replay)."""


class Source:
    live: bool = False
    readonly: bool = True

    @property
    def session_dir(self) -> Path:
        raise NotImplementedError

    @property
    def lab_root(self) -> Path | None:
        return None

    def blob(self, digest: str | None) -> bytes | None:
        if not digest:
            return None
        try:
            return get_blob(self.session_dir, digest)
        except (LabError, OSError):
            return None

    def agent_log_path(self, agent_id: str) -> Path:
        return self.session_dir / "agents" / f"{agent_id}.log"

    @property
    def main_branch(self) -> str:
        return "main"

    # Commands: the live source forwards them to the Lab; the others refuse.
    def _refuse(self) -> None:
        raise ReadOnlyError("read-only view: decisions and agent controls are disabled here")

    def approve(self, hyp_id: str, reason: str, confirm: bool, overrides: list[str] | None = None) -> str:
        self._refuse()
        return ""

    def reject(self, hyp_id: str, reason: str) -> str:
        self._refuse()
        return ""

    def merge(self, hyp_id: str, confirm_rules_change: bool = False) -> str:
        self._refuse()
        return ""

    def agent_control(self, agent_id: str, action: str) -> str:
        self._refuse()
        return ""

    def remeasure(self, hyp_id: str) -> str:
        self._refuse()
        return ""

    def send_message(self, agent_id: str, text: str) -> str:
        self._refuse()
        return ""

    def resume_after_budget(self) -> str:
        self._refuse()
        return ""

    def propose_hypotheses(
        self, hypotheses: list[dict[str, Any]], actor: str, evidence_blobs: dict[int, bytes] | None = None
    ) -> list[str]:
        self._refuse()
        return []


class LiveSource(Source):
    """A running (or attached) Lab. ``readonly`` turns every command into a refusal."""

    live = True

    def __init__(self, lab: Lab, *, readonly: bool = False) -> None:
        self.lab = lab
        self.readonly = readonly

    @property
    def session_dir(self) -> Path:
        return self.lab.session_dir

    @property
    def lab_root(self) -> Path | None:
        return Path(self.lab.repo.root) if getattr(self.lab, "repo", None) is not None else None

    def subscribe(self, fn: Callable[[Event, LabState], None]) -> Callable[[], None]:
        return self.lab.subscribe(fn)

    def attach(self, fn: Callable[[Event, LabState], None]) -> tuple[LabState, Callable[[], None]]:
        """Subscribe and take one snapshot atomically: every event after the snapshot reaches ``fn``."""
        locked = getattr(self.lab, "locked", None)
        if locked is None:
            return self.lab.snapshot(), self.lab.subscribe(fn)
        with locked():
            return self.lab.snapshot(), self.lab.subscribe(fn)

    def snapshot(self) -> LabState:
        return self.lab.snapshot()

    def blob(self, digest: str | None) -> bytes | None:
        if not digest:
            return None
        try:
            return self.lab.blob(digest)
        except (LabError, OSError):
            return None

    def agent_log_path(self, agent_id: str) -> Path:
        return self.lab.agent_log_path(agent_id)

    @property
    def main_branch(self) -> str:
        return str(getattr(getattr(self.lab, "repo", None), "main_branch", "main"))

    def approve(self, hyp_id: str, reason: str, confirm: bool, overrides: list[str] | None = None) -> str:
        if self.readonly:
            self._refuse()
        self.lab.approve(hyp_id, None, reason, confirm_flags=confirm, overrides=overrides)
        return f"{hyp_id} approved"

    def reject(self, hyp_id: str, reason: str) -> str:
        if self.readonly:
            self._refuse()
        self.lab.reject(hyp_id, None, reason)
        return f"{hyp_id} rejected"

    def merge(self, hyp_id: str, confirm_rules_change: bool = False) -> str:
        if self.readonly:
            self._refuse()
        event = self.lab.merge(hyp_id, None, confirm_rules_change=confirm_rules_change)
        return f"{hyp_id} merged as {str(event.data.get('merge_sha', ''))[:8]}"

    def remeasure(self, hyp_id: str) -> str:
        if self.readonly:
            self._refuse()
        self.lab.remeasure(hyp_id)
        return f"{hyp_id}: re-measuring on the current main"

    def agent_control(self, agent_id: str, action: str) -> str:
        if self.readonly:
            self._refuse()
        self.lab.agent_control(agent_id, action)
        return f"{agent_id}: {action} sent"

    def send_message(self, agent_id: str, text: str) -> str:
        if self.readonly:
            self._refuse()
        self.lab.send_message(agent_id, text)
        return f"message sent to {agent_id}"

    def resume_after_budget(self) -> str:
        if self.readonly:
            self._refuse()
        self.lab.resume_after_budget()
        return "agents resumed past the budget"

    def propose_hypotheses(
        self, hypotheses: list[dict[str, Any]], actor: str, evidence_blobs: dict[int, bytes] | None = None
    ) -> list[str]:
        """Append through the Lab this console holds: ``service.propose_hypotheses`` would open the
        session as a second writer and fail on its lock."""
        if self.readonly:
            self._refuse()
        # A Lab appends itself; a RemoteLab hands them to the console that runs the session.
        blobs: dict[Any, bytes | str] | None = dict(evidence_blobs) if evidence_blobs is not None else None
        return list(self.lab.propose_external(hypotheses, actor, blobs))


class ReplaySource(Source):
    """A recorded session, seen through a cursor (an event seq). Always read-only.

    Opening the Replay indexes the log (seconds for a million events the first time), so it happens
    on first use, which the app makes in a worker: the console paints its first screen at once and
    fills it when the index is ready (``ready``)."""

    def __init__(self, session_dir: Path, lab_root: Path | None = None) -> None:
        self._session_dir = Path(session_dir)
        self._lab_root = lab_root
        if not (self._session_dir / LOG_NAME).is_file():  # bad input fails here, in one line, not in a worker
            raise LabError(f"no session log at {self._session_dir / LOG_NAME}")
        self._replay: Replay[LabState] | None = None
        self._decisions: list[int] | None = None
        # Replay shares one file object between calls: every use goes through this lock (workers only;
        # the UI thread reads the results they hand over).
        self._lock = threading.RLock()

    @property
    def replay(self) -> Replay[LabState]:
        """The indexed log; the first call indexes it (call it from a worker, or from a CLI)."""
        with self._lock:
            if self._replay is None:
                from labconsole.events.replay import Replay

                self._replay = Replay(self._session_dir, initial=LabState, apply=apply)
            return self._replay

    @property
    def ready(self) -> bool:
        return self._replay is not None

    @property
    def indexed(self) -> bool:
        """Is an index of the log kept from an earlier open (so opening is quick)? Stale ones are rebuilt."""
        from labconsole.events.replay import INDEX_DIR, INDEX_FILE

        return (self._session_dir / INDEX_DIR / INDEX_FILE).is_file()

    def head_state(self, events: int) -> LabState:
        """The state after the log's first ``events`` events, read straight from the file (no index): what
        a cold open shows while the index is built."""
        state = LabState()
        for event in itertools.islice(read_events(self._session_dir), events):
            apply(state, event)
        return state

    @property
    def session_dir(self) -> Path:
        return self._session_dir

    @property
    def lab_root(self) -> Path | None:
        return self._lab_root

    @property
    def count(self) -> int:
        return self.replay.count

    def state_at(self, seq: int) -> LabState:
        with self._lock:
            if self.replay.count == 0:
                return LabState()
            return self.replay.state_at(min(max(seq, 0), self.replay.count - 1))

    def event(self, seq: int) -> Event | None:
        with self._lock:
            try:
                return self.replay.event(seq)
            except (IndexError, LabError):
                return None

    def decisions(self) -> list[int]:
        """Seqs of decision events (cached: the log of a replay does not change under us)."""
        with self._lock:
            if self._decisions is None:
                self._decisions = self.replay.seqs_of(DECISION_KINDS)
            return self._decisions

    def find(self, text: str, start: int, forward: bool = True) -> int | None:
        with self._lock:
            return self.replay.find(text, start, forward)

    def agent_lines(self, agent_id: str, upto: int, limit: int = AGENT_LOG_LINES) -> tuple[list[str], bool]:
        """The raw event lines of ``agent_id`` (its own events and the console's about it) with seq <= ``upto``,
        oldest first, at most the last ``limit``; and whether older ones were left out.

        Read backwards from the cursor with the index's raw-text search, so a million-event log costs only
        the stretch back to the agent's ``limit``-th last event, not a scan from the start."""
        needle = agent_id + '"'  # ends both "agent:<id>" (actor) and "<id>" (data.agent_id); quotes inside
        # strings are escaped, so text an agent wrote cannot forge it; matches are still checked parsed
        found: list[str] = []
        with self._lock:
            seq = min(upto, self.replay.count - 1)
            while seq >= 0 and len(found) < limit:
                hit = self.replay.find(needle, seq, forward=False)
                if hit is None:
                    break
                event = self.replay.event(hit)
                if event.actor == f"agent:{agent_id}" or (
                    isinstance(event.data, dict) and event.data.get("agent_id") == agent_id
                ):
                    found.append(event.to_json())
                seq = hit - 1
            more = seq >= 0 and len(found) >= limit
        found.reverse()
        return found, more

    def close(self) -> None:
        with self._lock:
            if self._replay is not None:
                self._replay.close()


def describe_source(source: Source, attached: bool) -> str:
    """The mode badge the header shows."""
    if isinstance(source, ReplaySource):
        return "REPLAY"
    if source.readonly:
        return "READ-ONLY"
    return "ATTACHED" if attached else "LIVE"


__all__ = ["Source", "LiveSource", "ReplaySource", "ReadOnlyError", "describe_source"]
