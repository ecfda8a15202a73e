"""The person's commands to a lab, one dataclass each; the control channel's wire format is derived from them.

A TUI key, a CLI verb and a request over the control socket all become one of these and go through
``Lab.execute``. Requests from the socket are outside input: :func:`from_wire` checks the command name
and every field's type against the dataclass before anything runs.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Union

from labconsole.errors import LabError


@dataclass(frozen=True)
class Approve:
    """Approve the measured commit; with reviewer flags, ``confirm_flags`` must be True. A candidate whose
    changes are flagged (outside-editable, changes-lab-rules, …) needs each flag named in ``overrides``
    and a ``reason``."""

    name: ClassVar[str] = "approve"
    hyp_id: str
    who: str | None = None
    reason: str = ""
    confirm_flags: bool = True
    overrides: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Reject:
    name: ClassVar[str] = "reject"
    hyp_id: str
    who: str | None = None
    reason: str = ""


@dataclass(frozen=True)
class Merge:
    name: ClassVar[str] = "merge"
    hyp_id: str
    who: str | None = None
    confirm_rules_change: bool = False  # the person saw what the candidate changes in the lab's rules


@dataclass(frozen=True)
class Remeasure:
    name: ClassVar[str] = "remeasure"
    hyp_id: str


@dataclass(frozen=True)
class AgentControl:
    name: ClassVar[str] = "agent_control"
    agent_id: str
    action: str  # pause | resume | stop | restart (checked by the Lab, which names the allowed ones)
    who: str | None = None


@dataclass(frozen=True)
class SendMessage:
    name: ClassVar[str] = "send_message"
    agent_id: str
    text: str
    who: str | None = None


@dataclass(frozen=True)
class ResumeAfterBudget:
    name: ClassVar[str] = "resume_after_budget"
    who: str | None = None


@dataclass(frozen=True)
class ProposeExternal:
    """Hypotheses from outside the agents. ``evidence_blobs`` keys are indexes into ``hypotheses``
    (strings once they crossed the socket); values are the blob's bytes or text."""

    name: ClassVar[str] = "propose_external"
    hypotheses: list[dict[str, Any]]
    actor: str
    evidence_blobs: Mapping[Any, bytes | str] | None = None


@dataclass(frozen=True)
class Ping:
    """Is the console that holds the session alive? Answers its session id and pid."""

    name: ClassVar[str] = "ping"


@dataclass(frozen=True)
class Stop:
    """Stop the agents of this console. Local only: a console attached from elsewhere never stops a session."""

    name: ClassVar[str] = "stop"
    stop_agents: bool = True
    reason: str = "stopped by the person"


Command = (
    Approve
    | Reject
    | Merge
    | Remeasure
    | AgentControl
    | SendMessage
    | ResumeAfterBudget
    | ProposeExternal
    | Ping
    | Stop
)

# What the control socket accepts, by wire name (Stop is missing on purpose: see its docstring).
REMOTE_COMMANDS: dict[str, type[Command]] = {
    cls.name: cls
    for cls in (Approve, Reject, Merge, Remeasure, AgentControl, SendMessage, ResumeAfterBudget, ProposeExternal, Ping)
}


class CommandError(LabError):
    """A request that names no command, or whose fields do not fit it."""


def to_wire(command: Command) -> dict[str, Any]:
    """``{"cmd": name, "args": {field: value}}``; blob bytes become text and their keys strings (JSON)."""
    args = {f.name: getattr(command, f.name) for f in dataclasses.fields(command)}
    if isinstance(command, ProposeExternal) and command.evidence_blobs is not None:
        args["evidence_blobs"] = {
            str(k): (v.decode() if isinstance(v, bytes) else v) for k, v in command.evidence_blobs.items()
        }
    return {"cmd": command.name, "args": args}


def from_wire(request: object) -> Command:
    """The command a request names, its fields checked against the dataclass. Raises CommandError."""
    if not isinstance(request, dict) or not isinstance(request.get("cmd"), str):
        raise CommandError('a request is one JSON object {"cmd": <name>, "args": {...}}')
    name = request["cmd"]
    cls = REMOTE_COMMANDS.get(name)
    if cls is None:
        raise CommandError(f"unknown command {name!r}; allowed: {', '.join(REMOTE_COMMANDS)}")
    args = request.get("args", {})
    if not isinstance(args, dict):
        raise CommandError(f"{name}: args must be an object")
    return build(cls, args)


def build(cls: type[Command], args: Mapping[str, Any]) -> Command:
    """``cls(**args)`` after checking that every argument is a field of ``cls`` of the right type."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(args) - set(fields))
    if unknown:
        raise CommandError(f"{cls.name}: unknown argument {unknown[0]!r}; allowed: {', '.join(fields) or 'none'}")
    for key, f in fields.items():
        if key not in args:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise CommandError(f"{cls.name}: missing argument {key!r}")
            continue
        if not _fits(args[key], hints[key]):
            raise CommandError(f"{cls.name}: {key} must be {_describe(hints[key])}, not {type(args[key]).__name__}")
    return cls(**args)


def _fits(value: object, hint: Any) -> bool:
    """A shallow-but-complete type check for the few shapes command fields use."""
    if hint is Any:
        return True
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        return any(_fits(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint in (str, bytes):
        return isinstance(value, hint)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is list:
        (item,) = typing.get_args(hint)
        return isinstance(value, list) and all(_fits(v, item) for v in value)
    if origin in (dict, Mapping):
        key_hint, value_hint = typing.get_args(hint)
        return isinstance(value, dict) and all(_fits(k, key_hint) and _fits(v, value_hint) for k, v in value.items())
    return False


def _describe(hint: Any) -> str:
    """``str``, ``str | None``, ``list[dict[str, Any]]``: the type as it is written in the dataclass."""
    if isinstance(hint, type) and not typing.get_args(hint):
        return hint.__name__
    return str(hint).replace("typing.", "").replace("collections.abc.", "")
