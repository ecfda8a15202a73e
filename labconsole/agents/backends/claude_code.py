"""``claude-code`` backend: the real ``claude`` CLI in print mode with stream-json events.

Options: ``cli_path``, ``env`` (extra environment, e.g. ``ANTHROPIC_BASE_URL``), ``home``,
``permission_mode``, ``max_turns``, ``timeout_s``, ``prices``.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

from labconsole.agents.backends.claude_hook import workspace_to_json
from labconsole.agents.backends.cli_backend import CliBackend
from labconsole.agents.backends.cli_events import ClaudeTranslator
from labconsole.agents.backends.meter import UsageMeter
from labconsole.agents.emitter import Emitter
from labconsole.agents.sandbox import Workspace

# Our tool names → Claude Code's.
TOOL_MAP = {
    "read_file": ["Read"],
    "list_files": ["Glob"],
    "search": ["Grep"],
    "write_file": ["Write"],
    "edit_file": ["Edit", "MultiEdit"],
    "run_command": ["Bash"],
}
ALWAYS_DENIED = ["WebFetch", "WebSearch", "Task", "NotebookEdit"]
PACKAGE_ROOT = Path(__file__).resolve().parents[3]  # for the hook's `python -m` when not installed


class ClaudeCodeBackend(CliBackend):
    backend = "claude-code"
    default_model = "claude-sonnet-4-6"

    def allowed_tools(self, ws: Workspace) -> list[str]:
        tools = []
        for name in self.spec.tools:
            if name in ("write_file", "edit_file") and not (ws.writable or ws.write_files):
                continue
            tools += TOOL_MAP.get(name, [])
        return tools

    def _hook_settings(self, ws: Workspace) -> str:
        policy = self.scratch / "policy.json"
        policy.write_text(json.dumps(workspace_to_json(ws)))
        command = (
            f"PYTHONPATH={shlex.quote(str(PACKAGE_ROOT))}${{PYTHONPATH:+:$PYTHONPATH}} "
            f"{shlex.quote(sys.executable)} -m labconsole.agents.backends.claude_hook {shlex.quote(str(policy))}"
        )
        return json.dumps(
            {"hooks": {"PreToolUse": [{"matcher": "*", "hooks": [{"type": "command", "command": command}]}]}}
        )

    def argv(self, prompt: str, ws: Workspace, resume: str | None) -> list[str]:
        mode = (
            self.ctx.options.get("permission_mode")
            or self.spec.permission_mode
            or ("acceptEdits" if ws.writable or ws.write_files else "default")
        )
        argv = [
            self.exe,
            "-p",
            prompt,
            "--output-format",
            "stream-json",
            "--verbose",
            "--include-partial-messages",
            "--model",
            self.model,
            "--permission-mode",
            str(mode),
            "--allowedTools",
            ",".join(self.allowed_tools(ws)),
            "--disallowedTools",
            ",".join(ALWAYS_DENIED),
            "--append-system-prompt",
            self.role_prompt(),
            "--settings",
            self._hook_settings(ws),
        ]
        max_turns = self.ctx.options.get("max_turns") or self.spec.max_turns
        if max_turns:
            argv += ["--max-turns", str(max_turns)]
        if resume:
            argv += ["--resume", resume]
        return argv

    def credential_env(self) -> list[str]:
        return ["ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN", "ANTHROPIC_BASE_URL"]

    def env(self) -> dict[str, str]:
        env = super().env()
        # No update checks or telemetry: the only traffic is the model API.
        env.setdefault("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        return env

    def translator(self, emit: Emitter, meter: UsageMeter) -> ClaudeTranslator:
        return ClaudeTranslator(emit, meter)
