"""``check_backend_ready``: fail at session start, before any agent starts, with one line
naming the role and what to install or set. No silent fallback to another backend."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from labconsole.errors import ConfigError

CLI_PACKAGES = {"claude-code": ("claude", "@anthropic-ai/claude-code"), "codex": ("codex", "@openai/codex")}
OFFLINE_BACKENDS = frozenset({"sweep", "rules"})


def find_cli(backend: str, options: Mapping[str, Any]) -> str | None:
    """The CLI executable: ``--option cli_path=...`` or the command on PATH."""
    name, _ = CLI_PACKAGES[backend]
    explicit = options.get("cli_path")
    if explicit:
        path = Path(str(explicit)).expanduser()
        return str(path) if path.is_file() and os.access(path, os.X_OK) else None
    return shutil.which(name)


def _env(options: Mapping[str, Any]) -> dict[str, str]:
    """Process env plus the backend's extra ``env`` option (what the CLI will see)."""
    return {**os.environ, **{str(k): str(v) for k, v in dict(options.get("env") or {}).items()}}


def check_backend_ready(role: str, backend: str, options: Mapping[str, Any] | None = None) -> None:
    """Raise :class:`ConfigError` when ``role`` cannot run on ``backend`` here."""
    from labconsole.agents.backends import BACKENDS

    options = options or {}
    if backend not in BACKENDS:
        raise ConfigError(f"role {role}: unknown agent backend {backend!r}; allowed: {', '.join(sorted(BACKENDS))}")
    if backend in OFFLINE_BACKENDS:
        return
    env = _env(options)
    if backend in ("anthropic", "openai"):
        if importlib.util.find_spec(backend) is None:
            raise ConfigError(f"role {role} uses backend {backend} but the `{backend}` Python package is not "
                              f"installed: pip install {backend}")
        key_env = str(options.get("api_key_env") or ("ANTHROPIC_API_KEY" if backend == "anthropic" else "OPENAI_API_KEY"))
        # A custom OpenAI-compatible base_url (vLLM, Ollama) often needs no key at all.
        keyless = backend == "openai" and (options.get("base_url") or options.get("no_auth"))
        if not env.get(key_env) and not keyless:
            raise ConfigError(f"role {role} uses backend {backend} but {key_env} is not set: "
                              f"export {key_env}=… (or set api_key_env for this role in lab.toml)")
        return
    name, package = CLI_PACKAGES[backend]
    if find_cli(backend, options) is None:
        where = f"cli_path {options['cli_path']!r} is not an executable" if options.get("cli_path") else f"`{name}` is not on PATH"
        raise ConfigError(f"role {role} uses backend {backend} but {where}: npm install -g {package}")
    home = Path(str(options.get("home") or env.get("HOME") or "~")).expanduser()
    if backend == "claude-code":
        # macOS keeps a claude login in the Keychain, which we cannot look into: trust it there.
        logged_in = ((home / ".claude" / ".credentials.json").is_file() or bool(env.get("CLAUDE_CODE_OAUTH_TOKEN"))
                     or sys.platform == "darwin" or bool(options.get("no_auth")))
        if not (env.get("ANTHROPIC_API_KEY") or env.get("ANTHROPIC_AUTH_TOKEN") or logged_in):
            raise ConfigError(f"role {role} uses backend claude-code but no credentials were found: "
                              "export ANTHROPIC_API_KEY=… or run `claude` once and log in")
    else:
        key_env = str(options.get("api_key_env") or "OPENAI_API_KEY")
        codex_home = Path(str(options.get("codex_home") or env.get("CODEX_HOME") or home / ".codex")).expanduser()
        logged_in = bool(options.get("codex_home")) and (codex_home / "auth.json").is_file()
        if not (env.get(key_env) or logged_in or options.get("no_auth")):
            raise ConfigError(f"role {role} uses backend codex but {key_env} is not set: export {key_env}=… "
                              "(or pass codex_home pointing at a logged-in ~/.codex)")
