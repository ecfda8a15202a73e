"""``anthropic`` backend: the Messages API tool-use loop, streaming, with prompt caching.

Options (``--option k=json``): ``base_url`` (else ``ANTHROPIC_BASE_URL``), ``api_key_env``
(default ``ANTHROPIC_API_KEY``), ``max_tokens``, ``max_retries``, ``connect_timeout_s``,
``read_timeout_s``, ``turn_timeout_s`` (``timeout_s`` is its older name),
``max_turns``, ``prices``, ``bwrap`` (false = path policy only).
"""

from __future__ import annotations

from typing import Any

from labconsole.agents.backends.llm_loop import ChatSession, LoopBackend, ModelTurn, ToolCall
from labconsole.agents.backends.pricing import TurnUsage
from labconsole.agents.backends.sdk_session import SessionSetup
from labconsole.agents.backends.tools import ToolResult, ToolSpec

EPHEMERAL = {"type": "ephemeral"}


class AnthropicSession:
    def __init__(self, setup: SessionSetup, system: str, user: str, tools: list[ToolSpec]) -> None:
        self.client, self.model, self.max_tokens = setup.client, setup.model, setup.max_tokens
        self.on_tokens = setup.on_tokens
        # Cache breakpoints on the system prompt and the last tool: the stable prefix of every
        # call is then read from the cache (10% of the input price) after the first turn.
        self.system = [{"type": "text", "text": system, "cache_control": EPHEMERAL}]
        self.tools = [{"name": t.name, "description": t.description, "input_schema": t.schema} for t in tools]
        if self.tools:
            self.tools[-1]["cache_control"] = EPHEMERAL
        self.messages: list[dict[str, Any]] = [{"role": "user", "content": [{"type": "text", "text": user}]}]

    def step(self) -> ModelTurn:
        kwargs: dict[str, Any] = {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "system": self.system,
            "messages": self.messages,
        }
        if self.tools:
            kwargs["tools"] = self.tools
        with self.client.messages.stream(**kwargs) as stream:
            for event in stream:
                if event.type in ("content_block_start", "content_block_delta"):  # tokens, not pings
                    self.on_tokens()
            message = stream.get_final_message()
        content: list[dict[str, Any]] = []
        texts, calls = [], []
        for block in message.content:
            if block.type == "text":
                texts.append(block.text)
                content.append({"type": "text", "text": block.text})
            elif block.type == "tool_use":
                calls.append(ToolCall(block.id, block.name, dict(block.input or {})))
                content.append({"type": "tool_use", "id": block.id, "name": block.name, "input": block.input})
        self.messages.append({"role": "assistant", "content": content or [{"type": "text", "text": "(no output)"}]})
        u = message.usage
        usage = TurnUsage(
            input_tokens=u.input_tokens or 0,
            output_tokens=u.output_tokens or 0,
            cached_tokens=getattr(u, "cache_read_input_tokens", None) or 0,
            cache_write_tokens=getattr(u, "cache_creation_input_tokens", None) or 0,
        )
        return ModelTurn("\n".join(texts), calls, usage, message.model or self.model, message.stop_reason or "")

    def _user_content(self) -> list[dict[str, Any]]:
        if self.messages[-1]["role"] != "user":
            self.messages.append({"role": "user", "content": []})
        return self.messages[-1]["content"]

    def add_tool_results(self, results: list[ToolResult]) -> None:
        self._user_content().extend(
            {"type": "tool_result", "tool_use_id": r.call_id, "content": r.content, "is_error": not r.ok}
            for r in results
        )

    def add_user(self, text: str) -> None:
        self._user_content().append({"type": "text", "text": text})


class AnthropicBackend(LoopBackend):
    default_model = "claude-sonnet-4-6"
    backend = "anthropic"
    client_class = "Anthropic"

    def make_session(self, system: str, user: str, tools: list[ToolSpec]) -> ChatSession:
        return AnthropicSession(SessionSetup.of(self), system, user, tools)
