"""Agent backends: what thinks inside an agent process.

Each backend is a class built with the agent's context, with ``handle(task, emit)`` (see ``base.Backend``).
Registered lazily by dotted path so that importing the registry never imports
an SDK the lab does not use.
"""

from __future__ import annotations

import importlib

from labconsole.agents.backends.base import Backend
from labconsole.errors import ConfigError

BACKENDS: dict[str, str] = {
    "sweep": "labconsole.agents.backends.sweep:SweepBackend",
    "rules": "labconsole.agents.backends.rules:RulesReviewer",
    "anthropic": "labconsole.agents.backends.anthropic_api:AnthropicBackend",
    "openai": "labconsole.agents.backends.openai_api:OpenAIBackend",
    "claude-code": "labconsole.agents.backends.claude_code:ClaudeCodeBackend",
    "codex": "labconsole.agents.backends.codex:CodexBackend",
}


def load_backend(name: str) -> type[Backend]:
    try:
        target = BACKENDS[name]
    except KeyError:
        raise ConfigError(f"unknown agent backend {name!r}; allowed: {', '.join(sorted(BACKENDS))}") from None
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)
