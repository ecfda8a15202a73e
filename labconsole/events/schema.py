"""How an event kind is declared, and the check every append makes against its declaration.

A kind is declared once, in :mod:`labconsole.events.kinds`, as a TypedDict whose keys
are the event's ``data`` keys (required unless marked ``NotRequired``) plus a
:class:`KindSpec` registered in one table.
The writer (:class:`~labconsole.events.log.EventLog`) refuses data that does not fit, so
a typo in a kind or a field name fails at the first append instead of writing an event
no reader understands. Replay and audit read the same table.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, is_typeddict

from labconsole.errors import LabError

# The two logs that use the event-log format: a lab session's, and an eval run's results.
SESSION_LOG = "session"
EVAL_LOG = "eval"


class EventSchemaError(LabError):
    """An append whose kind is not declared or whose data does not fit the kind's declaration."""


@dataclass(frozen=True)
class KindSpec:
    kind: str
    fields: type  # the TypedDict that declares the data keys and their types
    version: int  # bump when a field changes meaning; add fields as optional so old logs stay valid
    required: frozenset[str]
    optional: frozenset[str]
    open: bool  # undeclared fields allowed: the data carries an agent's message as it came
    durable: bool  # fsynced before append returns (docs/DESIGN.md §2)
    decision: bool  # a decision point: replay's {/} jumps stop here
    logs: frozenset[str]  # which logs may hold it

    @property
    def declared(self) -> frozenset[str]:
        return self.required | self.optional

    def check(self, data: Mapping[str, Any]) -> None:
        """Raise :class:`EventSchemaError` naming what is wrong with ``data`` for this kind."""
        missing = sorted(self.required - data.keys())
        if missing:
            raise EventSchemaError(
                f"event {self.kind}: missing required field(s) {', '.join(missing)} "
                f"(declared in labconsole/events/kinds.py as {self.fields.__name__})"
            )
        if not self.open:
            extra = sorted(str(k) for k in data.keys() - self.declared)
            if extra:
                raise EventSchemaError(
                    f"event {self.kind}: undeclared field(s) {', '.join(extra)}; declare them "
                    f"in {self.fields.__name__} (labconsole/events/kinds.py) or fix the name"
                )


class KindTable(Mapping[str, KindSpec]):
    """Every declared kind by name, and the reverse map from declaring dataclass to kind."""

    def __init__(self) -> None:
        self._specs: dict[str, KindSpec] = {}
        self._declared: set[type] = set()  # each TypedDict declares one kind

    def declare(
        self,
        kind: str,
        fields: type,
        *,
        version: int = 1,
        open: bool = False,
        durable: bool = False,
        decision: bool = False,
        logs: Iterable[str] = (SESSION_LOG,),
    ) -> str:
        """Register ``kind`` with its fields TypedDict; returns the kind string for the module constant."""
        if kind in self._specs:
            raise ValueError(f"event kind {kind} is declared twice")
        if not is_typeddict(fields) or fields in self._declared:
            raise TypeError(f"{fields!r} must be a TypedDict that declares no other kind")
        declared: Any = fields  # a TypedDict (checked above): its key sets, inherited field groups included
        required, optional = frozenset(declared.__required_keys__), frozenset(declared.__optional_keys__)
        spec = KindSpec(kind, fields, version, required, optional, open, durable, decision, frozenset(logs))
        self._specs[kind] = spec
        self._declared.add(fields)
        return kind

    def __getitem__(self, kind: str) -> KindSpec:
        return self._specs[kind]

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def for_log(self, log: str) -> dict[str, KindSpec]:
        return {k: s for k, s in self._specs.items() if log in s.logs}


def check_event(table: Mapping[str, KindSpec], kind: str, data: Mapping[str, Any], *, log: str | None) -> None:
    """The append-time check: ``kind`` is declared (for ``log``, unless None) and ``data`` fits its declaration."""
    spec = table.get(kind)
    if spec is None or (log is not None and log not in spec.logs):
        where = f" for the {log} log" if log is not None else ""
        raise EventSchemaError(
            f"event kind {kind!r} is not declared{where}: declare it in labconsole/events/kinds.py or fix the name"
        )
    if not isinstance(data, Mapping):
        raise EventSchemaError(f"event {kind}: data must be a JSON object, got {type(data).__name__}")
    spec.check(data)


def data_of(spec: KindSpec, fields: Mapping[str, Any]) -> dict[str, Any]:
    """An event's ``data`` from its typed fields: optional keys given as None are omitted (absent, as in old logs)."""
    return {k: v for k, v in fields.items() if v is not None or k not in spec.optional}


__all__ = ["EVAL_LOG", "SESSION_LOG", "EventSchemaError", "KindSpec", "KindTable", "check_event", "data_of"]
