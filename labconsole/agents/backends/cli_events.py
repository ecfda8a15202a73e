"""Running an agent CLI and translating its JSON event stream into our protocol.

* :func:`run_cli` — start the CLI (stdin closed, own process group), feed each stdout line
  to a translator, pause it with SIGSTOP/SIGCONT when the console pauses the agent, stop it
  on shutdown or timeout.
* :class:`ClaudeTranslator` — ``claude -p --output-format stream-json --verbose
  --include-partial-messages`` events (system/init, stream_event, assistant, user, result).
* :class:`CodexTranslator` — ``codex exec --json`` events (thread/turn/item.*).

Both turn tool uses into ``tool_call`` events (with our tool names), text into ``log``,
token counts into per-turn ``usage`` through the shared :class:`UsageMeter`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labconsole.agents.backends.base import AgentContext
from labconsole.agents.backends.meter import UsageMeter
from labconsole.agents.backends.pricing import TurnUsage
from labconsole.agents.emitter import Emitter

# The CLIs' tool names → ours, so the TUI and the repair counter see one vocabulary.
CLAUDE_TOOLS = {"Bash": "run_command", "Read": "read_file", "Write": "write_file", "Edit": "edit_file",
                "MultiEdit": "edit_file", "NotebookEdit": "edit_file", "Grep": "search", "Glob": "list_files",
                "LS": "list_files"}


def _summary(inp: Any) -> str:
    if isinstance(inp, dict):
        for key in ("command", "file_path", "notebook_path", "pattern", "path", "url", "query"):
            if isinstance(inp.get(key), str):
                return inp[key]
        return json.dumps(inp, sort_keys=True)[:200]
    return str(inp)[:200]


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(b.get("text", "") for b in content if isinstance(b, dict))
    return ""


@dataclass
class CliOutcome:
    final_text: str = ""
    session_id: str = ""
    error: str = ""          # the CLI said the run failed
    returncode: int | None = None
    stderr_tail: str = ""


@dataclass
class ClaudeTranslator:
    emit: Emitter
    meter: UsageMeter
    out: CliOutcome = field(default_factory=CliOutcome)
    _tools: dict[str, tuple[str, str]] = field(default_factory=dict)
    _turn: TurnUsage | None = None
    _turn_model: str = ""
    _refused: set[str] = field(default_factory=set)  # tool_use ids our hook already reported

    def feed(self, ev: dict[str, Any]) -> None:
        kind = ev.get("type")
        if kind == "system" and ev.get("subtype") == "init":
            self.out.session_id = ev.get("session_id", "")
            self.emit.log(f"claude started: model {ev.get('model')}, cwd {ev.get('cwd')}, "
                          f"permission mode {ev.get('permissionMode')}", level="debug")
        elif kind == "stream_event":
            self._stream_event(ev.get("event") or {})
        elif kind == "assistant":
            for block in (ev.get("message") or {}).get("content") or []:
                if block.get("type") == "text" and block.get("text", "").strip():
                    self.emit.log(block["text"].strip()[:4000])
                elif block.get("type") == "tool_use":
                    name = CLAUDE_TOOLS.get(block.get("name", ""), block.get("name", "?"))
                    self._tools[block.get("id", "")] = (name, _summary(block.get("input")))
        elif kind == "user":
            for block in (ev.get("message") or {}).get("content") or []:
                if isinstance(block, dict) and block.get("type") == "tool_result":
                    self._tool_result(block)
        elif kind == "result":
            self._result(ev)

    def _stream_event(self, event: dict[str, Any]) -> None:
        # message_start carries the input side of a model call, message_delta the final output count.
        if event.get("type") == "message_start":
            msg = event.get("message") or {}
            u = msg.get("usage") or {}
            self._turn = TurnUsage(input_tokens=u.get("input_tokens") or 0,
                                   cached_tokens=u.get("cache_read_input_tokens") or 0,
                                   cache_write_tokens=u.get("cache_creation_input_tokens") or 0)
            self._turn_model = msg.get("model") or ""
        elif event.get("type") == "message_delta" and self._turn is not None:
            self._turn.output_tokens = (event.get("usage") or {}).get("output_tokens") or 0
            self.meter.turn(self._turn, model=self._turn_model or None)
            self._turn = None

    def _tool_result(self, block: dict[str, Any]) -> None:
        name, summary = self._tools.pop(block.get("tool_use_id", ""), ("?", ""))
        text = _content_text(block.get("content"))
        ok = not block.get("is_error")
        error = None
        if not ok:
            error = text.strip().splitlines()[-1][:300] if text.strip() else "failed"
            if "refused:" in text:  # our PreToolUse path-policy hook said no
                error = "refused: " + text.split("refused:", 1)[1].strip()[:300]
                self.emit.log(error, level="warning")
                self._refused.add(block.get("tool_use_id", ""))
        self.emit.tool_call(name, summary, ok=ok, error=error)
        self.meter.tool_result(name, ok)

    def _result(self, ev: dict[str, Any]) -> None:
        self.out.session_id = ev.get("session_id") or self.out.session_id
        self.out.final_text = ev.get("result") or ""
        if ev.get("is_error") or ev.get("subtype") != "success":
            self.out.error = f"claude {ev.get('subtype', 'error')}: {self.out.final_text or 'no result'}"[:1000]
        for denial in ev.get("permission_denials") or []:
            if denial.get("tool_use_id") in self._refused:
                continue
            name = CLAUDE_TOOLS.get(denial.get("tool_name", ""), denial.get("tool_name", "?"))
            self.emit.log(f"refused: {name} {_summary(denial.get('tool_input'))} (not permitted for this role)",
                          level="warning")
        # The result's totals are authoritative: report whatever the per-turn events missed.
        u = ev.get("usage") or {}
        total = self.meter.total
        missing = TurnUsage(input_tokens=max((u.get("input_tokens") or 0) - total.input_tokens, 0),
                            output_tokens=max((u.get("output_tokens") or 0) - total.output_tokens, 0),
                            cached_tokens=max((u.get("cache_read_input_tokens") or 0) - total.cached_tokens, 0),
                            cache_write_tokens=max((u.get("cache_creation_input_tokens") or 0) - total.cache_write_tokens, 0))
        cost = None
        if self.meter.prices.lookup(self.meter.model) is None and ev.get("total_cost_usd") is not None:
            cost = max(float(ev["total_cost_usd"]) - self.meter.cost_usd, 0.0)  # the CLI's own pricing
        if missing.tokens or missing.cached_tokens or missing.cache_write_tokens or cost:
            self.meter.turn(missing, cost_usd=cost)
        self.meter.flush()


@dataclass
class CodexTranslator:
    emit: Emitter
    meter: UsageMeter
    out: CliOutcome = field(default_factory=CliOutcome)

    def feed(self, ev: dict[str, Any]) -> None:
        kind = ev.get("type")
        if kind == "thread.started":
            self.out.session_id = ev.get("thread_id", "")
            self.emit.log(f"codex thread {self.out.session_id}", level="debug")
        elif kind == "item.completed":
            self._item(ev.get("item") or {})
        elif kind == "turn.completed":
            u = ev.get("usage") or {}
            cached = u.get("cached_input_tokens") or 0
            # Codex's input_tokens include the cached ones; ours are disjoint.
            self.meter.turn(TurnUsage(input_tokens=max((u.get("input_tokens") or 0) - cached, 0),
                                      output_tokens=u.get("output_tokens") or 0, cached_tokens=cached))
        elif kind == "turn.failed":
            self.out.error = f"codex turn failed: {(ev.get('error') or {}).get('message', 'unknown error')}"[:1000]
        elif kind == "error":
            self.emit.log(f"codex: {ev.get('message', '')}"[:1000], level="error")
            self.out.error = self.out.error or f"codex: {ev.get('message', '')}"[:1000]

    def _item(self, item: dict[str, Any]) -> None:
        kind = item.get("type")
        if kind == "agent_message":
            self.out.final_text = item.get("text", "")
            if self.out.final_text.strip():
                self.emit.log(self.out.final_text.strip()[:4000])
        elif kind == "command_execution":
            command = str(item.get("command", ""))
            for prefix in ("/bin/bash -lc ", "bash -lc ", "/bin/sh -c "):
                if command.startswith(prefix):
                    command = command[len(prefix):].strip("'\"")
            code = item.get("exit_code")
            ok = code == 0 and item.get("status") != "failed"
            tail = str(item.get("aggregated_output") or "").strip().splitlines()[-1:] or [""]
            self.emit.tool_call("run_command", command, ok=ok, error=None if ok else f"exit {code}: {tail[0][:300]}")
            self.meter.tool_result("run_command", ok)
        elif kind == "file_change":
            paths = ", ".join(c.get("path", "") for c in item.get("changes") or [])
            ok = item.get("status") == "completed"
            self.emit.tool_call("edit_file", paths, ok=ok, error=None if ok else str(item.get("status")))
            self.meter.tool_result("edit_file", ok)
        elif kind == "mcp_tool_call":
            ok = item.get("status") == "completed"
            self.emit.tool_call(f"{item.get('server')}.{item.get('tool')}", "", ok=ok)
            self.meter.tool_result("mcp", ok)
        elif kind == "web_search":
            self.emit.tool_call("web_search", str(item.get("query", "")), ok=True)
            self.meter.tool_result("web_search", True)
        elif kind == "error":
            self.emit.log(f"codex: {item.get('message', '')}"[:1000], level="warning")


Translator = ClaudeTranslator | CodexTranslator


def run_cli(argv: list[str], env: dict[str, str], cwd: Path, translator: Translator, ctx: AgentContext,
            emit: Emitter, timeout_s: float, redact: Callable[[str], str]) -> CliOutcome:
    """Run the CLI to completion; returns what the translator gathered plus the exit code."""
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=err, start_new_session=True)
        done = threading.Event()
        threading.Thread(target=_watch, args=(proc, ctx, emit, done, time.monotonic() + timeout_s),
                         daemon=True).start()
        assert proc.stdout is not None
        try:
            for raw in proc.stdout:
                line = raw.decode("utf-8", "replace").strip()
                if not line:
                    continue
                try:
                    event = json.loads(line)
                except json.JSONDecodeError:
                    emit.log(redact(line)[:2000], level="debug")  # banner or warning lines
                    continue
                if isinstance(event, dict):
                    translator.feed(event)
        finally:
            proc.wait()
            done.set()
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    out = translator.out
    out.returncode = proc.returncode
    out.stderr_tail = redact("\n".join(stderr.strip().splitlines()[-15:]))
    return out


def _watch(proc: subprocess.Popen[bytes], ctx: AgentContext, emit: Emitter, done: threading.Event,
           deadline: float) -> None:
    """Pause (SIGSTOP) / resume (SIGCONT) the CLI's process group with the agent; kill on stop/timeout."""
    stopped = False
    while not done.wait(0.1):
        try:
            if ctx.stopping.is_set() or time.monotonic() > deadline:
                reason = "shutdown" if ctx.stopping.is_set() else "timeout"
                emit.log(f"stopping the CLI ({reason})", level="warning")
                os.killpg(proc.pid, signal.SIGTERM)
                if stopped:
                    os.killpg(proc.pid, signal.SIGCONT)  # a stopped process acts on TERM once continued
                if done.wait(5):
                    return
                os.killpg(proc.pid, signal.SIGKILL)
                return
            if ctx.paused.is_set() and not stopped:
                os.killpg(proc.pid, signal.SIGSTOP)
                stopped = True
            elif not ctx.paused.is_set() and stopped:
                os.killpg(proc.pid, signal.SIGCONT)
                stopped = False
        except ProcessLookupError:
            return
