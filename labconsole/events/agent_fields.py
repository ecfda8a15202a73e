"""The data fields of the agent kinds (``agent.*``); registered in ``kinds.py``.

Kept apart only to keep ``kinds.py`` short: the kind strings, versions and flags are there, in the one table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


# Keyword-only field groups: a kind inherits one next to its own required fields in any order; the wire
# format is still the kind's fields by name.


@dataclass(frozen=True, kw_only=True)
class UsageFields:
    """An agent's model-call counts: ``agent.usage`` reports them as they come, ``eval.attempt`` per attempt."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_tokens: int | None = None
    cost_usd: float | None = None
    tool_calls: int | None = None
    repair_attempts: int | None = None


@dataclass(frozen=True)
class _AgentFields:
    """What every agent.* kind about an agent's process carries first (the kinds below inherit it)."""

    agent_id: str
    role: str | None = None


@dataclass(frozen=True)
class AgentStarted(_AgentFields):
    backend: str | None = None
    model: str | None = None
    pid: int | None = None
    attempt: int | None = None


@dataclass(frozen=True)
class AgentHello(_AgentFields):
    protocol: int | str | None = None
    backend: str | None = None
    model: str | None = None


@dataclass(frozen=True)
class AgentStatus(_AgentFields):
    state: str | None = None  # working | waiting | idle | paused
    hypothesis: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class AgentLog(_AgentFields):
    level: str | None = None
    text: str | None = None


@dataclass(frozen=True)
class AgentRaw(_AgentFields):
    """A non-protocol stdout line."""

    text: str | None = None
    truncated: bool | None = None


@dataclass(frozen=True)
class AgentDropped(_AgentFields):
    """Log lines dropped under flood."""

    count: int | None = None


@dataclass(frozen=True)
class AgentToolCall(_AgentFields):
    tool: str | None = None
    input: Any = None
    ok: bool | None = None
    error: str | None = None


@dataclass(frozen=True)
class AgentUsage(_AgentFields, UsageFields):
    model: str | None = None


@dataclass(frozen=True)
class AgentError(_AgentFields):
    message: str | None = None
    task: str | None = None


@dataclass(frozen=True)
class AgentExited(_AgentFields):
    reason: str | None = None  # done | crashed | hung | killed | stopped
    returncode: int | None = None
    signal: int | None = None
    detail: str | None = None
    attempt: int | None = None


@dataclass(frozen=True)
class AgentStalled(_AgentFields):
    """The agent's model call sent no token past its limit (heartbeats alone do not count); an
    ``agent.exited`` (reason hung) and the usual restart follow."""

    waited_s: float | None = None
    limit_s: float | None = None
    attempt: int | None = None
    detail: str | None = None


@dataclass(frozen=True)
class AgentRestarting(_AgentFields):
    attempt: int | None = None
    backoff_s: float | None = None


@dataclass(frozen=True)
class AgentMessage:
    """A person's message to an agent."""

    agent_id: str
    text: str | None = None


@dataclass(frozen=True)
class AgentControl:
    agent_id: str
    action: str | None = None  # pause | resume | stop | restart
