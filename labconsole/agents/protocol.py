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
from collections.abc import Callable, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
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


def _opt_str(data: Mapping[str, Any], kind: str, key: str, default: Any = None) -> str | None:
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


def _opt_number(data: Mapping[str, Any], kind: str, key: str, default: Any = None) -> float | None:
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


def _str_list(data: Mapping[str, Any], kind: str, key: str, default: Any = _MISSING) -> list[str]:
    value = _get(data, kind, key, default)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ProtocolError(f"{kind}: field {key!r} must be a list of strings")
    return list(value)


# A field's reader by its annotation (the module's annotations are strings: ``from __future__``).
_READERS: dict[str, Callable[[Mapping[str, Any], str, str, Any], Any]] = {
    "str": _str,
    "str | None": _opt_str,
    "float": _number,
    "float | None": _opt_number,
    "int": _int,
    "bool": _bool,
    "dict[str, Any]": _object,
    "list[str]": _str_list,
}


# Field marks, as dataclass ``field(metadata=...)``: what reading a field checks beyond its type.
def choices(allowed: tuple[str, ...]) -> dict[str, Any]:
    """A string field whose value must be one of ``allowed``."""
    return {"choices": allowed}


def wire_default(value: Any) -> dict[str, Any]:
    """A field code must give but the wire may leave out (it then reads as ``value``)."""
    return {"wire_default": value}


# A field the sender must always send, though code that builds the message may leave it out.
REQUIRED_ON_WIRE: dict[str, Any] = {"required": True}
# A field whose ``null`` on the wire reads as its default (not as a wrong type).
NULL_IS_DEFAULT: dict[str, Any] = {"null_is_default": True}


def _read_field(data: Mapping[str, Any], kind: str, f: Field[Any]) -> Any:
    default = f.default
    if f.default_factory is not MISSING:
        default = f.default_factory()
    if default is MISSING or f.metadata.get("required"):
        default = f.metadata.get("wire_default", _MISSING)
    if f.metadata.get("null_is_default") and data.get(f.name) is None:
        return default
    if "choices" in f.metadata:
        return _choice(data, kind, f.name, f.metadata["choices"], default)
    return _READERS[str(f.type)](data, kind, f.name, default)


class _Message:
    """Shared serialisation: ``{"type": TYPE, <fields in declaration order>}``; reading checks each
    field by its annotation and its marks (``choices``, ``wire_default``, ...)."""

    TYPE: ClassVar[str]

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.TYPE, **{f.name: getattr(self, f.name) for f in fields(self)}}  # type: ignore[arg-type]

    def to_json(self) -> str:
        # default=str: a stray Path or datetime in a payload is sent as text rather than failing the agent.
        return json.dumps(self.to_dict(), separators=(",", ":"), default=str)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Self:
        return cls(**{f.name: _read_field(d, cls.TYPE, f) for f in fields(cls)})  # type: ignore[arg-type]


class _Bare(_Message):
    """A message that is its type alone (pause, resume, shutdown)."""


# --- agent → console ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Hello(_Message):
    TYPE: ClassVar[str] = "hello"
    role: str
    backend: str
    model: str = ""
    protocol: int = field(default=PROTOCOL_VERSION, metadata=REQUIRED_ON_WIRE)


@dataclass(frozen=True)
class Heartbeat(_Message):
    """The process is alive; ``waiting_s``: how long its model call in progress has sent no token
    (0 when none is) — the supervisor calls the agent stalled past its limit."""

    TYPE: ClassVar[str] = "heartbeat"
    waiting_s: float = 0.0


@dataclass(frozen=True)
class Status(_Message):
    TYPE: ClassVar[str] = "status"
    state: str = field(metadata=choices(STATUS_STATES))
    hypothesis: str | None = None
    detail: str = field(default="", metadata=NULL_IS_DEFAULT)


@dataclass(frozen=True)
class Log(_Message):
    TYPE: ClassVar[str] = "log"
    text: str
    level: str = field(default="info", metadata=choices(LOG_LEVELS))


@dataclass(frozen=True)
class ToolCall(_Message):
    TYPE: ClassVar[str] = "tool_call"
    tool: str
    input: str = field(metadata=wire_default(""))  # a short summary, not the full arguments
    ok: bool = True
    error: str | None = None


@dataclass(frozen=True)
class Proposal(_Message):
    TYPE: ClassVar[str] = "proposal"
    title: str
    params: dict[str, Any]
    rationale: str
    source: str
    priority: float | None = None


@dataclass(frozen=True)
class Plan(_Message):
    TYPE: ClassVar[str] = "plan"
    hypothesis: str
    decision: str = field(metadata=choices(PLAN_DECISIONS))
    priority: float | None = None
    of: str | None = None
    similarity: float | None = None


@dataclass(frozen=True)
class Commit(_Message):
    TYPE: ClassVar[str] = "commit"
    hypothesis: str
    sha: str
    message: str = field(metadata=wire_default(""))


@dataclass(frozen=True)
class Verdict(_Message):
    TYPE: ClassVar[str] = "verdict"
    hypothesis: str
    verdict: str = field(metadata=choices(VERDICTS))
    reasons: list[str]


@dataclass(frozen=True)
class Report(_Message):
    TYPE: ClassVar[str] = "report"
    path: str


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
        usage = Usage(**{f.name: _read_field(d, t, f) for f in fields(Usage)})
        if min(usage.as_dict().values()) < 0:
            raise ProtocolError("usage: counts and cost_usd must not be negative")
        return cls(usage=usage, model=_str(d, t, "model", "") if d.get("model") is not None else "")


@dataclass(frozen=True)
class Done(_Message):
    TYPE: ClassVar[str] = "done"
    task: str
    summary: str = field(default="", metadata=NULL_IS_DEFAULT)


@dataclass(frozen=True)
class Error(_Message):
    TYPE: ClassVar[str] = "error"
    message: str
    task: str | None = None
    fatal: bool = False  # the agent is about to exit
    infra: bool = False  # the machinery failed (model server, key, CLI), not the agent's work


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
    text: str = field(metadata=wire_default(""))


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


def _check_readable(messages: list[type[Any]]) -> None:
    """At import: every field the shared ``from_dict`` reads has a reader, so a new field type fails here
    (naming the message and field) rather than on the first line an agent sends."""
    for message in messages:
        if "from_dict" in vars(message):  # it reads its own fields
            continue
        for f in fields(message):
            if "choices" not in f.metadata and str(f.type) not in _READERS:
                raise TypeError(f"{message.__name__}.{f.name}: no protocol reader for {f.type!r}; add one to _READERS")


_check_readable([*AGENT_MESSAGES.values(), *CONSOLE_MESSAGES.values()])


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
