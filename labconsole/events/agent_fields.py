"""The data fields of the agent kinds (``agent.*``); registered in ``kinds.py``.

Kept apart only to keep ``kinds.py`` short: the kind strings, versions and flags are there, in the one table.
"""

# No ``from __future__ import annotations`` here: TypedDict reads NotRequired[...] from evaluated annotations
# (Python 3.11 counts a string-annotated NotRequired key as required).
from typing import Any, NotRequired, TypedDict


class UsageFields(TypedDict):
    """An agent's model-call counts: ``agent.usage`` reports them as they come, ``eval.attempt`` per attempt."""

    input_tokens: NotRequired[int]
    output_tokens: NotRequired[int]
    cached_tokens: NotRequired[int]
    cost_usd: NotRequired[float]
    tool_calls: NotRequired[int]
    repair_attempts: NotRequired[int]


class _AgentFields(TypedDict):
    """What every agent.* kind about an agent's process carries first (the kinds below inherit it)."""

    agent_id: str
    role: NotRequired[str]


class AgentStarted(_AgentFields):
    backend: NotRequired[str]
    model: NotRequired[str]
    pid: NotRequired[int]
    attempt: NotRequired[int]


class AgentHello(_AgentFields):
    protocol: NotRequired[int | str]
    backend: NotRequired[str]
    model: NotRequired[str]


class AgentStatus(_AgentFields):
    state: NotRequired[str]  # working | waiting | idle | paused
    hypothesis: NotRequired[str]
    detail: NotRequired[str]


class AgentLog(_AgentFields):
    level: NotRequired[str]
    text: NotRequired[str]


class AgentRaw(_AgentFields):
    """A non-protocol stdout line."""

    text: NotRequired[str]
    truncated: NotRequired[bool]


class AgentDropped(_AgentFields):
    """Log lines dropped under flood."""

    count: NotRequired[int]


class AgentToolCall(_AgentFields):
    tool: NotRequired[str]
    input: NotRequired[Any]
    ok: NotRequired[bool]
    error: NotRequired[str]


class AgentUsage(_AgentFields, UsageFields):
    model: NotRequired[str]


class AgentError(_AgentFields):
    message: NotRequired[str]
    task: NotRequired[str]


class AgentExited(_AgentFields):
    reason: NotRequired[str]  # done | crashed | hung | killed | stopped
    returncode: NotRequired[int]
    signal: NotRequired[int]
    detail: NotRequired[str]
    attempt: NotRequired[int]


class AgentStalled(_AgentFields):
    """The agent's model call sent no token past its limit (heartbeats alone do not count); an
    ``agent.exited`` (reason hung) and the usual restart follow."""

    waited_s: NotRequired[float]
    limit_s: NotRequired[float]
    attempt: NotRequired[int]
    detail: NotRequired[str]


class AgentRestarting(_AgentFields):
    attempt: NotRequired[int]
    backoff_s: NotRequired[float]


class AgentMessage(TypedDict):
    """A person's message to an agent."""

    agent_id: str
    text: NotRequired[str]


class AgentControl(TypedDict):
    agent_id: str
    action: NotRequired[str]  # pause | resume | stop | restart
