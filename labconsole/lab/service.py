"""The Lab service: the only writer of a session, the owner of its state, the door for decisions.

Everything that happens goes through ``Lab.append``: the event is written to
the hash-chained log, folded into ``LabState`` by the reducer, and handed to
subscribers (the TUI, the headless printer). Human decisions are methods here
(approve, reject, merge, …) that check the gate first. Agents never call them:
the agent protocol has no message that reaches this door.
"""

from __future__ import annotations

import copy
import os
import socket
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload
from collections.abc import Callable, Mapping

from labconsole.errors import ConfigError, GateError, LabError
from labconsole.events import kinds as K
from labconsole.events.log import GENESIS, Event, EventLog, LogWriteError, get_blob, read_events
from labconsole.events.seal import Sealer
from labconsole.events.signing import (
    SigningKeyError,
    TrustStore,
    check_decision,
    load_signer,
    load_trust,
    sign_decision,
)
from labconsole.events.replay import Replay
from labconsole.lab import decisions, gate
from labconsole.lab import state as S
from labconsole.lab.decisions import default_who
from labconsole.lab.rules_change import rules_change_since_last_session, rules_changed_line
from labconsole.lab.command_methods import CommandMethods
from labconsole.lab.commands import (
    AgentControl,
    Approve,
    Command,
    Merge,
    Ping,
    ProposeExternal,
    Reject,
    Remeasure,
    ResumeAfterBudget,
    SendMessage,
    Stop,
)
from labconsole.core.config import LabConfig, load_config
from labconsole.lab.gitops import LabRepo, WorktreeTamperedError
from labconsole.lab.instructions import baseline_instructions
from labconsole.lab.lablock import LabLock
from labconsole.lab.reducer import apply
from labconsole.lab.session import final_state, max_hypothesis_number, new_session_id, resolve_session, sessions_dir
from labconsole.lab.state import LabState, next_hyp_id
from labconsole.lab.subscribers import Subscribers

if TYPE_CHECKING:
    from labconsole.gpu.telemetry import TelemetrySampler
    from labconsole.lab.control import ControlServer
    from labconsole.lab.orchestrator import Orchestrator, OrchestratorOptions

Subscriber = Callable[[Event, LabState], None]


class Lab(CommandMethods[Event]):
    """One open session of one lab. Create with :meth:`start_session` or :meth:`open_session`."""

    def __init__(self, config: LabConfig, repo: LabRepo, log: EventLog, state: LabState) -> None:
        self.config = config
        self.repo = repo
        self.log = log
        self._state = state
        self._lock = threading.RLock()
        self._subscribers = Subscribers(self._lock)
        self.orchestrator: Orchestrator | None = None  # set by start(); None for a decisions-only Lab
        self.control: ControlServer | None = None  # the control channel, while agents run here
        self.fatal: str | None = None  # set when the log can no longer be written
        self.lab_lock: LabLock | None = None  # held while this console may run agents on the lab
        self._sealer: Sealer | None = None  # the person's key and the checkpoints (events/seal.py)

    # --- opening ----------------------------------------------------------------------------------

    @classmethod
    def start_session(cls, lab_root: Path, session_id: str | None = None) -> Lab:
        """A new session on a clean lab. Refuses a dirty or detached repo, a bad config, missing backends."""
        lab_root = Path(lab_root).resolve()
        config = load_config(lab_root / "lab.toml")
        repo = LabRepo(lab_root)
        repo.ensure_ignored([f"{sessions_dir(lab_root).name}/", ".labconsole/"])
        baseline = repo.require_clean_base()
        from labconsole.lab.preflight import preflight

        preflight(config)
        from labconsole.lab.change_checks import check_patterns

        errors, warnings = check_patterns(config, sorted(repo.tree(baseline)))
        if errors:
            raise ConfigError(errors[0])
        rules_changed = rules_change_since_last_session(lab_root, config)
        instructions = baseline_instructions(config, repo, baseline)  # a missing file fails before any write
        session_id = session_id or new_session_id()
        lab_lock = LabLock(repo.common_dir, session_id)
        try:
            # After every hypothesis of earlier sessions and every lab/hN branch or archive left in git.
            hyp_offset = max(repo.max_hypothesis_number(), max_hypothesis_number(lab_root))
            log = EventLog.open(sessions_dir(lab_root) / session_id)
        except BaseException:
            lab_lock.release()
            raise
        try:
            signer = load_signer()  # before anything is written: decisions here will need it
        except BaseException:
            log.close()
            lab_lock.release()
            raise
        lab = cls(config, repo, log, LabState())
        lab.lab_lock = lab_lock
        lab._sealer = Sealer(signer, session_id, lab_root)
        if instructions is not None:
            lab.put_blob(instructions.text)  # before the event that names it
        lab.append(
            K.SESSION_STARTED,
            "console",
            {
                "session_id": session_id,
                "lab": config.name,
                "lab_root": str(lab_root),
                "baseline_sha": baseline,
                "main_branch": repo.main_branch,
                "config_sha256": config.digest(),
                "config": config.raw,
                "objective": {
                    "name": config.objective.name,
                    "direction": config.objective.direction,
                    "command": config.objective.command,
                    "repeats": config.objective.repeats,
                    "metric": str(config.objective.metric),
                    "protected": list(config.objective.protected),
                },
                "budget": config.budget.limits(),
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "hyp_offset": hyp_offset,
                "warnings": warnings,
                "rules_changed": rules_changed,
                "signing_key": signer.public_hex,
                "instructions": instructions.record() if instructions is not None else None,
            },
        )
        for line in warnings:
            lab.append(K.NOTE, "console", {"text": line})
        if rules_changed:
            lab.append(K.NOTE, "console", {"text": rules_changed_line(rules_changed)})
        return lab

    @classmethod
    def open_session(cls, lab_root: Path, session: str | None = None) -> Lab:
        """Reopen a session as its writer (resume, or decisions from the CLI): repairs a torn tail, replays the log."""
        lab_root = Path(lab_root).resolve()
        session_dir = resolve_session(lab_root, session)
        config = load_config(lab_root / "lab.toml")
        repo = LabRepo(lab_root)
        log = EventLog.open(session_dir, create=False)  # repairs a torn tail before we read
        state, _ = final_state(session_dir)
        state.session_id = state.session_id or session_dir.name
        return cls(config, repo, log, state)

    def check_resumable(self, *, accept_config_change: bool = False) -> None:
        """Before agents run again: the lab is clean and on its branch, its config still valid, and (unless
        the person accepts it) the same lab.toml the session started with, so runs measure the same thing."""
        from labconsole.lab.preflight import preflight

        self.repo.require_clean_base()
        preflight(self.config)
        recorded = None  # the digest the session last ran with (a resume may have accepted a change)
        for event in read_events(self.session_dir):
            if event.kind in (K.SESSION_STARTED, K.SESSION_RESUMED) and event.data.get("config_sha256"):
                recorded = event.data["config_sha256"]
        if recorded and recorded != self.config.digest() and not accept_config_change:
            raise LabError(
                f"{self.config.path.name} changed since session {self.session_id} started: restore it, "
                f"start a new session, or resume with --accept-config-change"
            )

    # --- the one write path -----------------------------------------------------------------------

    def append(self, kind: str, actor: str, data: dict[str, Any], *, durable: bool | None = None) -> Event:
        with self._lock:
            try:
                event = self.log.append(kind, actor, data, durable=durable)
            except LogWriteError as exc:
                self.fatal = str(exc)  # the loops stop on this; the headless runner reports it
                raise
            apply(self._state, event)
            self._subscribers.notify(event, self._state)
            reason = self._sealer.due(kind, event.seq) if self._sealer is not None else None
            if reason is not None:
                self._seal(reason)
        return event

    def append_signed(self, kind: str, who: str, data: dict[str, Any], *, durable: bool | None = None) -> Event:
        """Append a person's decision signed with their key (events/signing.py), then seal the chain after it.

        The one place decisions are signed: approve, reject, merge, budget resume, and any override another
        module adds (add its kind to ``signing.SIGNED_KINDS``). A missing key raises SigningKeyError first."""
        with self._lock:
            sealer = self._ensure_sealer()
            last = self.log.last  # only this Lab appends, under this lock: the next seq and prev are known
            seq, prev = (0, GENESIS) if last is None else (last.seq + 1, last.hash)
            actor = f"human:{who}"
            signed = {
                **data,
                "signature": sign_decision(
                    sealer.signer, session_id=self.session_id, seq=seq, prev=prev, kind=kind, actor=actor, data=data
                ),
            }
            return self.append(kind, actor, signed, durable=durable)

    def _ensure_sealer(self) -> Sealer:
        if self._sealer is None:
            self._sealer = Sealer(load_signer(), self.session_id, self.repo.root)
        return self._sealer

    def _seal(self, reason: str) -> None:
        """Append a signed checkpoint of the chain so far and keep a copy outside the session dir."""
        sealer = self._sealer
        last = self.log.last
        if sealer is None or last is None or self.log.closed:
            return
        event = self.append(K.SEAL_CHECKPOINT, "console", sealer.checkpoint(last.seq, last.hash, reason))
        sealer.sealed(event.seq, event.hash)

    def trust(self) -> TrustStore:
        """Whose signatures count in this lab: the user's own key, `keys trust`, lab.toml [review] trusted_keys."""
        return load_trust(self.config.review.trusted_keys)

    def check_approval_signature(self, hyp_id: str) -> Event:
        """The approval event a merge relies on, if its signature is valid and by a trusted key; else GateError."""
        h = gate.hypothesis(self._state, hyp_id)
        approval = h.approval
        if approval is None:
            raise GateError(f"{hyp_id} has no approval to merge")
        event = next(read_events(self.session_dir, start_seq=approval.seq), None)
        if event is None or event.seq != approval.seq or event.kind != K.DECISION_APPROVED:
            raise GateError(f"{hyp_id}: the approval at seq {approval.seq} is not in the log; approve it again")
        error, _ = check_decision(
            self.session_id, event.seq, event.prev, event.kind, event.actor, event.data, self.trust()
        )
        if error is not None:
            raise GateError(
                f"{hyp_id}: the approval at seq {event.seq} does not count: {error}; a person must approve it again"
            )
        return event

    def put_blob(self, data: bytes | str) -> str:
        return self.log.put_blob(data)

    def blob(self, digest: str) -> bytes:
        return get_blob(self.session_dir, digest)

    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        """``fn(event, state)`` runs on the appending thread, under the lab lock: keep it quick."""
        return self._subscribers.add(fn)

    @property
    def state(self) -> LabState:
        """The live state. Read it only under :meth:`locked` or from a subscriber; else use :meth:`snapshot`."""
        return self._state

    def snapshot(self) -> LabState:
        with self._lock:
            return copy.deepcopy(self._state)

    def locked(self) -> threading.RLock:
        return self._lock

    @property
    def session_dir(self) -> Path:
        return self.log.session_dir

    @property
    def session_id(self) -> str:
        return self._state.session_id

    def agent_log_path(self, agent_id: str) -> Path:
        return self.session_dir / "agents" / f"{agent_id}.log"

    @property
    def telemetry(self) -> TelemetrySampler | None:
        """The session's GPU sampler (``latest()``, ``history()``) while agents run here, else None."""
        return self.orchestrator.sampler if self.orchestrator is not None else None

    def idle(self) -> bool:
        """True when no agents run here, or they have nothing left to do without a person."""
        return self.orchestrator is None or self.orchestrator.idle()

    # --- running ----------------------------------------------------------------------------------

    def start(self, options: OrchestratorOptions | None = None) -> None:
        """Start agents, scheduling and measurement in background threads (``options`` None: a console's)."""
        from labconsole.lab.orchestrator import Orchestrator

        if self.orchestrator is not None:
            return
        if self.lab_lock is None:
            self.lab_lock = LabLock(self.repo.common_dir, self.session_id)
        self.orchestrator = Orchestrator(self, options)
        try:
            self.orchestrator.start()
        except LabError as exc:  # refused before any agent started (a broken baseline): stop what began
            self.stop(reason=str(exc))
            raise
        from labconsole.lab.control import ControlServer

        self.control = ControlServer(self, owners=self.orchestrator.owners)

    def stop(self, *, stop_agents: bool = True, reason: str = "stopped by the person") -> None:
        self.execute(Stop(stop_agents=stop_agents, reason=reason))

    def _stop(self, command: Stop) -> None:
        stop_agents, reason = command.stop_agents, command.reason
        if self.control is not None and stop_agents:
            self.control.close()
            self.control = None
        if self.orchestrator is not None and stop_agents:
            self.orchestrator.stop()
            self.orchestrator = None
            if self.fatal is None:
                self.append(K.SESSION_STOPPED, "console", {"reason": reason})

    def close(self) -> None:
        if self.orchestrator is not None:
            self.stop()
        self._seal_at_close()
        self.log.close()
        self._remember_state()
        if self.lab_lock is not None:
            self.lab_lock.release()
            self.lab_lock = None

    def _seal_at_close(self) -> None:
        """Seal the tail, so that cutting lines off a closed session is caught. Without the key (a reader with
        no key opened the session) the tail stays unsealed, which the audit reports as a warning."""
        if self.fatal is not None or self.log.closed:
            return
        last = self.log.last
        if last is None or last.kind == K.SEAL_CHECKPOINT:
            if self._sealer is not None:
                self._sealer.flush()
            return
        try:
            if self._sealer is None:
                self._sealer = Sealer(load_signer(create=False), self.session_id, self.repo.root)
            self._seal("close")
        except (SigningKeyError, LogWriteError):
            pass
        if self._sealer is not None:
            self._sealer.flush()

    def _remember_state(self) -> None:
        """Leave the final state as a replay snapshot: replaying this session later starts from it."""
        if self._state.last_seq < 0:
            return
        try:
            with Replay(self.session_dir, initial=LabState, apply=apply) as replay:
                replay.remember(self._state.last_seq, self._state)
        except Exception:  # a cache only: the log is the truth
            pass

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the person's commands --------------------------------------------------------------------
    # Each public method builds its command and dispatches it; the control channel and the CLI send the
    # same commands (labconsole/lab/commands.py), so every way in reaches the same checks.

    @overload
    def execute(self, command: Approve | Reject | Merge) -> Event: ...
    @overload
    def execute(self, command: ProposeExternal) -> list[str]: ...
    @overload
    def execute(self, command: Ping) -> dict[str, Any]: ...
    @overload
    def execute(self, command: Remeasure | AgentControl | SendMessage | ResumeAfterBudget | Stop) -> None: ...
    @overload
    def execute(self, command: Command) -> Event | list[str] | dict[str, Any] | None: ...

    def execute(self, command: Command) -> Event | list[str] | dict[str, Any] | None:
        match command:
            case Approve():
                return decisions.approve(self, command)
            case Reject():
                return decisions.reject(self, command)
            case Merge():
                return decisions.merge(self, command)
            case Remeasure():
                decisions.remeasure(self, command)
            case AgentControl():
                decisions.agent_control(self, command)
            case SendMessage():
                decisions.send_message(self, command)
            case ResumeAfterBudget():
                decisions.resume_after_budget(self, command)
            case ProposeExternal():
                return decisions.propose_external(self, command)
            case Ping():
                return {"session": self.session_id, "pid": os.getpid()}
            case Stop():
                self._stop(command)
        return None

    def propose_external(
        self, hypotheses: list[dict[str, Any]], actor: str, evidence_blobs: Mapping[Any, bytes | str] | None = None
    ) -> list[str]:
        """Append hypotheses from outside the agents (a profile, a person) as ``hypothesis.proposed``; their ids.

        The one write path for them: :func:`propose_hypotheses` (another process) and a console that holds
        the session (the TUI's profile screen) both land here. The planner dedupes and queues them like any.
        """
        return self.execute(ProposeExternal(hypotheses, actor, evidence_blobs))

    # The decision methods (approve, reject, merge, remeasure, ...) are CommandMethods'; they land here.
    def _decide(self, command: Approve | Reject | Merge) -> Event:
        return self.execute(command)

    def _order(self, command: Command) -> None:
        self.execute(command)

    def cleanup_worktree(self, hyp_id: str) -> None:
        """Archive unmerged commits under refs/labconsole/archive/, then remove the worktree."""
        h = self._state.hypotheses.get(hyp_id)
        if h is None or not h.worktree:
            return
        try:
            ref = self.repo.archive_and_remove(hyp_id)
        except WorktreeTamperedError as exc:  # its .git was repointed: archived from the branch ref, files moved aside
            self.append(
                K.WORKTREE_ARCHIVED,
                "console",
                {"hyp_id": hyp_id, "ref": exc.archived_ref, "sha": h.sha, "reason": str(exc)},
            )
            if h.status in S.OPEN_STATUSES:
                self.append(K.HYP_FAILED, "console", {"hyp_id": hyp_id, "step": "cleanup", "reason": str(exc)})
            return
        except Exception as exc:  # the decision stands; the worktree stays for a person to look at
            self.append(K.NOTE, "console", {"text": f"could not clean up the worktree of {hyp_id}: {exc}"})
            return
        if ref:
            self.append(K.WORKTREE_ARCHIVED, "console", {"hyp_id": hyp_id, "ref": ref, "sha": h.sha})
        self.append(K.WORKTREE_REMOVED, "console", {"hyp_id": hyp_id, "path": h.worktree})

    @staticmethod
    def record_publish(session_dir: Path, who: str, published: K.PublishCompleted) -> Event:
        """Log ``publish.completed`` in the approving session (no lab config needed: publish may run from any
        checkout). Raises SessionLockedError while a console holds that session."""
        kind, data = K.event(K.PUBLISH_COMPLETED, published)
        signer = load_signer()
        first = next(read_events(session_dir), None)
        session_id = str((first.data.get("session_id") if first else None) or Path(session_dir).name)
        lab_root = Path(session_dir).resolve().parent.parent  # sessions/<id> sits at the lab's root
        sealer = Sealer(signer, session_id, lab_root)
        actor = f"human:{who}"
        with EventLog.open(session_dir, create=False) as log:
            last = log.last
            seq, prev = (0, GENESIS) if last is None else (last.seq + 1, last.hash)
            data["signature"] = sign_decision(
                signer, session_id=session_id, seq=seq, prev=prev, kind=kind, actor=actor, data=data
            )
            event = log.append(kind, actor, data)
            checkpoint = log.append(K.SEAL_CHECKPOINT, "console", sealer.checkpoint(event.seq, event.hash, "close"))
            sealer.sealed(checkpoint.seq, checkpoint.hash)
            sealer.flush()
            return event


def propose_hypotheses(
    lab_root: Path,
    hypotheses: list[dict[str, Any]],
    actor: str,
    session_id: str | None = None,
    evidence_blobs: dict[int, bytes] | None = None,
) -> list[str]:
    """Hand hypotheses from outside the agents (e.g. a profile) into a session; returns their ids.

    Opens the session as its writer, so it refuses while a console holds it.
    """
    lab = Lab.open_session(Path(lab_root), session_id)
    try:
        return lab.propose_external(hypotheses, actor, evidence_blobs)
    finally:
        lab.close()


__all__ = ["Lab", "propose_hypotheses", "next_hyp_id", "default_who", "S"]
