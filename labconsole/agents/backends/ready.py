"""Is a role's backend ready? Said as one line naming the role and what to install or set.

* :func:`check_backend_ready` — the static checks (package, CLI, key, codex's home), made by every
  agent process as it starts; raises :class:`ConfigError`.
* :func:`probe_backend` — runs the real thing once: a tiny request to the configured endpoint, or
  the CLI's own ``--version`` with the HOME and environment the agent will have. Returns a
  :class:`Readiness` whose ``line()`` is the one line per role a session prints before it starts.

No silent fallback to another backend."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
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


def codex_home_for(agent_id: str, options: Mapping[str, Any], env: Mapping[str, str]) -> Path:
    """Where a codex agent's CODEX_HOME will be: ``codex_home``, else a private one in the cache dir."""
    if options.get("codex_home"):
        return Path(str(options["codex_home"])).expanduser()
    # The agent process's own HOME (not the CLI's ``home`` option): that is where it makes the folder.
    home = Path(str(env.get("HOME") or Path.home())).expanduser()
    cache = Path(env.get("XDG_CACHE_HOME") or home / ".cache")
    return cache / "labconsole" / "codex" / f"{agent_id}-{os.getpid()}"


def under_tmp(path: Path) -> bool:
    resolved = path.expanduser().resolve()
    roots = {Path("/tmp").resolve(), Path(tempfile.gettempdir()).resolve()}
    return any(resolved == r or r in resolved.parents for r in roots)


def check_codex_home(role: str, codex_home: Path) -> None:
    """codex will not run its Linux sandbox helper from under /tmp: every command it runs then fails,
    and the worker silently does nothing. Say so before it starts."""
    if sys.platform.startswith("linux") and under_tmp(codex_home):
        raise ConfigError(
            f"role {role} uses backend codex but its CODEX_HOME {codex_home} is under /tmp, where "
            "codex cannot start its sandbox helper and every command would fail: set XDG_CACHE_HOME "
            "(or HOME) to a folder outside /tmp, or pass codex_home for this role"
        )


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
            raise ConfigError(
                f"role {role} uses backend {backend} but the `{backend}` Python package is not "
                f"installed: pip install {backend}"
            )
        key_env = str(
            options.get("api_key_env") or ("ANTHROPIC_API_KEY" if backend == "anthropic" else "OPENAI_API_KEY")
        )
        # A custom OpenAI-compatible base_url (vLLM, Ollama) often needs no key at all.
        keyless = backend == "openai" and (options.get("base_url") or options.get("no_auth"))
        if not env.get(key_env) and not keyless:
            raise ConfigError(
                f"role {role} uses backend {backend} but {key_env} is not set: "
                f"export {key_env}=… (or set api_key_env for this role in lab.toml)"
            )
        return
    name, package = CLI_PACKAGES[backend]
    if find_cli(backend, options) is None:
        where = (
            f"cli_path {options['cli_path']!r} is not an executable"
            if options.get("cli_path")
            else f"`{name}` is not on PATH"
        )
        raise ConfigError(f"role {role} uses backend {backend} but {where}: npm install -g {package}")
    home = Path(str(options.get("home") or env.get("HOME") or "~")).expanduser()
    if backend == "claude-code":
        # macOS keeps a claude login in the Keychain, which we cannot look into: trust it there.
        logged_in = (
            (home / ".claude" / ".credentials.json").is_file()
            or bool(env.get("CLAUDE_CODE_OAUTH_TOKEN"))
            or sys.platform == "darwin"
            or bool(options.get("no_auth"))
        )
        if not (env.get("ANTHROPIC_API_KEY") or env.get("ANTHROPIC_AUTH_TOKEN") or logged_in):
            raise ConfigError(
                f"role {role} uses backend claude-code but no credentials were found: "
                "export ANTHROPIC_API_KEY=… or run `claude` once and log in"
            )
    else:
        key_env = str(options.get("api_key_env") or "OPENAI_API_KEY")
        codex_home = Path(str(options.get("codex_home") or env.get("CODEX_HOME") or home / ".codex")).expanduser()
        logged_in = bool(options.get("codex_home")) and (codex_home / "auth.json").is_file()
        if not (env.get(key_env) or logged_in or options.get("no_auth")):
            raise ConfigError(
                f"role {role} uses backend codex but {key_env} is not set: export {key_env}=… "
                "(or pass codex_home pointing at a logged-in ~/.codex)"
            )
        check_codex_home(role, codex_home_for(role, options, env))


@dataclass(frozen=True)
class Readiness:
    role: str
    backend: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{self.role}: {self.backend} {'ready' if self.ok else 'NOT READY'} — {self.detail}"


def probe_backend(
    role: str, backend: str, options: Mapping[str, Any] | None = None, model: str = "", timeout_s: float = 20.0
) -> Readiness:
    """Run the real thing once (see the module doc); never raises for what the person must fix."""
    options = dict(options or {})
    try:
        check_backend_ready(role, backend, options)
    except ConfigError as exc:
        return Readiness(role, backend, False, str(exc))
    if backend in OFFLINE_BACKENDS:
        return Readiness(role, backend, True, "offline, nothing to reach")
    if backend in CLI_PACKAGES:
        return _probe_cli(role, backend, options, timeout_s)
    return _probe_api(role, backend, options, model, timeout_s)


def _probe_cli(role: str, backend: str, options: Mapping[str, Any], timeout_s: float) -> Readiness:
    exe = find_cli(backend, options) or ""
    env = _env(options)
    if options.get("home"):
        env["HOME"] = str(options["home"])
    try:
        done = subprocess.run(
            [exe, "--version"], env=env, capture_output=True, text=True, timeout=timeout_s, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        return Readiness(
            role,
            backend,
            False,
            f"`{exe} --version` timed out after {timeout_s:.0f} s: reinstall the CLI or check its HOME",
        )
    except OSError as exc:
        return Readiness(role, backend, False, f"`{exe} --version` could not start ({exc.strerror}): reinstall it")
    if done.returncode != 0:
        from labconsole.agents.backends.failures import exit_text

        last = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or [""]
        return Readiness(
            role,
            backend,
            False,
            f"`{exe} --version` failed ({exit_text(done.returncode)}): "
            f"{last[0][:200]} — run it by hand with HOME={env.get('HOME')}",
        )
    return Readiness(role, backend, True, f"{done.stdout.strip().splitlines()[0][:80] if done.stdout.strip() else exe}")


def _probe_api(role: str, backend: str, options: Mapping[str, Any], model: str, timeout_s: float) -> Readiness:
    from labconsole.agents.backends.failures import explain

    env = _env(options)
    base_env = "ANTHROPIC_BASE_URL" if backend == "anthropic" else "OPENAI_BASE_URL"
    key_env = str(options.get("api_key_env") or ("ANTHROPIC_API_KEY" if backend == "anthropic" else "OPENAI_API_KEY"))
    base_url = str(options.get("base_url") or env.get(base_env) or "") or None
    try:
        sdk = __import__(backend)
        client_cls = sdk.Anthropic if backend == "anthropic" else sdk.OpenAI
        client = client_cls(
            api_key=env.get(key_env) or "no-key",
            base_url=base_url,
            max_retries=0,
            timeout=sdk.Timeout(timeout_s, connect=min(timeout_s, 10.0)),
        )
        client.models.list()  # the tiniest request there is: no tokens spent
    except Exception as exc:  # noqa: BLE001 - every failure becomes the line that says what to fix
        said = explain(exc, endpoint=base_url or "the default endpoint", read_timeout_s=timeout_s, key_env=key_env)
        return Readiness(role, backend, False, said.what + (f": {said.fix}" if said.fix else ""))
    return Readiness(
        role, backend, True, f"{base_url or 'the default endpoint'} answered" + (f" (model {model})" if model else "")
    )
