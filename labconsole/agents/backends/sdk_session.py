"""What every SDK chat session is opened with, read once from the backend that opens it.

The Anthropic and OpenAI sessions differ in their wire format, not in what they are given: the
client, the model, the turn's token limit and the liveness hook that each streamed token calls.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from labconsole.agents.backends.llm_loop import LoopBackend

DEFAULT_MAX_TOKENS = 8192


@dataclass(frozen=True)
class SessionSetup:
    client: Any
    model: str
    max_tokens: int = DEFAULT_MAX_TOKENS
    on_tokens: Callable[[], None] = lambda: None

    @classmethod
    def of(cls, backend: LoopBackend) -> SessionSetup:
        """The backend's client and model, its ``max_tokens`` option, and its liveness as the token hook."""
        max_tokens = int(backend.ctx.options.get("max_tokens", DEFAULT_MAX_TOKENS))
        return cls(backend.client, backend.model, max_tokens, backend.ctx.liveness.tokens)
