"""The session's agents and the tasks they hold: specs from lab.toml, start/control, task hand-out,
and the bookkeeping that keeps a task from being lost when its agent dies or is stopped."""

from __future__ import annotations

import itertools
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labconsole.agents.supervisor import AgentSpec, Supervisor
from labconsole.events import kinds as K
from labconsole.lab import state as S
from labconsole.lab.gate import AGENT_ENV
from labconsole.lab.instructions import agent_options
from labconsole.lab.orchestrator.port import LabPort

AGENT_ACTIONS = ("pause", "resume", "stop", "restart")


@dataclass
class InFlight:
    """A task sent to an agent and not yet answered."""

    task_id: str
    kind: str  # propose | plan | implement | review | report
    payload: dict[str, Any]
    hyp_id: str | None
    sent: float


class AgentPool:
    """Owns the supervisor's agents for one session. Callers hold the lab lock (state is read here)."""

    def __init__(self, lab: LabPort, supervisor: Supervisor, agent_argv: dict[str, list[str]] | None = None) -> None:
        self.lab = lab
        self.supervisor = supervisor
        self.agent_argv = agent_argv or {}
        self.specs: dict[str, AgentSpec] = {}
        self.in_flight: dict[str, InFlight] = {}
        self.paused_roles: set[str] = set()  # roles paused by an exhausted budget
        self.attempts: dict[tuple[str, str], int] = {}  # (hyp_id or "", task kind) -> tasks sent
        self._task_ids = itertools.count(1)
        # Implement tasks of agents that died mid-task, re-sent when the agent says hello again.
        self._resend_later: list[tuple[str, InFlight]] = []

    # --- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        for spec in self._specs_from_config():
            self.specs[spec.agent_id] = spec
            self.supervisor.start(spec)

    def _specs_from_config(self) -> list[AgentSpec]:
        specs = []
        path = str(self._python_shim()) + os.pathsep + os.environ.get("PATH", "")
        for role, cfg in self.lab.config.agents.items():
            # The session's recorded instructions (read at its baseline commit), never the working tree's.
            instructed = agent_options(self.lab.session_dir, role)
            for n in range(cfg.count):
                agent_id = f"{role}-{n + 1}" if cfg.count > 1 or role == "worker" else role
                env = {"PATH": path, AGENT_ENV: agent_id}
                specs.append(
                    AgentSpec(
                        agent_id,
                        role,
                        cfg.backend,
                        cfg.model,
                        self.lab.repo.root,
                        options={**cfg.options, **instructed},
                        env=env,
                        argv=self.agent_argv.get(agent_id),
                    )
                )
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

    def role_of(self, agent_id: str) -> str:
        spec = self.specs.get(agent_id)
        return spec.role if spec else ""

    def roles(self) -> set[str]:
        return {spec.role for spec in self.specs.values()}

    def role_count(self, role: str) -> int:
        return sum(1 for s in self.specs.values() if s.role == role)

    def role_alive(self, role: str) -> bool:
        return any(spec.role == role and self.supervisor.expected(aid) for aid, spec in self.specs.items())

    # --- the person's controls --------------------------------------------------------------------

    def control(self, agent_id: str, action: str) -> None:
        if action == "pause":
            self.supervisor.send(agent_id, {"type": "pause"})
        elif action == "resume":
            self.supervisor.send(agent_id, {"type": "resume"})
        elif action == "stop":
            self.supervisor.stop(agent_id)
            self.requeue_task_of(agent_id, resend=False)
        elif action == "restart":
            self.supervisor.stop(agent_id, restart=True)

    def message(self, agent_id: str, text: str) -> None:
        self.supervisor.send(agent_id, {"type": "message", "text": text})

    def resume_all(self) -> None:
        self.paused_roles.clear()
        for agent_id in self.supervisor.agent_ids():
            self.supervisor.send(agent_id, {"type": "resume"})

    def pause_roles(self, roles: set[str]) -> None:
        """An exhausted budget covers these roles: pause their agents, and keep pausing restarted ones."""
        self.paused_roles |= roles
        for aid, spec in self.specs.items():
            if spec.role in roles:
                self.supervisor.send(aid, {"type": "pause"})

    # --- tasks ------------------------------------------------------------------------------------

    def send_task(self, agent_id: str, kind: str, payload: dict[str, Any], hyp_id: str | None) -> None:
        key = (hyp_id or "", kind)
        self.attempts[key] = self.attempts.get(key, 0) + 1
        task_id = f"t{next(self._task_ids)}"
        self.in_flight[agent_id] = InFlight(task_id, kind, payload, hyp_id, time.monotonic())
        self.supervisor.send(agent_id, {"type": "task", "task": task_id, "kind": kind, "payload": payload})

    def attempts_of(self, hyp_id: str, kind: str) -> int:
        return self.attempts.get((hyp_id, kind), 0)

    def idle_agents(self, role: str) -> list[str]:
        st = self.lab.state
        if role in self.paused_roles:
            return []
        return [
            aid
            for aid, spec in self.specs.items()
            if spec.role == role
            and aid not in self.in_flight
            and aid in st.agents
            and st.agents[aid].state == "idle"
            and self.supervisor.running(aid)
        ]

    def task_for(self, hyp_id: str, kind: str) -> bool:
        return any((t.hyp_id or "") == hyp_id and t.kind == kind for t in self.in_flight.values())

    def answered(self, agent_id: str, task_id: Any) -> InFlight | None:
        """The agent's task, taken off the books, if ``task_id`` names it; else None."""
        task = self.in_flight.get(agent_id)
        if task is None or task_id != task.task_id:
            return None
        del self.in_flight[agent_id]
        return task

    def requeue_task_of(self, agent_id: str, *, resend: bool = True) -> None:
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

    # --- what the supervisor tells about an agent -------------------------------------------------

    def on_hello(self, aid: str) -> None:
        # A restarted agent picks its unfinished task up again.
        for item in list(self._resend_later):
            if item[0] == aid:
                self._resend_later.remove(item)
                task = item[1]
                self.send_task(aid, task.kind, task.payload, task.hyp_id)
        if self.specs[aid].role in self.paused_roles:
            self.supervisor.send(aid, {"type": "pause"})

    def on_exited(self, aid: str, role: str, d: dict[str, Any]) -> None:
        self.lab.append(K.AGENT_EXITED, "console", {"agent_id": aid, "role": role, **d})
        self.requeue_task_of(aid)

    def on_gave_up(self, aid: str, role: str, d: dict[str, Any]) -> None:
        """The supervisor stopped restarting this agent: nothing may wait for it any more."""
        self.lab.append(K.AGENT_ERROR, "console", {"agent_id": aid, "role": role, "message": d["message"]})
        for item in [i for i in self._resend_later if i[0] == aid]:
            self._resend_later.remove(item)
            self.in_flight[aid] = item[1]
            self.requeue_task_of(aid, resend=False)

    def on_error(self, aid: str, actor: str, role: str, d: dict[str, Any]) -> None:
        self.lab.append(K.AGENT_ERROR, actor, {"agent_id": aid, "role": role, **d})
        task = self.answered(aid, d.get("task"))
        if task is None:
            return
        h = self.lab.state.hypotheses.get(task.hyp_id or "")
        step_open = {"implement": (S.CLAIMED, S.IMPLEMENTING), "plan": (S.PROPOSED,)}.get(task.kind, ())
        if h is not None and h.status in step_open:
            self.lab.append(
                K.HYP_FAILED,
                "console",
                {"hyp_id": task.hyp_id, "step": task.kind, "reason": str(d.get("message", ""))[:500]},
            )
            self.lab.cleanup_worktree(h.hyp_id)

    def on_done(self, aid: str, d: dict[str, Any]) -> None:
        task = self.answered(aid, d.get("task"))
        if task is None:
            return
        h = self.lab.state.hypotheses.get(task.hyp_id or "")
        if task.kind == "implement" and h is not None and h.status in (S.CLAIMED, S.IMPLEMENTING):
            self.lab.append(
                K.HYP_FAILED,
                "console",
                {"hyp_id": h.hyp_id, "step": "implement", "reason": "the worker finished without a commit"},
            )
            self.lab.cleanup_worktree(h.hyp_id)
