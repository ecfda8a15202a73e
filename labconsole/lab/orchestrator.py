"""The orchestrator: runs the lab loop for a Lab (agents → events → tasks → measurements).

Three kinds of threads feed the one write path (``Lab.append``):
* the dispatcher turns supervisor messages (agent protocol lines, exits) into events
  and reacts to them (a commit starts a measurement, a verdict asks for a human);
* the scheduler hands tasks to idle agents from the current state;
* measurement workers run the objective on exact commits (runs/local.py).
Decisions stay with the person; nothing here approves or merges.
"""

from __future__ import annotations

import itertools
import re
import os
import queue
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labconsole.agents.supervisor import AgentSpec, Message, Supervisor
from labconsole.events import kinds as K
from labconsole.gpu.telemetry import EventDownsampler, GpuTelemetry, OwnerRegistry, TelemetrySampler
from labconsole.lab import state as S
from labconsole.lab.evidence import build_bundle, canonical, evidence_hash
from labconsole.lab.gate import AGENT_ENV
from labconsole.core.params import read_params
from labconsole.lab.state import HypothesisState
from labconsole.runs.local import LocalExecutor
from labconsole.runs.tracking import TrackioSink

# Planned-but-not-started hypotheses the researcher may have ahead of the workers.
QUEUE_AHEAD = 1
# A task an agent finishes without its result is asked again at most this many times.
MAX_ATTEMPTS = 3
BUDGET_WARN_AT = 0.8


@dataclass
class InFlight:
    task_id: str
    kind: str
    payload: dict[str, Any]
    hyp_id: str | None
    sent: float


class Orchestrator:
    def __init__(self, lab: Any, *, hang_timeout_s: float = 30.0, heartbeat_s: float = 2.0,
                 max_restarts: int = 5, backoff_s: tuple[float, float] = (1.0, 30.0), track: bool = True,
                 agent_argv: dict[str, list[str]] | None = None, tick_s: float = 0.1,
                 nvml: Any = None, gpu_sample_period_s: float = 30.0) -> None:
        self.lab = lab
        self.config = lab.config
        self.supervisor = Supervisor(lab.session_dir / "agents", hang_timeout_s=hang_timeout_s,
                                     heartbeat_s=heartbeat_s, max_restarts=max_restarts, backoff_s=backoff_s)
        self.tracker = TrackioSink() if track else None
        # GPU telemetry: one sampler for the session (the TUI reads it too); processes are
        # attributed to the agent or run that owns them; the log gets a sample every 30 s.
        self.owners = OwnerRegistry()
        self.sampler = TelemetrySampler(GpuTelemetry(nvml=nvml, owners=self.owners), interval=1.0, history=600,
                                        on_snapshot=self._on_gpu_snapshot)
        self._gpu_events = EventDownsampler(period_s=gpu_sample_period_s)
        self.runs_dir = lab.repo.root / ".labconsole" / "runs"
        self.executor = LocalExecutor(lab.repo, self.config, lab.append, lab.put_blob, self.runs_dir,
                                      tracker=self.tracker, lease_pool=self._lease_pool(),
                                      owners=self.owners, sampler=self.sampler)
        self.measure_pool = ThreadPoolExecutor(max_workers=max(1, self.config.resources.max_parallel_runs),
                                               thread_name_prefix="measure")
        self.agent_argv = agent_argv or {}
        self.tick_s = tick_s
        self.in_flight: dict[str, InFlight] = {}
        self.measuring: set[str] = set()
        self.paused_roles: set[str] = set()  # roles paused by an exhausted budget
        self._task_ids = itertools.count(1)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._specs: dict[str, AgentSpec] = {}
        self._attempts: dict[tuple[str, str], int] = {}
        self._proposals_exhausted = False
        self._earlier: list[dict[str, Any]] | None = None  # earlier sessions' hypotheses, read once  # (hyp_id or "", task kind) -> tasks sent
        # Implement tasks of agents that died mid-task, re-sent when the agent says hello again.
        self._resend_later: list[tuple[str, InFlight]] = []

    # --- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        self.sampler.start()
        self._recover()
        for spec in self._agent_specs():
            self._specs[spec.agent_id] = spec
            self.supervisor.start(spec)
        for target, name in ((self._dispatch_loop, "dispatcher"), (self._schedule_loop, "scheduler")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        self.executor.cancel()
        self.supervisor.close()
        self.measure_pool.shutdown(wait=True, cancel_futures=True)
        self.sampler.stop()
        for thread in self._threads:
            thread.join(timeout=5)
        self._drain_messages()
        if self.tracker is not None:
            self.tracker.close()

    def idle(self) -> bool:
        """Nothing left to do without a person: work settled and the report written after it."""
        with self.lab.locked():
            return self._settled(self.lab.state) and self.lab.state.report_is_current()

    def _settled(self, st: S.LabState) -> bool:
        active = set(S.ACTIVE_STATUSES)
        if not self._role_alive("worker"):
            active.discard(S.QUEUED)  # nobody left to implement it; it stays visible as queued
        return (self._proposals_left(st) == 0 and not self.in_flight and not self.measuring
                and not any(h.status in active for h in st.hypotheses.values()))

    # --- agents -----------------------------------------------------------------------------------

    def _agent_specs(self) -> list[AgentSpec]:
        specs = []
        path = str(self._python_shim()) + os.pathsep + os.environ.get("PATH", "")
        for role, cfg in self.config.agents.items():
            for n in range(cfg.count):
                agent_id = f"{role}-{n + 1}" if cfg.count > 1 or role == "worker" else role
                env = {"PATH": path, AGENT_ENV: agent_id}
                specs.append(AgentSpec(agent_id, role, cfg.backend, cfg.model, self.lab.repo.root,
                                       options=dict(cfg.options), env=env, argv=self.agent_argv.get(agent_id)))
        return specs

    def _python_shim(self) -> Path:
        """A bin dir with only `python` (the console's interpreter): agents get its packages, not `labconsole`."""
        shim = self.lab.repo.root / ".labconsole" / "bin"
        shim.mkdir(parents=True, exist_ok=True)
        for name in ("python", "python3"):
            link = shim / name
            if os.path.lexists(link) and os.readlink(link) != sys.executable:
                link.unlink()  # made by another interpreter
            if not os.path.lexists(link):
                link.symlink_to(sys.executable)
        return shim

    def control(self, agent_id: str, action: str) -> None:
        with self.lab.locked():
            self._control(agent_id, action)

    def _control(self, agent_id: str, action: str) -> None:
        if action == "pause":
            self.supervisor.send(agent_id, {"type": "pause"})
        elif action == "resume":
            self.supervisor.send(agent_id, {"type": "resume"})
        elif action == "stop":
            self.supervisor.stop(agent_id)
            self._requeue_task_of(agent_id, resend=False)
        elif action == "restart":
            self.supervisor.stop(agent_id, restart=True)

    def message(self, agent_id: str, text: str) -> None:
        self.supervisor.send(agent_id, {"type": "message", "text": text})

    def resume_all(self) -> None:
        self.paused_roles.clear()
        for agent_id in self.supervisor.agent_ids():
            self.supervisor.send(agent_id, {"type": "resume"})

    def _send_task(self, agent_id: str, kind: str, payload: dict[str, Any], hyp_id: str | None) -> None:
        key = (hyp_id or "", kind)
        self._attempts[key] = self._attempts.get(key, 0) + 1
        task_id = f"t{next(self._task_ids)}"
        self.in_flight[agent_id] = InFlight(task_id, kind, payload, hyp_id, time.monotonic())
        self.supervisor.send(agent_id, {"type": "task", "task": task_id, "kind": kind, "payload": payload})

    def _idle_agents(self, role: str) -> list[str]:
        st = self.lab.state
        if role in self.paused_roles:
            return []
        return [aid for aid, spec in self._specs.items()
                if spec.role == role and aid not in self.in_flight and aid in st.agents
                and st.agents[aid].state == "idle" and self.supervisor.running(aid)]

    def _requeue_task_of(self, agent_id: str, *, resend: bool = True) -> None:
        """An agent died or was stopped mid-task. A restarting agent gets its implement task again when it
        says hello; otherwise the hypothesis goes back to the queue for another worker. Plan, review and
        propose tasks are re-derived from the state by the scheduler."""
        task = self.in_flight.pop(agent_id, None)
        if task is None or task.hyp_id is None or task.kind != "implement":
            return
        h = self.lab.state.hypotheses.get(task.hyp_id)
        if h is None or h.status not in (S.CLAIMED, S.IMPLEMENTING):
            return
        if resend:
            self._resend_later.append((agent_id, task))
        else:
            self.lab.append(K.HYP_QUEUED, "console", {"hyp_id": h.hyp_id, "priority": h.priority})

    def _on_gave_up(self, aid: str, actor: str, role: str, d: dict[str, Any]) -> None:
        """The supervisor stopped restarting this agent: nothing may wait for it any more."""
        self.lab.append(K.AGENT_ERROR, "console", {"agent_id": aid, "role": role, "message": d["message"]})
        for item in [i for i in self._resend_later if i[0] == aid]:
            self._resend_later.remove(item)
            self.in_flight[aid] = item[1]
            self._requeue_task_of(aid, resend=False)

    def _role_alive(self, role: str) -> bool:
        return any(spec.role == role and self.supervisor.expected(aid) for aid, spec in self._specs.items())

    # --- dispatcher: messages → events ------------------------------------------------------------

    def _dispatch_loop(self) -> None:
        while not self._stop.is_set():
            try:
                msg = self.supervisor.messages.get(timeout=0.1)
            except queue.Empty:
                continue
            try:
                with self.lab.locked():
                    self._handle(msg)
            except Exception as exc:  # one bad message must not end the lab loop
                if self.lab.fatal:
                    return
                self.lab.append(K.NOTE, "console", {"text": f"error handling {msg.type} from {msg.agent_id}: {exc}"})

    def _drain_messages(self) -> None:
        while True:
            try:
                msg = self.supervisor.messages.get_nowait()
            except queue.Empty:
                return
            if msg.type in ("exited", "started"):
                self._handle(msg)

    def _handle(self, msg: Message) -> None:
        aid, d = msg.agent_id, msg.data
        actor = f"agent:{aid}"
        spec = self._specs.get(aid)
        role = spec.role if spec else ""
        simple = {
            "started": K.AGENT_STARTED, "hello": K.AGENT_HELLO, "status": K.AGENT_STATUS, "log": K.AGENT_LOG,
            "raw": K.AGENT_RAW, "dropped": K.AGENT_DROPPED, "tool_call": K.AGENT_TOOL_CALL,
            "restarting": K.AGENT_RESTARTING,
        }
        if msg.type == "started":
            self.owners.register(int(d["pid"]), f"agent:{aid}")
        if msg.type in simple:
            self.lab.append(simple[msg.type], "console" if msg.type in ("started", "restarting") else actor,
                            {"agent_id": aid, "role": role, **d})
            if msg.type == "hello":
                self._on_hello(aid)
            return
        handler = getattr(self, f"_on_{msg.type}", None)
        if handler is None:
            self.lab.append(K.AGENT_RAW, actor, {"agent_id": aid, "text": f"unhandled message type {msg.type}"})
            return
        handler(aid, actor, role, d)

    def _on_hello(self, aid: str) -> None:
        # A restarted agent picks its unfinished task up again.
        for item in list(self._resend_later):
            if item[0] == aid:
                self._resend_later.remove(item)
                task = item[1]
                self._send_task(aid, task.kind, task.payload, task.hyp_id)
        if self._specs[aid].role in self.paused_roles:
            self.supervisor.send(aid, {"type": "pause"})

    def _on_gpu_snapshot(self, snap: Any) -> None:
        if not snap.available or self._stop.is_set() or self.lab.fatal:
            return
        data = self._gpu_events.offer(snap)
        if data is not None:
            self.lab.append(K.GPU_SAMPLE, "console", data)

    def _on_exited(self, aid: str, actor: str, role: str, d: dict[str, Any]) -> None:
        self.lab.append(K.AGENT_EXITED, "console", {"agent_id": aid, "role": role, **d})
        self._requeue_task_of(aid)

    def _on_usage(self, aid: str, actor: str, role: str, d: dict[str, Any]) -> None:
        self.lab.append(K.AGENT_USAGE, actor, {"agent_id": aid, "role": role, **d})
        self._check_budget()

    def _on_error(self, aid: str, actor: str, role: str, d: dict[str, Any]) -> None:
        self.lab.append(K.AGENT_ERROR, actor, {"agent_id": aid, "role": role, **d})
        task = self.in_flight.get(aid)
        if task is not None and d.get("task") == task.task_id:
            self.in_flight.pop(aid, None)
            h = self.lab.state.hypotheses.get(task.hyp_id or "")
            step_open = {"implement": (S.CLAIMED, S.IMPLEMENTING), "plan": (S.PROPOSED,)}.get(task.kind, ())
            if h is not None and h.status in step_open:
                self.lab.append(K.HYP_FAILED, "console", {
                    "hyp_id": task.hyp_id, "step": task.kind, "reason": str(d.get("message", ""))[:500]})
                self.lab.cleanup_worktree(task.hyp_id)

    def _on_done(self, aid: str, actor: str, role: str, d: dict[str, Any]) -> None:
        task = self.in_flight.get(aid)
        if task is None or d.get("task") != task.task_id:
            return
        self.in_flight.pop(aid, None)
        h = self.lab.state.hypotheses.get(task.hyp_id or "")
        if task.kind == "implement" and h is not None and h.status in (S.CLAIMED, S.IMPLEMENTING):
            self.lab.append(K.HYP_FAILED, "console", {"hyp_id": h.hyp_id, "step": "implement",
                                                      "reason": "the worker finished without a commit"})
            self.lab.cleanup_worktree(h.hyp_id)

    def _on_proposal(self, aid: str, actor: str, role: str, d: dict[str, Any]) -> None:
        if role != "researcher":
            self.lab.append(K.AGENT_RAW, actor, {"agent_id": aid, "text": f"ignored a proposal from role {role}"})
            return
        from labconsole.lab.service import next_hyp_id

        with self.lab.locked():
            if self._proposals_left(self.lab.state) <= 0:
                return
            self.lab.append(K.HYP_PROPOSED, actor, {
                "hyp_id": next_hyp_id(self.lab.state), "title": str(d.get("title", ""))[:300],
                "params": d.get("params") or {}, "rationale": d.get("rationale", ""), "source": d.get("source", ""),
                "priority": d.get("priority"), "proposer": aid})

    def _on_plan(self, aid: str, actor: str, role: str, d: dict[str, Any]) -> None:
        hyp_id = d.get("hypothesis")
        h = self.lab.state.hypotheses.get(hyp_id or "")
        if role != "planner" or h is None or h.status != S.PROPOSED:
            return
        known = set(self.lab.state.hypotheses) | {e["hyp_id"] for e in self._earlier_sessions()}
        if d.get("decision") == "duplicate" and d.get("of") in known:
            self.lab.append(K.HYP_DUPLICATE, actor, {"hyp_id": hyp_id, "of": d["of"], "similarity": d.get("similarity")})
        else:
            self.lab.append(K.HYP_QUEUED, actor, {"hyp_id": hyp_id, "priority": d.get("priority") or 0.0})

    def _on_commit(self, aid: str, actor: str, role: str, d: dict[str, Any]) -> None:
        hyp_id = d.get("hypothesis")
        h = self.lab.state.hypotheses.get(hyp_id or "")
        task = self.in_flight.get(aid)
        if (role != "worker" or h is None or h.agent_id != aid or not h.branch
                or h.status not in (S.CLAIMED, S.IMPLEMENTING) or task is None or task.hyp_id != hyp_id):
            # One commit per implement task: a later one would swap the commit under a running measurement.
            self.lab.append(K.AGENT_RAW, actor, {"agent_id": aid, "text": f"ignored a commit for {hyp_id} "
                                                 f"({h.status if h else 'unknown hypothesis'})"})
            return
        self._record_commit(h, str(d.get("message", "")))

    def _record_commit(self, h: HypothesisState, message: str, base_sha: str | None = None) -> None:
        """Trust git, not the agent: the candidate is whatever the branch head is now."""
        repo = self.lab.repo
        sha = repo.branch_head(h.branch)
        base = base_sha or h.base_sha
        if not sha or sha == base:
            self.lab.append(K.HYP_FAILED, "console", {"hyp_id": h.hyp_id, "step": "implement",
                                                      "reason": "no commit on the branch"})
            return
        diff = repo.diff(base, sha)
        stats = repo.diff_stats(base, sha)
        self.lab.append(K.HYP_COMMITTED, "console", {
            "hyp_id": h.hyp_id, "sha": sha, "branch": h.branch, "message": message[:500], "base_sha": base,
            "diff_blob": self.lab.put_blob(diff), "files": stats.files, "additions": stats.additions,
            "deletions": stats.deletions})
        self._start_measurement(h.hyp_id)

    def _on_verdict(self, aid: str, actor: str, role: str, d: dict[str, Any]) -> None:
        hyp_id = d.get("hypothesis")
        h = self.lab.state.hypotheses.get(hyp_id or "")
        if role != "reviewer" or h is None or h.status != S.AUTO_REVIEWED:
            return
        self._record_verdict(hyp_id, actor, aid, d.get("verdict", "flag"), d.get("reasons", []))

    def _record_verdict(self, hyp_id: str, actor: str, reviewer: str, verdict: str, reasons: list[str]) -> None:
        """The reviewer's opinion goes into the log; the decision goes to the person."""
        self.lab.append(K.REVIEW_VERDICT, actor, {"hyp_id": hyp_id, "reviewer": reviewer,
                                                  "verdict": verdict, "reasons": reasons})
        self.lab.append(K.HYP_AWAITING, "console", {"hyp_id": hyp_id})

    def _on_report(self, aid: str, actor: str, role: str, d: dict[str, Any]) -> None:
        path = Path(str(d.get("path", "")))
        if path.exists():
            import hashlib

            self.lab.append(K.REPORT_WRITTEN, actor, {"path": str(path),
                                                      "sha256": hashlib.sha256(path.read_bytes()).hexdigest()})
        else:
            self.lab.append(K.AGENT_ERROR, actor, {"agent_id": aid, "message": f"reported {path}, which does not exist"})

    # --- scheduler: state → tasks -----------------------------------------------------------------

    def _schedule_loop(self) -> None:
        while not self._stop.wait(self.tick_s):
            try:
                with self.lab.locked():
                    self._schedule()
            except Exception as exc:
                if self.lab.fatal:
                    return
                self.lab.append(K.NOTE, "console", {"text": f"scheduler error: {exc}"})

    def _proposals_left(self, st: S.LabState) -> int:
        if self._proposals_exhausted:
            return 0
        made = sum(1 for h in st.hypotheses.values() if h.proposer.startswith(("researcher", "agent:researcher")))
        return max(0, self.config.search.budget - made)

    def _schedule(self) -> None:
        st = self.lab.state
        hyps = sorted(st.hypotheses.values(), key=lambda h: h.hyp_id)
        # researcher: keep a small queue ahead of the workers
        waiting = sum(1 for h in hyps if h.status in (S.PROPOSED, S.QUEUED))
        workers = sum(1 for s in self._specs.values() if s.role == "worker")
        proposals_left = self._proposals_left(st)
        if proposals_left > 0 and not self._role_alive("researcher"):
            self._give_up_proposing("the researcher is not running")
            proposals_left = 0
        if proposals_left > 0 and waiting < workers + QUEUE_AHEAD:
            if self._attempts.get(("", "propose"), 0) >= MAX_ATTEMPTS * self.config.search.budget:
                self._give_up_proposing(f"the researcher gave no proposal in {self._attempts[('', 'propose')]} tasks")
            else:
                for aid in self._idle_agents("researcher")[:1]:
                    self._send_task(aid, "propose", self._propose_payload(), None)
        # planner: one proposal at a time, oldest first
        for h in hyps:
            if h.status == S.PROPOSED and not self._task_for(h.hyp_id, "plan"):
                if self._attempts.get((h.hyp_id, "plan"), 0) >= MAX_ATTEMPTS:
                    self.lab.append(K.HYP_FAILED, "console", {"hyp_id": h.hyp_id, "step": "plan", "reason":
                                    f"the planner gave no decision in {MAX_ATTEMPTS} attempts"})
                    continue
                if not self._role_alive("planner"):
                    self._plan_with_rules(h)
                    continue
                for aid in self._idle_agents("planner")[:1]:
                    self._send_task(aid, "plan", self._plan_payload(h), h.hyp_id)
                break
        # workers: highest priority first
        queued = sorted((h for h in hyps if h.status == S.QUEUED), key=lambda h: (-h.priority, h.hyp_id))
        for aid, h in zip(self._idle_agents("worker"), queued):
            self._claim(aid, h)
        # reviewer
        for h in hyps:
            if h.status == S.AUTO_REVIEWED and h.hyp_id not in self.measuring and not self._task_for(h.hyp_id, "review"):
                if self._attempts.get((h.hyp_id, "review"), 0) >= MAX_ATTEMPTS:
                    # The person still decides; they see that the reviewer never answered.
                    self._record_verdict(h.hyp_id, "console", "console", "flag",
                                         [f"the reviewer gave no verdict in {MAX_ATTEMPTS} attempts"])
                    continue
                if not self._role_alive("reviewer"):
                    self.review_with_rules(h.hyp_id)
                    continue
                for aid in self._idle_agents("reviewer")[:1]:
                    self._send_task(aid, "review", {"hypothesis": {"id": h.hyp_id, "title": h.title},
                                                    "evidence": self._evidence_of(h)}, h.hyp_id)
                break
        # reporter: when everything is settled and something changed since the last report
        if self._settled(st) and not st.report_is_current() and not self._task_for("", "report"):
            if not self._role_alive("reporter"):
                self._report_by_console()
            for aid in self._idle_agents("reporter")[:1]:
                self._send_task(aid, "report", {"session_dir": str(self.lab.session_dir),
                                                "out": str(self.lab.session_dir / "report.md")}, None)

    def _give_up_proposing(self, why: str) -> None:
        """No more proposals will come: say why, once."""
        self._proposals_exhausted = True
        self.lab.append(K.NOTE, "console", {"text": f"{why}; no more proposals are asked for"})

    def _plan_with_rules(self, h: HypothesisState) -> None:
        """No planner is running: the console applies the same dedupe rule itself."""
        from labconsole.core.dedupe import find_duplicate

        earlier = self._plan_payload(h)["earlier"]
        match = find_duplicate(h.title, h.params, earlier)
        if match:
            self.lab.append(K.HYP_DUPLICATE, "console", {"hyp_id": h.hyp_id, "of": match.of, "similarity": match.similarity})
        else:
            self.lab.append(K.HYP_QUEUED, "console", {"hyp_id": h.hyp_id, "priority": h.priority})

    def _report_by_console(self) -> None:
        """No reporter is running: the console renders the same report from the log."""
        from labconsole.lab.report import write_report

        path = write_report(self.lab.session_dir, self.lab.session_dir / "report.md")
        self._on_report("console", "console", "reporter", {"path": str(path)})

    def _task_for(self, hyp_id: str, kind: str) -> bool:
        return any((t.hyp_id or "") == hyp_id and t.kind == kind for t in self.in_flight.values())

    def _baseline_params(self) -> dict[str, Any]:
        search = self.config.search
        if not search.file:
            return {}
        try:
            text = self.lab.repo.show_file(self.lab.state.baseline_sha, search.file)
        except Exception:
            text = (self.lab.repo.root / search.file).read_text(encoding="utf-8")
        return read_params(text, [p.name for p in search.params])

    def _earlier_sessions(self) -> list[dict[str, Any]]:
        """Hypotheses of this lab's earlier sessions: never proposed or tried again (DESIGN §3)."""
        if self._earlier is None:
            from labconsole.lab.session import final_state, list_sessions

            self._earlier = []
            for session_dir in list_sessions(self.lab.repo.root):
                if session_dir.name == self.lab.session_dir.name:
                    continue
                old, _ = final_state(session_dir)
                self._earlier += [{"hyp_id": h.hyp_id, "title": h.title, "params": h.params, "status": h.status,
                                   "metric": h.evidence.get("candidate_median"), "session": session_dir.name}
                                  for h in old.hypotheses.values()]
        return self._earlier

    def _propose_payload(self) -> dict[str, Any]:
        st = self.lab.state
        history = self._earlier_sessions() + [
            {"hyp_id": h.hyp_id, "title": h.title, "params": h.params, "status": h.status,
             "metric": h.evidence.get("candidate_median")} for h in st.hypotheses.values()]
        return {
            "objective": dict(st.objective),
            "search_space": [p.__dict__ | {"choices": list(p.choices)} for p in self.config.search.params],
            "baseline_params": self._baseline_params(),
            "baseline_metric": st.baseline_metric,
            "history": history,
            "do_not_repeat": [h["title"] for h in history if h["status"] in (S.REJECTED, S.DUPLICATE, S.FAILED)],
            "count": 1,
        }

    def _plan_payload(self, h: HypothesisState) -> dict[str, Any]:
        # Every earlier hypothesis, rejected and earlier sessions' ones included; ids order them.
        earlier = [{k: e[k] for k in ("hyp_id", "title", "params", "status")} for e in self._earlier_sessions()]
        earlier += [{"hyp_id": o.hyp_id, "title": o.title, "params": o.params, "status": o.status}
                    for o in sorted(self.lab.state.hypotheses.values(), key=lambda o: o.hyp_id) if o.hyp_id < h.hyp_id]
        return {"hypothesis": {"id": h.hyp_id, "title": h.title, "params": h.params, "rationale": h.rationale},
                "earlier": earlier}

    def _claim(self, aid: str, h: HypothesisState) -> None:
        self.lab.append(K.HYP_CLAIMED, "console", {"hyp_id": h.hyp_id, "agent_id": aid})
        base = self.lab.repo.head_sha()
        try:
            wt = self.lab.repo.create_worktree(h.hyp_id, base)
        except Exception as exc:
            self.lab.append(K.HYP_FAILED, "console", {"hyp_id": h.hyp_id, "step": "worktree", "reason": str(exc)})
            return
        self.lab.append(K.WORKTREE_CREATED, "console", {"hyp_id": h.hyp_id, "path": str(wt.path),
                                                        "branch": wt.branch, "base_sha": wt.base_sha})
        leftovers = self.lab.repo.set_aside_leftovers(h.hyp_id)
        if leftovers:  # a previous worker died mid-edit: its edits are archived, not reused
            self.lab.append(K.WORKTREE_ARCHIVED, "console", {"hyp_id": h.hyp_id, "ref": leftovers,
                                                             "reason": "uncommitted edits of a stopped worker"})
        self._send_task(aid, "implement", self._implement_payload(h), h.hyp_id)

    def _implement_payload(self, h: HypothesisState) -> dict[str, Any]:
        return {"hypothesis": {"id": h.hyp_id, "title": h.title, "params": h.params, "rationale": h.rationale},
                "worktree": h.worktree, "branch": h.branch, "protected": list(self.config.objective.protected),
                "edit": {"file": self.config.search.file}, "objective": dict(self.lab.state.objective)}

    # --- measurement ------------------------------------------------------------------------------

    def _start_measurement(self, hyp_id: str) -> None:
        if hyp_id in self.measuring:
            return
        self.measuring.add(hyp_id)
        self.measure_pool.submit(self._measure, hyp_id, self._next_measurement(hyp_id))

    def _next_measurement(self, hyp_id: str) -> int:
        """Measurement numbers come from the log, so run ids stay unique across console restarts."""
        runs = self.lab.state.hypotheses[hyp_id].run_ids
        done = [int(m.group(1)) for r in runs if (m := re.search(r"-m(\d+)-", r))]
        return max(done, default=0) + 1

    def _measure(self, hyp_id: str, n: int) -> None:
        try:
            with self.lab.locked():
                h = self.lab.state.hypotheses[hyp_id]
                sha, base, params, priority = h.sha, h.base_sha, dict(h.params), h.priority
            protected = self.lab.repo.protected_changes(base, sha, list(self.config.objective.protected))
            runs, tampering = self.executor.measure(hyp_id, sha, base, params, n, priority)
            if self._stop.is_set():
                return
            with self.lab.locked():
                if self.lab.state.hypotheses[hyp_id].sha != sha:
                    return  # superseded by a newer commit, which gets its own measurement
            diff_sha = self.lab.state.hypotheses[hyp_id].diff_blob or ""
            bundle = build_bundle(
                hyp_id=hyp_id, sha=sha, base_sha=base, main_sha=self.lab.repo.head_sha(), diff_sha256=diff_sha,
                protected_changes=protected, run_tampering=tampering, runs=runs,
                objective=dict(self.lab.state.objective), min_effect=self.config.objective.min_effect, params=params)
            digest = evidence_hash(bundle)
            blob = self.lab.put_blob(canonical(bundle))
            summary = {k: bundle[k] for k in ("sha", "base_sha", "candidate_median", "baseline_median", "candidate_spread",
                                              "baseline_spread", "effect", "significant", "candidate_ok",
                                              "candidate_runs", "baseline_ok", "baseline_runs", "stale",
                                              "protected_changes", "run_tampering")}
            summary["metrics"] = [{"run_id": r.run_id, "role": r.role, "repeat": r.repeat, "status": r.status,
                                   "metric": r.metric} for r in runs]
            self.lab.append(K.EVIDENCE_RECORDED, "console", {"hyp_id": hyp_id, "evidence_hash": digest,
                                                             "blob": blob, "summary": summary})
            if bundle["candidate_ok"] == 0:
                self.lab.append(K.HYP_FAILED, "console", {"hyp_id": hyp_id, "step": "measure",
                                                          "reason": "no candidate run succeeded (logs kept on the runs)"})
                self.lab.cleanup_worktree(hyp_id)
        except Exception as exc:
            if not self._stop.is_set() and not self.lab.fatal:
                self.lab.append(K.HYP_FAILED, "console", {"hyp_id": hyp_id, "step": "measure",
                                                          "reason": f"{type(exc).__name__}: {exc}"})
        finally:
            self.measuring.discard(hyp_id)
            if not self.lab.fatal and not self._stop.is_set():
                with self.lab.locked():
                    self._check_budget()  # runs spend GPU-hours

    def _evidence_of(self, h: HypothesisState) -> dict[str, Any]:
        import json

        if h.evidence_blob:
            try:
                return json.loads(self.lab.blob(h.evidence_blob))
            except Exception:
                pass
        return dict(h.evidence)

    def remeasure(self, hyp_id: str) -> None:
        """Bring a candidate onto the current main (merge main into its branch) and measure it again."""
        h = self.lab.state.hypotheses[hyp_id]
        main = self.lab.repo.head_sha()
        try:
            self.lab.repo.update_branch(hyp_id, main)
        except Exception as exc:
            self.lab.append(K.HYP_FAILED, "console", {"hyp_id": hyp_id, "step": "remeasure", "reason": str(exc)})
            self.lab.cleanup_worktree(hyp_id)
            return
        self._record_commit(h, f"re-measure on main {main[:12]}", base_sha=main)

    def wait_measurements(self, timeout_s: float | None = None) -> None:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while self.measuring and (deadline is None or time.monotonic() < deadline):
            time.sleep(0.05)

    def review_with_rules(self, hyp_id: str) -> None:
        """The offline reviewer's verdict, given here when no reviewer agent is running."""
        from labconsole.agents.backends.rules import review

        h = self.lab.state.hypotheses[hyp_id]
        if h.status != S.AUTO_REVIEWED:
            return
        verdict, reasons = review(self._evidence_of(h))
        self._record_verdict(hyp_id, "console", "rules", verdict, reasons)

    # --- budget -----------------------------------------------------------------------------------

    def _check_budget(self) -> None:
        """Log each budget signal once; pause the agents an exhausted budget covers (DESIGN §3)."""
        from labconsole.agents.budget import check, new_signals, roles_to_pause

        budget = self.lab.state.budget
        signals = check(budget.limits_for_check(), budget.used_for_check())
        fresh = new_signals(signals, set(budget.signalled))
        for signal in fresh:
            self.lab.append(signal.event_kind, "console", signal.event_data())
        roles = roles_to_pause(fresh, {spec.role for spec in self._specs.values()})
        if roles:
            self.paused_roles |= roles
            for aid, spec in self._specs.items():
                if spec.role in roles:
                    self.supervisor.send(aid, {"type": "pause"})

    # --- recovery after a crash -------------------------------------------------------------------

    def _recover(self) -> None:
        """Make the log whole again after the previous console died, then pick the work back up."""
        for run_id in self.executor.clean_up_after_crash():
            self.lab.append(K.NOTE, "console", {"text": f"ended run {run_id}, left running by the previous console"})
        st = self.lab.state
        for run in list(st.runs.values()):
            if run.status == "running":
                self.lab.append(K.RUN_FINISHED, "console", {
                    "run_id": run.run_id, "hyp_id": run.hyp_id, "status": "crashed", "metric": None,
                    "returncode": None, "duration_s": None, "log_blob": None,
                    "error": "the console stopped during this run; it was not finished"})
        for agent in list(st.agents.values()):
            if agent.state not in ("stopped", "crashed", "hung"):
                self.lab.append(K.AGENT_EXITED, "console", {"agent_id": agent.agent_id, "role": agent.role,
                                                            "reason": "killed", "returncode": None,
                                                            "detail": "the console stopped"})
        for h in sorted(st.hypotheses.values(), key=lambda h: h.hyp_id):
            if h.status in (S.CLAIMED, S.IMPLEMENTING):
                head = self.lab.repo.branch_head(h.branch) if h.branch else None
                if head and h.base_sha and head != h.base_sha:
                    self._record_commit(h, "recovered after a console restart")
                else:
                    # Back to the queue; the worktree (if any) is reused by the next claim.
                    self.lab.append(K.HYP_QUEUED, "console", {"hyp_id": h.hyp_id, "priority": h.priority})
            elif h.status == S.MEASURING and h.sha:
                self._start_measurement(h.hyp_id)

    def _lease_pool(self) -> Any:
        if self.config.resources.gpus_per_run <= 0:
            return None
        from labconsole.gpu.leases import pool_for_machine

        return pool_for_machine(self.config.resources.gpus_per_run)

