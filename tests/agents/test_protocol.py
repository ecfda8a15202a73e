"""The protocol module: every message round-trips, and hostile lines fail with one clear line."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

from labconsole.agents import protocol as P
from labconsole.agents.emitter import Emitter
from labconsole.core.usage import Usage

AGENT_SAMPLES: list[P.AgentMessage] = [
    P.Hello(role="worker", backend="sweep", model="m"),
    P.Heartbeat(),
    P.Status(state="working", hypothesis="h001", detail="implement"),
    P.Log(text="hi", level="warning"),
    P.ToolCall(tool="run_command", input="pytest", ok=False, error="exit 1"),
    P.Proposal(title="Set lr to 0.1", params={"lr": 0.1}, rationale="r", source="s", priority=0.5),
    P.Plan(hypothesis="h002", decision="duplicate", of="h001", similarity=0.9),
    P.Commit(hypothesis="h001", sha="a" * 40, message="m"),
    P.Verdict(hypothesis="h001", verdict="flag", reasons=["small effect"]),
    P.Report(path="/tmp/report.md"),
    P.UsageReport(
        Usage(input_tokens=10, output_tokens=2, cached_tokens=3, cost_usd=0.5, tool_calls=1, repair_attempts=1),
        model="gpt-5",
    ),
    P.Done(task="t1", summary="ok"),
    P.Error(message="boom", task="t1", fatal=True),
]
CONSOLE_SAMPLES: list[P.ConsoleMessage] = [
    P.TaskMessage(id="t1", kind="implement", payload={"worktree": "/w"}),
    P.PersonMessage(text="try smaller steps"),
    P.Pause(),
    P.Resume(),
    P.Shutdown(),
]


@pytest.mark.parametrize("message", AGENT_SAMPLES, ids=lambda m: m.TYPE)
def test_agent_messages_round_trip(message: P.AgentMessage) -> None:
    assert P.parse_agent(message.to_json()) == message


@pytest.mark.parametrize("message", CONSOLE_SAMPLES, ids=lambda m: m.TYPE)
def test_console_messages_round_trip(message: P.ConsoleMessage) -> None:
    assert P.parse_console(message.to_json()) == message


def test_every_documented_type_is_declared_once() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()
    documented = set()
    for line in doc.splitlines():
        if line.startswith("| `"):
            documented |= {part.strip("` ") for part in line.split("|")[1].split("/")}
    assert documented == P.AGENT_TYPES | P.CONSOLE_TYPES
    assert not P.AGENT_TYPES & P.CONSOLE_TYPES


def test_usage_travels_flat_on_the_wire() -> None:
    wire = json.loads(AGENT_SAMPLES[10].to_json())
    assert wire == {
        "type": "usage",
        "input_tokens": 10,
        "output_tokens": 2,
        "cached_tokens": 3,
        "cost_usd": 0.5,
        "tool_calls": 1,
        "repair_attempts": 1,
        "model": "gpt-5",
    }


def test_task_id_is_task_on_the_wire() -> None:
    assert json.loads(CONSOLE_SAMPLES[0].to_json())["task"] == "t1"
    assert P.parse_console('{"type":"task","task":7,"kind":"plan"}') == P.TaskMessage(id="7", kind="plan")


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("not json", "not a JSON line"),
        ("[1, 2]", "JSON object"),
        ('{"type": "approve"}', "unknown agent message type 'approve'"),
        ('{"type": "proposal", "title": "t", "rationale": "r", "source": "s"}', "proposal: missing field 'params'"),
        (
            '{"type": "proposal", "title": 3, "params": {}, "rationale": "r", "source": "s"}',
            "proposal: field 'title' must be a string",
        ),
        (
            '{"type": "verdict", "hypothesis": "h", "verdict": "merge", "reasons": []}',
            "must be one of pass, flag, reject",
        ),
        ('{"type": "verdict", "hypothesis": "h", "verdict": "pass", "reasons": [1]}', "list of strings"),
        ('{"type": "usage", "input_tokens": true}', "must be an integer"),
        ('{"type": "usage", "cost_usd": -1}', "must not be negative"),
        ('{"type": "error", "message": "m", "fatal": "yes"}', "true or false"),
        ('{"type": "hello", "role": "w", "backend": "b"}', "hello: missing field 'protocol'"),
        ('{"type": "commit", "hypothesis": "h", "sha": "s", "message": null}', "'message' must be a string"),
        ('{"type": "log", "text": "t", "level": null}', "'level' must be a string"),
    ],
)
def test_hostile_agent_lines_are_refused_with_one_clear_line(line: str, says: str) -> None:
    with pytest.raises(P.ProtocolError, match=None) as info:
        P.parse_agent(line)
    assert says in str(info.value) and "\n" not in str(info.value)


def test_fields_the_wire_may_leave_out_or_send_as_null_read_as_their_defaults() -> None:
    assert P.parse_agent('{"type": "commit", "hypothesis": "h", "sha": "s"}') == P.Commit("h", "s", "")
    assert P.parse_agent('{"type": "tool_call", "tool": "read"}') == P.ToolCall("read", "")
    assert P.parse_agent('{"type": "status", "state": "idle", "detail": null}') == P.Status("idle")
    assert P.parse_agent('{"type": "done", "task": "1", "summary": null}') == P.Done("1")
    assert P.parse_console('{"type": "message"}') == P.PersonMessage("")


def test_console_types_are_not_agent_types() -> None:
    with pytest.raises(P.ProtocolError, match="unknown console message type 'hello'"):
        P.parse_console('{"type": "hello", "role": "w", "backend": "b", "protocol": 1}')


def test_emitter_lines_parse_back() -> None:
    buf = io.StringIO()
    emit = Emitter(buf)
    emit.hello("worker", "sweep")
    emit.usage(input_tokens=5, cost_usd=0.1, model="m", tool_calls=2)
    emit.tool_call("read_file", "x" * 900)
    hello, usage, call = (P.parse_agent(line) for line in buf.getvalue().splitlines())
    assert hello == P.Hello(role="worker", backend="sweep", model="", protocol=P.PROTOCOL_VERSION)
    assert isinstance(usage, P.UsageReport) and usage.usage == Usage(input_tokens=5, cost_usd=0.1, tool_calls=2)
    assert isinstance(call, P.ToolCall) and len(call.input) == 500


def test_launch_argv_is_what_the_runner_reads(tmp_path: Path) -> None:
    launch = P.AgentLaunch("r-1", "researcher", "sweep", "", tmp_path, {"count": 2, "name": "x y"})
    argv = launch.runner_argv(heartbeat_s=0.5)
    assert argv[:3] == [sys.executable, "-m", "labconsole.agents.runner"]
    options = [argv[i + 1] for i, a in enumerate(argv) if a == "--option"]
    assert P.parse_options(options) == {"count": 2, "name": "x y"}
    assert P.parse_options(["plain=not json"]) == {"plain": "not json"}


def test_runner_ignores_a_malformed_console_line_with_a_warning(tmp_path: Path) -> None:
    launch = P.AgentLaunch("p-1", "planner", "sweep", "", tmp_path)
    lines = ['{"type": "task", "kind": "plan"}', "garbage", P.Shutdown().to_json()]
    out = subprocess.run(
        launch.runner_argv(heartbeat_s=30),
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    said = [P.parse_agent(line) for line in out.stdout.splitlines()]
    warnings = [m.text for m in said if isinstance(m, P.Log) and m.level == "warning"]
    assert any("task: missing field 'task'" in w for w in warnings)
    assert any("not a JSON line" in w for w in warnings)


def test_a_message_field_without_a_reader_fails_at_import_naming_it() -> None:
    @dataclass(frozen=True)
    class Odd(P._Message):
        TYPE: ClassVar[str] = "odd"
        when: tuple[int, int]

    with pytest.raises(TypeError, match=r"Odd\.when: no protocol reader"):
        P._check_readable([Odd])
    P._check_readable([*P.AGENT_MESSAGES.values(), *P.CONSOLE_MESSAGES.values()])
