"""One shape for what agent work costs: tokens, dollars, tool calls and repair attempts.

Agents report it (protocol ``usage`` messages), the reducer sums it per agent and role, and the
eval runner records it per attempt and per cell. Everyone adds with ``+=`` and reads ``tokens``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: float = 0.0
    tool_calls: int = 0
    repair_attempts: int = 0

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __iadd__(self, other: Usage) -> Usage:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Usage:
        """Reads the usage fields of an event's data (or any dict); other keys are ignored."""
        out = cls()
        for f in fields(cls):
            value = data.get(f.name)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                setattr(out, f.name, type(getattr(out, f.name))(value))
        return out
