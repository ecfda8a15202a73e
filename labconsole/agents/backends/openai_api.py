"""``openai`` backend: the same tool-use loop over Chat Completions (streaming).

``base_url`` makes any OpenAI-compatible server a backend (vLLM, Ollama, llama.cpp).
Options: ``base_url`` (else ``OPENAI_BASE_URL``), ``api_key_env`` (default
``OPENAI_API_KEY``; a local server without auth may set ``api_key_env`` to any variable
or pass ``no_auth=true``), ``max_tokens``, ``max_retries``, ``connect_timeout_s``, ``read_timeout_s``,
``turn_timeout_s`` (``timeout_s`` is its older name), ``stream``
(default true), ``max_turns``, ``prices``, ``bwrap``.
"""

from __future__ import annotations

import json
from typing import Any

from labconsole.agents.backends.llm_loop import ChatSession, LoopBackend, ModelTurn, ToolCall
from labconsole.agents.backends.pricing import TurnUsage
from labconsole.agents.backends.sdk_session import SessionSetup
from labconsole.agents.backends.tools import ToolResult, ToolSpec


def _usage(u: Any) -> TurnUsage:
    if u is None:
        return TurnUsage()
    details = getattr(u, "prompt_tokens_details", None)
    cached = (getattr(details, "cached_tokens", None) or 0) if details else 0
    # OpenAI's prompt_tokens include the cached ones; ours are disjoint.
    return TurnUsage(
        input_tokens=max((u.prompt_tokens or 0) - cached, 0),
        output_tokens=u.completion_tokens or 0,
        cached_tokens=cached,
    )


def _arguments(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw or "{}")
    except json.JSONDecodeError:
        return {"_unparsable_arguments": raw}
    return value if isinstance(value, dict) else {"_unparsable_arguments": raw}


class OpenAISession:
    def __init__(self, setup: SessionSetup, system: str, user: str, tools: list[ToolSpec], stream: bool) -> None:
        self.client, self.model, self.max_tokens, self.stream = setup.client, setup.model, setup.max_tokens, stream
        self.on_tokens = setup.on_tokens
        self.tools = [
            {"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.schema}}
            for t in tools
        ]
        self.messages: list[dict[str, Any]] = [{"role": "system", "content": system}, {"role": "user", "content": user}]

    def _request(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"model": self.model, "messages": self.messages, "max_tokens": self.max_tokens}
        if self.tools:
            kwargs["tools"] = self.tools
        return kwargs

    def step(self) -> ModelTurn:
        if self.stream:
            text, raw_calls, usage, model, stop = self._streamed()
        else:
            resp = self.client.chat.completions.create(**self._request())
            choice = resp.choices[0]
            text = choice.message.content or ""
            raw_calls = [
                {"id": c.id, "name": c.function.name, "arguments": c.function.arguments}
                for c in choice.message.tool_calls or []
            ]
            usage, model, stop = _usage(resp.usage), resp.model, choice.finish_reason or ""
        assistant: dict[str, Any] = {"role": "assistant", "content": text or None}
        if raw_calls:
            assistant["tool_calls"] = [
                {
                    "id": c["id"],
                    "type": "function",
                    "function": {"name": c["name"], "arguments": c["arguments"] or "{}"},
                }
                for c in raw_calls
            ]
        self.messages.append(assistant)
        calls = [ToolCall(c["id"], c["name"], _arguments(c["arguments"])) for c in raw_calls]
        return ModelTurn(text, calls, usage, model or self.model, stop)

    def _streamed(self) -> tuple[str, list[dict[str, str]], TurnUsage, str, str]:
        stream = self.client.chat.completions.create(
            **self._request(), stream=True, stream_options={"include_usage": True}
        )
        parts: list[str] = []
        calls: dict[int, dict[str, str]] = {}
        usage, model, stop = TurnUsage(), "", ""
        for chunk in stream:
            model = chunk.model or model
            if chunk.usage is not None:
                usage = _usage(chunk.usage)
            for choice in chunk.choices or []:
                delta = choice.delta
                if delta.content or delta.tool_calls:  # liveness is tokens, not keep-alive bytes
                    self.on_tokens()
                if delta.content:
                    parts.append(delta.content)
                for tc in delta.tool_calls or []:  # arguments arrive in pieces, keyed by index
                    slot = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
                    slot["id"] = tc.id or slot["id"]
                    if tc.function is not None:
                        slot["name"] += tc.function.name or ""
                        slot["arguments"] += tc.function.arguments or ""
                stop = choice.finish_reason or stop
        ordered = [calls[i] for i in sorted(calls)]
        for n, c in enumerate(ordered):
            c["id"] = c["id"] or f"call_{n}"
        return "".join(parts), ordered, usage, model, stop

    def add_tool_results(self, results: list[ToolResult]) -> None:
        self.messages.extend({"role": "tool", "tool_call_id": r.call_id, "content": r.content} for r in results)

    def add_user(self, text: str) -> None:
        self.messages.append({"role": "user", "content": text})


class OpenAIBackend(LoopBackend):
    default_model = "gpt-5"
    backend = "openai"
    client_class = "OpenAI"
    missing_key = "no-key"  # the SDK refuses no key; a local OpenAI-compatible server needs none

    def make_session(self, system: str, user: str, tools: list[ToolSpec]) -> ChatSession:
        stream = self.ctx.options.get("stream", True) is not False
        return OpenAISession(SessionSetup.of(self), system, user, tools, stream)
