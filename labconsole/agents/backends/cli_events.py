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
CLAUDE_TOOLS = {
    "Bash": "run_command",
    "Read": "read_file",
    "Write": "write_file",
    "Edit": "edit_file",
    "MultiEdit": "edit_file",
    "NotebookEdit": "edit_file",
    "Grep": "search",
    "Glob": "list_files",
    "LS": "list_files",
}


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
    error: str = ""  # the CLI said the run failed
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
            self.emit.log(
                f"claude started: model {ev.get('model')}, cwd {ev.get('cwd')}, "
                f"permission mode {ev.get('permissionMode')}",
                level="debug",
            )
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
            self._turn = TurnUsage(
                input_tokens=u.get("input_tokens") or 0,
                cached_tokens=u.get("cache_read_input_tokens") or 0,
                cache_write_tokens=u.get("cache_creation_input_tokens") or 0,
            )
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
            # claude marks an API failure as subtype "success" with is_error: name it an error.
            subtype = ev.get("subtype") if ev.get("subtype") not in (None, "success") else "error"
            self.out.error = f"claude {subtype}: {self.out.final_text or 'no result'}"[:1000]
        for denial in ev.get("permission_denials") or []:
            if denial.get("tool_use_id") in self._refused:
                continue
            name = CLAUDE_TOOLS.get(denial.get("tool_name", ""), denial.get("tool_name", "?"))
            self.emit.log(
                f"refused: {name} {_summary(denial.get('tool_input'))} (not permitted for this role)", level="warning"
            )
        # The result's totals are authoritative: report whatever the per-turn events missed.
        u = ev.get("usage") or {}
        total = self.meter.total
        missing = TurnUsage(
            input_tokens=max((u.get("input_tokens") or 0) - total.input_tokens, 0),
            output_tokens=max((u.get("output_tokens") or 0) - total.output_tokens, 0),
            cached_tokens=max((u.get("cache_read_input_tokens") or 0) - total.cached_tokens, 0),
            cache_write_tokens=max((u.get("cache_creation_input_tokens") or 0) - total.cache_write_tokens, 0),
        )
        cost = None
        if self.meter.prices.lookup(self.meter.model) is None and ev.get("total_cost_usd") is not None:
            cost = max(float(ev["total_cost_usd"]) - self.meter.total.cost_usd, 0.0)  # the CLI's own pricing
        if missing.tokens or missing.cached_tokens or missing.cache_write_tokens or cost:
            self.meter.turn(missing, cost_usd=cost)
        self.meter.flush()


@dataclass
class CodexTranslator:
    emit: Emitter
    meter: UsageMeter
    out: CliOutcome = field(default_factory=CliOutcome)

    # Commands codex started and has not completed: one it refuses or that is cut off never
    # reaches item.completed, and must still count as a (failed) tool call.
    _open: dict[str, str] = field(default_factory=dict)

    def feed(self, ev: dict[str, Any]) -> None:
        kind = ev.get("type")
        if kind == "item.started":
            item = ev.get("item") or {}
            if item.get("type") == "command_execution":
                self._open[str(item.get("id", ""))] = _codex_command(item)
        elif kind in ("turn.completed", "turn.failed"):
            self.close_open()
        if kind == "thread.started":
            self.out.session_id = ev.get("thread_id", "")
            self.emit.log(f"codex thread {self.out.session_id}", level="debug")
        elif kind == "item.completed":
            self._item(ev.get("item") or {})
        elif kind == "turn.completed":
            u = ev.get("usage") or {}
            cached = u.get("cached_input_tokens") or 0
            # Codex's input_tokens include the cached ones; ours are disjoint.
            self.meter.turn(
                TurnUsage(
                    input_tokens=max((u.get("input_tokens") or 0) - cached, 0),
                    output_tokens=u.get("output_tokens") or 0,
                    cached_tokens=cached,
                )
            )
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
            self._open.pop(str(item.get("id", "")), None)
            command = _codex_command(item)
            code = item.get("exit_code")
            status = item.get("status")
            ok = code == 0 and status not in ("failed", "declined")
            tail = str(item.get("aggregated_output") or "").strip().splitlines()[-1:] or [""]
            error = None if ok else f"exit {code}: {tail[0][:300]}"
            if status == "declined":  # codex's sandbox or approval policy said no
                error = f"refused: {command[:300]} (declined by codex's sandbox)"
                self.emit.log(error, level="warning")
            self.emit.tool_call("run_command", command, ok=ok, error=error)
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

    def close_open(self) -> None:
        for command in self._open.values():
            self.emit.tool_call(
                "run_command", command, ok=False, error="refused or cut off: the command never completed"
            )
            self.meter.tool_result("run_command", False)
        self._open.clear()


def _codex_command(item: dict[str, Any]) -> str:
    command = str(item.get("command", ""))
    for prefix in ("/bin/bash -lc ", "bash -lc ", "/bin/sh -c "):
        if command.startswith(prefix):
            command = command[len(prefix) :].strip("'\"")
    return command


Translator = ClaudeTranslator | CodexTranslator


def run_cli(
    argv: list[str],
    env: dict[str, str],
    cwd: Path,
    translator: Translator,
    ctx: AgentContext,
    emit: Emitter,
    timeout_s: float,
    redact: Callable[[str], str],
) -> CliOutcome:
    """Run the CLI to completion; returns what the translator gathered plus the exit code."""
    with tempfile.TemporaryFile() as err, ctx.liveness.model_call():
        proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, start_new_session=True
        )
        done = threading.Event()
        timed_out = threading.Event()
        threading.Thread(
            target=_watch, args=(proc, ctx, emit, done, time.monotonic() + timeout_s, timed_out), daemon=True
        ).start()
        assert proc.stdout is not None
        try:
            for raw in proc.stdout:
                line = raw.decode("utf-8", "replace").strip()
                if not line:
                    continue
                ctx.liveness.tokens()  # the CLI said something: its model call is not hung
                try:
                    event = json.loads(line)
                except (json.JSONDecodeError, RecursionError):
                    emit.log(redact(line)[:2000], level="debug")  # banner or warning lines
                    continue
                if not isinstance(event, dict):
                    continue
                if _starts_tool(event):
                    ctx.liveness.tool_running()
                try:
                    translator.feed(event)
                except Exception as exc:  # noqa: BLE001 - a CLI's odd event costs one line, not the task
                    emit.log(
                        redact(
                            f"could not read a {type(event.get('type')).__name__} event of the CLI "
                            f"({type(exc).__name__}: {exc}): {line[:300]}"
                        ),
                        level="warning",
                    )
        finally:
            proc.wait()
            done.set()
        if isinstance(translator, CodexTranslator):
            translator.close_open()
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    out = translator.out
    out.returncode = proc.returncode
    if timed_out.is_set():
        out.error = f"timed out after {timeout_s:.0f} s (stopped with SIGTERM)"
    out.stderr_tail = redact("\n".join(stderr.strip().splitlines()[-15:]))
    return out


def _starts_tool(ev: dict[str, Any]) -> bool:
    """The CLI is about to run a tool: time spent in it is not the model hanging."""
    item = ev.get("item")
    if ev.get("type") == "item.started" and isinstance(item, dict):
        return item.get("type") in ("command_execution", "file_change", "mcp_tool_call")
    message = ev.get("message")
    if ev.get("type") == "assistant" and isinstance(message, dict):
        return any(isinstance(b, dict) and b.get("type") == "tool_use" for b in message.get("content") or [])
    return False


def _watch(
    proc: subprocess.Popen[bytes],
    ctx: AgentContext,
    emit: Emitter,
    done: threading.Event,
    deadline: float,
    timed_out: threading.Event,
) -> None:
    """Pause (SIGSTOP) / resume (SIGCONT) the CLI's process group with the agent; kill on stop/timeout."""
    stopped = False
    while not done.wait(0.1):
        try:
            if ctx.stopping.is_set() or time.monotonic() > deadline:
                reason = "shutdown" if ctx.stopping.is_set() else "timeout"
                if reason == "timeout":
                    timed_out.set()
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
