"""CLI event translation and process control, without the CLIs: canned event lines."""

from __future__ import annotations

import io
import json
import sys
import threading
import time
from pathlib import Path

from labconsole.agents.backends.base import AgentContext
from labconsole.agents.backends.cli_events import ClaudeTranslator, CodexTranslator, run_cli
from labconsole.agents.backends.meter import UsageMeter
from labconsole.agents.backends.pricing import PriceTable
from labconsole.agents.emitter import Emitter


def _setup(model: str = "claude-sonnet-4-6") -> tuple[io.StringIO, Emitter, UsageMeter]:
    buf = io.StringIO()
    emit = Emitter(buf)
    return buf, emit, UsageMeter(model, PriceTable(), emit)


def _lines(buf: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buf.getvalue().splitlines()]


def test_claude_result_reconciles_usage_and_reports_denials() -> None:
    buf, emit, meter = _setup("mystery-model")
    t = ClaudeTranslator(emit, meter)
    t.feed({"type": "system", "subtype": "init", "session_id": "s1", "model": "mystery-model", "cwd": "/w"})
    t.feed(
        {
            "type": "assistant",
            "message": {
                "content": [{"type": "tool_use", "id": "u1", "name": "Write", "input": {"file_path": "/etc/x"}}]
            },
        }
    )
    t.feed(
        {
            "type": "user",
            "message": {
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "u1",
                        "is_error": True,
                        "content": "Claude requested permissions to write",
                    }
                ]
            },
        }
    )
    t.feed(
        {
            "type": "result",
            "subtype": "error_max_turns",
            "is_error": True,
            "session_id": "s1",
            "result": "",
            "total_cost_usd": 0.25,
            "usage": {"input_tokens": 1000, "output_tokens": 50},
            "permission_denials": [{"tool_name": "Write", "tool_use_id": "u1", "tool_input": {"file_path": "/etc/x"}}],
        }
    )
    lines = _lines(buf)
    [call] = [m for m in lines if m["type"] == "tool_call"]
    assert call["tool"] == "write_file" and call["ok"] is False
    assert any("refused: write_file /etc/x" in m.get("text", "") for m in lines)
    usage = [m for m in lines if m["type"] == "usage"]
    # no per-turn stream events: the result's totals and the CLI's own cost (model not in our table)
    assert sum(u["input_tokens"] for u in usage) == 1000 and sum(u["cost_usd"] for u in usage) == 0.25
    assert t.out.error.startswith("claude error_max_turns") and t.out.session_id == "s1"


def test_codex_items_usage_and_failure() -> None:
    buf, emit, meter = _setup("gpt-5.5")
    t = CodexTranslator(emit, meter)
    for ev in (
        {"type": "thread.started", "thread_id": "th1"},
        {
            "type": "item.completed",
            "item": {
                "type": "command_execution",
                "command": "/bin/bash -lc 'pytest -q'",
                "aggregated_output": "1 failed",
                "exit_code": 1,
                "status": "failed",
            },
        },
        {
            "type": "item.completed",
            "item": {"type": "file_change", "changes": [{"path": "a.py", "kind": "update"}], "status": "completed"},
        },
        {"type": "item.completed", "item": {"type": "error", "message": "model metadata not found"}},
        {"type": "turn.completed", "usage": {"input_tokens": 1000, "cached_input_tokens": 400, "output_tokens": 10}},
        {"type": "turn.failed", "error": {"message": "stream disconnected"}},
    ):
        t.feed(ev)
    lines = _lines(buf)
    calls = [(m["tool"], m["input"], m["ok"]) for m in lines if m["type"] == "tool_call"]
    assert calls == [("run_command", "pytest -q", False), ("edit_file", "a.py", True)]
    [usage] = [m for m in lines if m["type"] == "usage"]
    assert (usage["input_tokens"], usage["cached_tokens"], usage["repair_attempts"]) == (600, 400, 1)
    assert t.out.error == "codex turn failed: stream disconnected" and t.out.session_id == "th1"


SLOW_CLI = """
import json, sys, time
for i in range(6):
    print(json.dumps({"type": "item.completed", "item": {"type": "agent_message", "text": f"line {i}"}}), flush=True)
    time.sleep(0.15)
"""


def _ctx(tmp_path: Path) -> AgentContext:
    return AgentContext("w", "worker", "codex", "m", tmp_path)


def test_run_cli_pauses_with_the_agent(tmp_path: Path) -> None:
    buf, emit, meter = _setup()
    ctx = _ctx(tmp_path)
    t = CodexTranslator(emit, meter)
    result: dict = {}
    thread = threading.Thread(
        target=lambda: result.update(out=run_cli([sys.executable, "-c", SLOW_CLI], {}, tmp_path, t, ctx, emit, 30, str))
    )
    thread.start()
    while "line 0" not in buf.getvalue():
        time.sleep(0.01)
    ctx.paused.set()
    time.sleep(0.3)
    frozen = buf.getvalue().count("line ")
    time.sleep(0.6)
    assert buf.getvalue().count("line ") == frozen <= 3  # SIGSTOPped: no progress while paused
    ctx.paused.clear()
    thread.join(10)
    assert result["out"].returncode == 0 and buf.getvalue().count("line ") == 6


def test_run_cli_stops_on_shutdown(tmp_path: Path) -> None:
    buf, emit, meter = _setup()
    ctx = _ctx(tmp_path)
    ctx.stopping.set()
    started = time.monotonic()
    out = run_cli(
        [sys.executable, "-c", "import time; time.sleep(30)"],
        {},
        tmp_path,
        CodexTranslator(emit, meter),
        ctx,
        emit,
        30,
        str,
    )
    assert time.monotonic() - started < 5 and out.returncode != 0
    assert "stopping the CLI (shutdown)" in buf.getvalue()
