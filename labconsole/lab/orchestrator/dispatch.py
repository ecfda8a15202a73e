"""Agent messages → events and reactions, through one table keyed by the message's type.

Anything an agent wrote is hostile input: a type not in the table is logged as raw text and nothing else
happens; handlers check the sender's role and the hypothesis' status before they act.
"""

from __future__ import annotations

from typing import Any
from collections.abc import Callable

from labconsole.agents.supervisor import Message
from labconsole.events import kinds as K
from labconsole.gpu.telemetry import OwnerRegistry
from labconsole.lab.orchestrator.agents import AgentPool
from labconsole.lab.orchestrator.decisions import GateFlow
from labconsole.lab.orchestrator.port import LabPort
from labconsole.lab.orchestrator.scheduling import Scheduler

# Messages that only become an event, with the actor the event is logged under.
LOGGED_ONLY: dict[str, str] = {
    "started": K.AGENT_STARTED,
    "hello": K.AGENT_HELLO,
    "status": K.AGENT_STATUS,
    "log": K.AGENT_LOG,
    "raw": K.AGENT_RAW,
    "dropped": K.AGENT_DROPPED,
    "tool_call": K.AGENT_TOOL_CALL,
    "restarting": K.AGENT_RESTARTING,
    "stalled": K.AGENT_STALLED,
}
# What the supervisor says about an agent (not the agent itself) is logged as the console's.
FROM_SUPERVISOR = frozenset({"started", "restarting", "stalled"})

# handler(agent_id, actor, role, data)
Handler = Callable[[str, str, str, dict[str, Any]], None]


class MessageRouter:
    """Callers hold the lab lock."""

    def __init__(
        self,
        lab: LabPort,
        agents: AgentPool,
        scheduler: Scheduler,
        gate: GateFlow,
        owners: OwnerRegistry,
        check_budget: Callable[[], None],
    ) -> None:
        self.lab = lab
        self.agents = agents
        self.owners = owners
        self._check_budget = check_budget
        self.handlers: dict[str, Handler] = {
            "exited": lambda aid, actor, role, d: agents.on_exited(aid, role, d),
            "gave_up": lambda aid, actor, role, d: agents.on_gave_up(aid, role, d),
            "error": agents.on_error,
            "done": lambda aid, actor, role, d: agents.on_done(aid, d),
            "usage": self._on_usage,
            "proposal": scheduler.on_proposal,
            "plan": scheduler.on_plan,
            "commit": scheduler.on_commit,
            "verdict": gate.on_verdict,
            "report": lambda aid, actor, role, d: gate.on_report(aid, actor, d),
        }

    def handle(self, msg: Message) -> None:
        aid, d = msg.agent_id, msg.data
        actor = f"agent:{aid}"
        role = self.agents.role_of(aid)
        if msg.type == "started":
            self.owners.register(int(d["pid"]), f"agent:{aid}")
        if msg.type in LOGGED_ONLY:
            self.lab.append(
                LOGGED_ONLY[msg.type],
                "console" if msg.type in FROM_SUPERVISOR else actor,
                {"agent_id": aid, "role": role, **d},
            )
            if msg.type == "hello":
                self.agents.on_hello(aid)
            return
        handler = self.handlers.get(msg.type)
        if handler is None:
            self.lab.append(K.AGENT_RAW, actor, {"agent_id": aid, "text": f"unhandled message type {msg.type}"})
            return
        handler(aid, actor, role, d)

    def _on_usage(self, aid: str, actor: str, role: str, d: dict[str, Any]) -> None:
        self.lab.append(K.AGENT_USAGE, actor, {"agent_id": aid, "role": role, **d})
        self._check_budget()
