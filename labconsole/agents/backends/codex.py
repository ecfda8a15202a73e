"""``codex`` backend: the real ``codex exec --json`` with a generated ``CODEX_HOME``.

``OPENAI_BASE_URL`` is ignored by codex, so the model endpoint is a custom provider in a
generated ``config.toml`` (``base_url`` option, default the OpenAI API; key from
``api_key_env``, default ``OPENAI_API_KEY``). Pass ``codex_home`` to use an existing,
logged-in codex home instead. Workers run in codex's ``workspace-write`` sandbox with
``/tmp`` excluded and no network; other roles in ``read-only``.

Options: ``cli_path``, ``base_url``, ``api_key_env``, ``codex_home``, ``home``, ``env``,
``max_retries``, ``timeout_s``, ``prices``.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
from pathlib import Path

from labconsole.agents.backends.base import AgentContext, Task
from labconsole.agents.backends.cli_backend import CliBackend
from labconsole.agents.backends.cli_events import CodexTranslator
from labconsole.agents.backends.meter import UsageMeter
from labconsole.agents.backends.ready import codex_home_for
from labconsole.agents.emitter import Emitter
from labconsole.agents.sandbox import Workspace
from labconsole.errors import ConfigError


def _toml(value: object) -> str:
    return json.dumps(value)  # JSON strings, numbers and booleans are valid TOML values


class CodexBackend(CliBackend):
    backend = "codex"
    default_model = "gpt-5.5"

    def __init__(self, ctx: AgentContext) -> None:
        super().__init__(ctx)
        given = ctx.options.get("codex_home")
        self.codex_home = Path(str(given)).expanduser() if given else self._private_home()
        if not given:
            (self.codex_home / "config.toml").write_text(self.config_toml())

    def _private_home(self) -> Path:
        """A fresh CODEX_HOME for this agent process, *not* under /tmp: codex refuses to put the
        helper it runs its bubblewrap sandbox with under a temporary dir, and every command then fails
        (the readiness check refuses such a home; there is no silent fallback to one)."""
        path = codex_home_for(self.ctx.agent_id, {}, os.environ)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"role {self.ctx.role} uses backend codex but its CODEX_HOME {path} cannot be "
                f"created ({exc.strerror}): set XDG_CACHE_HOME to a writable folder outside /tmp"
            ) from None
        atexit.register(shutil.rmtree, path, True)
        return path

    def config_toml(self) -> str:
        o = self.ctx.options
        retries = int(o.get("max_retries", 2))
        return "\n".join(
            [
                f"model = {_toml(self.model)}",
                'model_provider = "labconsole"',
                "[model_providers.labconsole]",
                'name = "labconsole"',
                f"base_url = {_toml(str(o.get('base_url') or 'https://api.openai.com/v1'))}",
                'wire_api = "responses"',
                f"env_key = {_toml(str(o.get('api_key_env') or 'OPENAI_API_KEY'))}",
                f"request_max_retries = {retries}",
                f"stream_max_retries = {retries}",
                "[sandbox_workspace_write]",  # the worktree only: not /tmp, no network
                "exclude_slash_tmp = true",
                "exclude_tmpdir_env_var = true",
                "network_access = false",
                "[analytics]",
                "enabled = false",  # else a ~5 s stall at exit
                "[features]",
                "plugins = false",
                "unbounded_connection_retries = false",  # else a dead server means retrying forever
                "",
            ]
        )

    def prompt(self, task: Task) -> str:
        # codex exec has no system-prompt flag: the role prompt leads the message.
        return f"{self.role_prompt()}\n---\n\n{super().prompt(task)}"

    def argv(self, prompt: str, ws: Workspace, resume: str | None) -> list[str]:
        sandbox = "workspace-write" if ws.writable else "read-only"
        head = [self.exe, "exec"] + (["resume", resume] if resume else [])
        flags = ["--json", "--skip-git-repo-check", "--model", self.model]
        if not resume:  # resume takes the sandbox of the session it resumes
            flags += ["--sandbox", sandbox]
        else:
            flags += ["-c", f"sandbox_mode={_toml(sandbox)}"]
        return head + flags + [prompt]

    def credential_env(self) -> list[str]:
        return [str(self.ctx.options.get("api_key_env") or "OPENAI_API_KEY")]

    def config_dirs(self) -> list[Path]:
        return [self.codex_home]

    def env(self) -> dict[str, str]:
        env = super().env()
        env["CODEX_HOME"] = str(self.codex_home)
        return env

    def translator(self, emit: Emitter, meter: UsageMeter) -> CodexTranslator:
        return CodexTranslator(emit, meter)
