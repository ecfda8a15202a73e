"""Redaction of what agents emit: :class:`RedactingEmitter` over the console's one redaction.

The redaction itself (key formats, secret env values) is :mod:`labconsole.core.redact`, shared with
measurement runs; the names are re-exported here for the agent side.
"""

from __future__ import annotations

from dataclasses import fields, replace

from labconsole.agents.emitter import Emitter
from labconsole.agents.protocol import AgentMessage
from labconsole.core.redact import (
    KEY_PATTERNS,
    MASK,
    MIN_SECRET_LEN,
    NOT_SECRET_NAMES,
    PREFIXED_PATTERNS,
    SECRET_NAME,
    Redactor,
    redact,
    secret_env_values,
)

__all__ = [
    "KEY_PATTERNS",
    "MASK",
    "MIN_SECRET_LEN",
    "NOT_SECRET_NAMES",
    "PREFIXED_PATTERNS",
    "SECRET_NAME",
    "RedactingEmitter",
    "Redactor",
    "redact",
    "secret_env_values",
]


class RedactingEmitter(Emitter):
    """Wraps an :class:`~labconsole.agents.emitter.Emitter`: every string field of every message
    is redacted before it is written. The named helpers are Emitter's; they all funnel into ``write``."""

    def __init__(self, inner: Emitter, redactor: Redactor) -> None:
        self._inner, self.redactor = inner, redactor

    def write(self, message: AgentMessage) -> None:
        changes = {f.name: self.redactor.value(getattr(message, f.name)) for f in fields(message)}
        self._inner.write(replace(message, **changes))
