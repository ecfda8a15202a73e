"""The agent protocol (docs/protocol.md), as typed messages: the one definition both sides use.

* agent → console (an agent's stdout): :data:`AgentMessage`, written by
  :class:`~labconsole.agents.emitter.Emitter`, read by the supervisor.
* console → agent (its stdin): :data:`ConsoleMessage`, written by the supervisor, read by the runner.
* how an agent process is started: :class:`AgentLaunch` (the runner's command line).

Every message has ``to_dict``/``to_json`` and a ``from_dict`` that checks each field's type;
:func:`parse_agent` and :func:`parse_console` read one line or one decoded object. Agents are
hostile: a malformed message raises :class:`ProtocolError` with one line naming what to fix.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Self, TypeVar

from labconsole.core.usage import Usage

PROTOCOL_VERSION = 1

STATUS_STATES: tuple[str, ...] = ("working", "waiting", "idle", "paused")
LOG_LEVELS: tuple[str, ...] = ("debug", "info", "warning", "error")
PLAN_DECISIONS: tuple[str, ...] = ("queue", "duplicate")
VERDICTS: tuple[str, ...] = ("pass", "flag", "reject")
TASK_KINDS: tuple[str, ...] = ("propose", "plan", "implement", "review", "report")

_MISSING: Any = object()


class ProtocolError(ValueError):
    """A protocol line that cannot be used; the message names the type and field to fix."""


# --- field readers: one clear line per bad field ----------------------------------------------


def _get(data: Mapping[str, Any], kind: str, key: str, default: Any) -> Any:
    value = data.get(key, default)
    if value is _MISSING:
        raise ProtocolError(f"{kind}: missing field {key!r}")
    return value


def _str(data: Mapping[str, Any], kind: str, key: str, default: Any = _MISSING) -> str:
    value = _get(data, kind, key, default)
    if not isinstance(value, str):
        raise ProtocolError(f"{kind}: field {key!r} must be a string, got {type(value).__name__}")
    return value


def _opt_str(data: Mapping[str, Any], kind: str, key: str) -> str | None:
    return None if data.get(key) is None else _str(data, kind, key)


def _choice(data: Mapping[str, Any], kind: str, key: str, allowed: tuple[str, ...], default: Any = _MISSING) -> str:
    value = _str(data, kind, key, default)
    if value not in allowed:
        raise ProtocolError(f"{kind}: field {key!r} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _bool(data: Mapping[str, Any], kind: str, key: str, default: bool) -> bool:
    value = _get(data, kind, key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ProtocolError(f"{kind}: field {key!r} must be true or false, got {type(value).__name__}")
    return value


def _number(data: Mapping[str, Any], kind: str, key: str, default: Any = _MISSING) -> float:
    value = _get(data, kind, key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProtocolError(f"{kind}: field {key!r} must be a number, got {type(value).__name__}")
    return float(value)


def _opt_number(data: Mapping[str, Any], kind: str, key: str) -> float | None:
    return None if data.get(key) is None else _number(data, kind, key)


def _int(data: Mapping[str, Any], kind: str, key: str, default: Any = _MISSING) -> int:
    value = _get(data, kind, key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProtocolError(f"{kind}: field {key!r} must be an integer, got {type(value).__name__}")
    return value


def _object(data: Mapping[str, Any], kind: str, key: str, default: Any = _MISSING) -> dict[str, Any]:
    value = _get(data, kind, key, default)
    if not isinstance(value, dict):
        raise ProtocolError(f"{kind}: field {key!r} must be an object, got {type(value).__name__}")
    return value


def _str_list(data: Mapping[str, Any], kind: str, key: str) -> list[str]:
    value = _get(data, kind, key, _MISSING)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ProtocolError(f"{kind}: field {key!r} must be a list of strings")
    return list(value)


class _Message:
    """Shared serialisation: ``{"type": TYPE, <fields in declaration order>}``."""

    TYPE: ClassVar[str]

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.TYPE, **{f.name: getattr(self, f.name) for f in fields(self)}}  # type: ignore[arg-type]

    def to_json(self) -> str:
        # default=str: a stray Path or datetime in a payload is sent as text rather than failing the agent.
        return json.dumps(self.to_dict(), separators=(",", ":"), default=str)


class _Bare(_Message):
    """A message that is its type alone (heartbeat, pause, resume, shutdown)."""

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Self:
        return cls()


# --- agent → console ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Hello(_Message):
    TYPE: ClassVar[str] = "hello"
    role: str
    backend: str
    model: str = ""
    protocol: int = PROTOCOL_VERSION

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Hello:
        return cls(
            role=_str(d, cls.TYPE, "role"),
            backend=_str(d, cls.TYPE, "backend"),
            model=_str(d, cls.TYPE, "model", ""),
            protocol=_int(d, cls.TYPE, "protocol"),
        )


@dataclass(frozen=True)
class Heartbeat(_Message):
    """The process is alive; ``waiting_s``: how long its model call in progress has sent no token
    (0 when none is) — the supervisor calls the agent stalled past its limit."""

    TYPE: ClassVar[str] = "heartbeat"
    waiting_s: float = 0.0

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Heartbeat:
        return cls(waiting_s=_number(d, cls.TYPE, "waiting_s", 0.0))


@dataclass(frozen=True)
class Status(_Message):
    TYPE: ClassVar[str] = "status"
    state: str  # one of STATUS_STATES
    hypothesis: str | None = None
    detail: str = ""

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Status:
        return cls(
            state=_choice(d, cls.TYPE, "state", STATUS_STATES),
            hypothesis=_opt_str(d, cls.TYPE, "hypothesis"),
            detail=_str(d, cls.TYPE, "detail", "") if d.get("detail") is not None else "",
        )


@dataclass(frozen=True)
class Log(_Message):
    TYPE: ClassVar[str] = "log"
    text: str
    level: str = "info"  # one of LOG_LEVELS

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Log:
        return cls(text=_str(d, cls.TYPE, "text"), level=_choice(d, cls.TYPE, "level", LOG_LEVELS, "info"))


@dataclass(frozen=True)
class ToolCall(_Message):
    TYPE: ClassVar[str] = "tool_call"
    tool: str
    input: str  # a short summary, not the full arguments
    ok: bool = True
    error: str | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ToolCall:
        return cls(
            tool=_str(d, cls.TYPE, "tool"),
            input=_str(d, cls.TYPE, "input", ""),
            ok=_bool(d, cls.TYPE, "ok", True),
            error=_opt_str(d, cls.TYPE, "error"),
        )


@dataclass(frozen=True)
class Proposal(_Message):
    TYPE: ClassVar[str] = "proposal"
    title: str
    params: dict[str, Any]
    rationale: str
    source: str
    priority: float | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Proposal:
        t = cls.TYPE
        return cls(
            title=_str(d, t, "title"),
            params=_object(d, t, "params"),
            rationale=_str(d, t, "rationale"),
            source=_str(d, t, "source"),
            priority=_opt_number(d, t, "priority"),
        )


@dataclass(frozen=True)
class Plan(_Message):
    TYPE: ClassVar[str] = "plan"
    hypothesis: str
    decision: str  # one of PLAN_DECISIONS
    priority: float | None = None
    of: str | None = None
    similarity: float | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Plan:
        t = cls.TYPE
        return cls(
            hypothesis=_str(d, t, "hypothesis"),
            decision=_choice(d, t, "decision", PLAN_DECISIONS),
            priority=_opt_number(d, t, "priority"),
            of=_opt_str(d, t, "of"),
            similarity=_opt_number(d, t, "similarity"),
        )


@dataclass(frozen=True)
class Commit(_Message):
    TYPE: ClassVar[str] = "commit"
    hypothesis: str
    sha: str
    message: str

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Commit:
        t = cls.TYPE
        return cls(hypothesis=_str(d, t, "hypothesis"), sha=_str(d, t, "sha"), message=_str(d, t, "message", ""))


@dataclass(frozen=True)
class Verdict(_Message):
    TYPE: ClassVar[str] = "verdict"
    hypothesis: str
    verdict: str  # one of VERDICTS
    reasons: list[str]

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Verdict:
        t = cls.TYPE
        return cls(
            hypothesis=_str(d, t, "hypothesis"),
            verdict=_choice(d, t, "verdict", VERDICTS),
            reasons=_str_list(d, t, "reasons"),
        )


@dataclass(frozen=True)
class Report(_Message):
    TYPE: ClassVar[str] = "report"
    path: str

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Report:
        return cls(path=_str(d, cls.TYPE, "path"))


@dataclass(frozen=True)
class UsageReport(_Message):
    """Tokens and money spent since the last ``usage`` line; on the wire the :class:`Usage`
    fields sit flat beside ``model``."""

    TYPE: ClassVar[str] = "usage"
    usage: Usage
    model: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.TYPE, **self.usage.as_dict(), "model": self.model}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> UsageReport:
        t = cls.TYPE
        usage = Usage(
            input_tokens=_int(d, t, "input_tokens", 0),
            output_tokens=_int(d, t, "output_tokens", 0),
            cached_tokens=_int(d, t, "cached_tokens", 0),
            cost_usd=_number(d, t, "cost_usd", 0.0),
            tool_calls=_int(d, t, "tool_calls", 0),
            repair_attempts=_int(d, t, "repair_attempts", 0),
        )
        if (
            min(
                usage.input_tokens,
                usage.output_tokens,
                usage.cached_tokens,
                usage.tool_calls,
                usage.repair_attempts,
                usage.cost_usd,
            )
            < 0
        ):
            raise ProtocolError("usage: counts and cost_usd must not be negative")
        return cls(usage=usage, model=_str(d, t, "model", "") if d.get("model") is not None else "")


@dataclass(frozen=True)
class Done(_Message):
    TYPE: ClassVar[str] = "done"
    task: str
    summary: str = ""

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Done:
        return cls(
            task=_str(d, cls.TYPE, "task"),
            summary=_str(d, cls.TYPE, "summary", "") if d.get("summary") is not None else "",
        )


@dataclass(frozen=True)
class Error(_Message):
    TYPE: ClassVar[str] = "error"
    message: str
    task: str | None = None
    fatal: bool = False  # the agent is about to exit
    infra: bool = False  # the machinery failed (model server, key, CLI), not the agent's work

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Error:
        return cls(
            message=_str(d, cls.TYPE, "message"),
            task=_opt_str(d, cls.TYPE, "task"),
            fatal=_bool(d, cls.TYPE, "fatal", False),
            infra=_bool(d, cls.TYPE, "infra", False),
        )


AgentMessage = (
    Hello
    | Heartbeat
    | Status
    | Log
    | ToolCall
    | Proposal
    | Plan
    | Commit
    | Verdict
    | Report
    | UsageReport
    | Done
    | Error
)

AGENT_MESSAGES: dict[str, type[AgentMessage]] = {
    m.TYPE: m
    for m in (
        Hello,
        Heartbeat,
        Status,
        Log,
        ToolCall,
        Proposal,
        Plan,
        Commit,
        Verdict,
        Report,
        UsageReport,
        Done,
        Error,
    )
}
AGENT_TYPES: frozenset[str] = frozenset(AGENT_MESSAGES)
# Lines the console may drop under a flood (counted); every other type is a decision and never dropped.
CHATTER_TYPES: frozenset[str] = frozenset({Log.TYPE, Heartbeat.TYPE, "raw"})


# --- console → agent ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskMessage(_Message):
    """Work to do. ``id`` is ``task`` on the wire (the field the agent echoes in ``done``/``error``)."""

    TYPE: ClassVar[str] = "task"
    id: str
    kind: str  # one of TASK_KINDS
    payload: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.TYPE, "task": self.id, "kind": self.kind, "payload": self.payload}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TaskMessage:
        t = cls.TYPE
        raw_id = _get(d, t, "task", _MISSING)
        if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)):
            raise ProtocolError(f"task: field 'task' must be a string id, got {type(raw_id).__name__}")
        return cls(id=str(raw_id), kind=_str(d, t, "kind"), payload=_object(d, t, "payload", {}))


@dataclass(frozen=True)
class PersonMessage(_Message):
    """A message from the person at the console (``message`` on the wire)."""

    TYPE: ClassVar[str] = "message"
    text: str

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PersonMessage:
        return cls(text=_str(d, cls.TYPE, "text", ""))


@dataclass(frozen=True)
class Pause(_Bare):
    TYPE: ClassVar[str] = "pause"


@dataclass(frozen=True)
class Resume(_Bare):
    TYPE: ClassVar[str] = "resume"


@dataclass(frozen=True)
class Shutdown(_Bare):
    TYPE: ClassVar[str] = "shutdown"


ConsoleMessage = TaskMessage | PersonMessage | Pause | Resume | Shutdown

CONSOLE_MESSAGES: dict[str, type[ConsoleMessage]] = {
    m.TYPE: m for m in (TaskMessage, PersonMessage, Pause, Resume, Shutdown)
}
CONSOLE_TYPES: frozenset[str] = frozenset(CONSOLE_MESSAGES)


# --- reading ------------------------------------------------------------------------------------

M = TypeVar("M")


def _decode(raw: str | bytes | Mapping[str, Any], table: Mapping[str, type[M]], side: str) -> M:
    if isinstance(raw, (str, bytes)):
        try:
            raw = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ProtocolError(f"not a JSON line: {exc}") from None
    if not isinstance(raw, Mapping):
        raise ProtocolError("a protocol line must be a JSON object with a 'type'")
    kind = raw.get("type")
    cls = table.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ProtocolError(f"unknown {side} message type {kind!r}; known: {', '.join(sorted(table))}")
    return cls.from_dict(raw)  # type: ignore[attr-defined, no-any-return]


def parse_agent(raw: str | bytes | Mapping[str, Any]) -> AgentMessage:
    """One agent → console line (or its decoded object) as a typed message."""
    return _decode(raw, AGENT_MESSAGES, "agent")


def parse_console(raw: str | bytes | Mapping[str, Any]) -> ConsoleMessage:
    """One console → agent line (or its decoded object) as a typed message."""
    return _decode(raw, CONSOLE_MESSAGES, "console")


# --- starting an agent --------------------------------------------------------------------------


@dataclass
class AgentLaunch:
    """Who an agent process is: what the supervisor starts it with and what the runner reads.

    The console side (``AgentSpec``) and the agent side (``AgentContext``) both extend it.
    """

    agent_id: str
    role: str
    backend: str
    model: str
    lab_root: Path
    options: dict[str, Any] = field(default_factory=dict)

    def runner_argv(self, heartbeat_s: float) -> list[str]:
        cmd = [
            sys.executable,
            "-m",
            "labconsole.agents.runner",
            "--role",
            self.role,
            "--backend",
            self.backend,
            "--model",
            self.model,
            "--agent-id",
            self.agent_id,
            "--lab-root",
            str(self.lab_root),
            "--heartbeat-s",
            str(heartbeat_s),
        ]
        for key, value in self.options.items():
            cmd += ["--option", f"{key}={json.dumps(value)}"]
        return cmd


def parse_options(pairs: list[str]) -> dict[str, Any]:
    """``--option key=json`` pairs; a value that is not JSON is kept as the plain string."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, _, raw = pair.partition("=")
        try:
            options[key] = json.loads(raw)
        except json.JSONDecodeError:
            options[key] = raw
    return options
