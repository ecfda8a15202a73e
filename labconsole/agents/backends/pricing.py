"""Dollar cost of a turn: a per-model price table (USD per million tokens), overridable.

Override with ``--option prices={"my-model": {"input": 1, "output": 2}}`` or a lab's
``[prices]`` table, which the Lab passes through the same option. Unknown models cost
0 and say so once in the log, rather than guessing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from labconsole.core.usage import Usage


@dataclass(frozen=True)
class Price:
    input: float
    output: float
    cache_read: float | None = None  # None: 10% of input (Anthropic's cache-read rate)
    cache_write: float | None = None  # None: 125% of input (Anthropic's 5-minute cache write)

    def cost(self, usage: TurnUsage) -> float:
        cache_read = self.input * 0.1 if self.cache_read is None else self.cache_read
        cache_write = self.input * 1.25 if self.cache_write is None else self.cache_write
        return (
            usage.input_tokens * self.input
            + usage.output_tokens * self.output
            + usage.cached_tokens * cache_read
            + usage.cache_write_tokens * cache_write
        ) / 1_000_000


@dataclass
class TurnUsage(Usage):
    """Tokens of one model call: the shared :class:`Usage` plus cache writes, which are priced apart.

    ``input_tokens`` excludes cached reads and cache writes."""

    cache_write_tokens: int = 0

    def __iadd__(self, other: Usage) -> TurnUsage:
        # Usage adds field by field, cache writes included; restated only so the sum stays a TurnUsage.
        super().__iadd__(other)
        return self


# Public list prices (USD / 1M tokens). Keys are model-name prefixes; the longest match wins.
DEFAULT_PRICES: dict[str, Price] = {
    "claude-opus-4-5": Price(5.0, 25.0),
    "claude-opus-4": Price(15.0, 75.0),
    "claude-sonnet-4": Price(3.0, 15.0),
    "claude-3-7-sonnet": Price(3.0, 15.0),
    "claude-3-5-sonnet": Price(3.0, 15.0),
    "claude-haiku-4": Price(1.0, 5.0),
    "claude-3-5-haiku": Price(0.8, 4.0),
    "gpt-5": Price(1.25, 10.0, cache_read=0.125, cache_write=0.0),
    "gpt-5-mini": Price(0.25, 2.0, cache_read=0.025, cache_write=0.0),
    "gpt-4.1": Price(2.0, 8.0, cache_read=0.5, cache_write=0.0),
    "gpt-4.1-mini": Price(0.4, 1.6, cache_read=0.1, cache_write=0.0),
    "gpt-4o": Price(2.5, 10.0, cache_read=1.25, cache_write=0.0),
    "gpt-4o-mini": Price(0.15, 0.6, cache_read=0.075, cache_write=0.0),
    "o3": Price(2.0, 8.0, cache_read=0.5, cache_write=0.0),
    "o4-mini": Price(1.1, 4.4, cache_read=0.275, cache_write=0.0),
}


def _price(value: Any, name: str) -> Price:
    if isinstance(value, Price):
        return value
    if isinstance(value, Mapping) and "input" in value and "output" in value:
        try:
            return Price(
                float(value["input"]),
                float(value["output"]),
                None if value.get("cache_read") is None else float(value["cache_read"]),
                None if value.get("cache_write") is None else float(value["cache_write"]),
            )
        except (TypeError, ValueError):
            pass
    raise ValueError(
        f"price for model {name!r} must be {{input, output[, cache_read, cache_write]}} "
        f"in USD per million tokens, got {value!r}"
    )


class PriceTable:
    def __init__(self, overrides: Mapping[str, Any] | None = None) -> None:
        self._prices = dict(DEFAULT_PRICES)
        for name, value in (overrides or {}).items():
            self._prices[name] = _price(value, name)

    def lookup(self, model: str) -> Price | None:
        if model in self._prices:
            return self._prices[model]
        matches = [k for k in self._prices if model.startswith(k)]
        return self._prices[max(matches, key=len)] if matches else None

    def cost(self, model: str, usage: TurnUsage) -> float | None:
        """USD for ``usage`` on ``model``, or ``None`` when the model has no price."""
        price = self.lookup(model)
        return None if price is None else round(price.cost(usage), 8)
