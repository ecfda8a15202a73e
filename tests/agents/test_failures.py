"""Agents that fail loudly and honestly (issue 21): every fault of a model server ends the task
with one line naming the role, what failed and what to do, within the timeouts, never a traceback."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from agents.conftest import OPENAI_KEY, propose_one
from helpers.agent_proc import AgentProc
from helpers.model_server import ModelServer, Reply

BACKENDS = ["anthropic", "openai"]
FAST = {"max_retries": 0, "read_timeout_s": 1.5, "connect_timeout_s": 1.0}


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, anthropic_env: ModelServer, openai_env: ModelServer) -> str:
    return request.param


def _line(run_error: BaseException | None) -> str:
    assert run_error is not None
    line = str(run_error)
    # one line, no exception class name, no doubled prefix
    assert "\n" not in line and "Error:" not in line.split(" — ")[0].replace("JSON", ""), line
    assert line.startswith("researcher agent researcher-1: "), line
    return line


def test_stalled_server_times_out_with_the_read_timeout(backend: str, lab: Path, server: ModelServer) -> None:
    server.add(Reply(fault="stall"))
    started = time.monotonic()
    run = propose_one(backend, lab, options=FAST)
    assert time.monotonic() - started < 15  # the old default waited ~30 minutes
    line = _line(run.error)
    assert "did not answer: timed out after 2 s" in line and "raise read_timeout_s" in line


def test_keepalive_pings_are_not_progress_the_turn_deadline_ends_them(lab: Path, openai_env: ModelServer) -> None:
    # SSE comments keep the read timeout happy but carry no token: the per-turn deadline ends the call.
    openai_env.add(Reply(fault="pings"))
    started = time.monotonic()
    run = propose_one("openai", lab, options={**FAST, "read_timeout_s": 30, "turn_timeout_s": 2})
    assert time.monotonic() - started < 10
    line = _line(run.error)
    assert "model call timed out after 2 s" in line and "raise turn_timeout_s" in line


@pytest.mark.parametrize(
    "status,words",
    [(429, "rate-limiting us (HTTP 429"), (500, "failed (HTTP 500"), (401, "refused our credentials (HTTP 401")],
)
def test_http_errors_say_what_to_do(backend: str, lab: Path, server: ModelServer, status: int, words: str) -> None:
    server.add(Reply(status=status, text="scripted trouble"))
    line = _line(propose_one(backend, lab, options=FAST).error)
    assert words in line and "scripted trouble" in line and " — " in line


@pytest.mark.parametrize("fault", ["garbage", "truncate", "close"])
def test_broken_replies_are_one_line(backend: str, lab: Path, server: ModelServer, fault: str) -> None:
    server.add(Reply(text="half of an answer that is long enough to cut", fault=fault))
    line = _line(propose_one(backend, lab, options=FAST).error)
    assert "model server" in line and server.url.split("//")[1] in line, line
    assert {
        "garbage": "sent a reply that is not valid JSON",
        "truncate": "closed the connection mid-reply",
        "close": "closed the connection mid-reply",
    }[fault] in line


def test_dead_server_names_the_endpoint(lab: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    run = propose_one("openai", lab, options={**FAST, "base_url": "http://127.0.0.1:9/v1"})
    line = _line(run.error)
    assert "cannot reach the model server at http://127.0.0.1:9/v1" in line
    assert "check that the server is running" in line


def test_invalid_tool_arguments_go_back_to_the_model_with_the_reason(
    backend: str, lab: Path, server: ModelServer
) -> None:
    server.add(
        Reply(tool_calls=[("read_file", {"file": "train.py"})]),
        Reply(tool_calls=[("propose", {"title": "t", "params": {"a": 1}, "rationale": "r", "source": "s"})]),
        Reply(text="done"),
    )
    run = propose_one(backend, lab)
    assert run.error is None, run.text
    sent_back = server.requests[1].last_user
    # not "error: 'path'": the validation message names the field
    assert "invalid arguments for read_file: missing required field 'path'; unknown field 'file'" in sent_back


def test_argument_problems() -> None:
    from labconsole.agents.backends.tools import SPECS, argument_problems

    assert argument_problems(SPECS["verdict"], {"verdict": "maybe", "reasons": "x"}) == [
        "field 'verdict' must be one of pass, flag, reject",
        "field 'reasons' must be a array, not str",
    ]
    assert argument_problems(SPECS["read_file"], {"path": "a", "limit": True}) == [
        "field 'limit' must be a integer, not bool"
    ]
    assert argument_problems(SPECS["read_file"], {"_unparsable_arguments": "{oops"}) == [
        "the arguments are not valid JSON: '{oops'"
    ]


def test_signals_are_named() -> None:
    from labconsole.agents.backends.failures import exit_text, signal_name

    assert signal_name(-9) == "SIGKILL" and signal_name(143) == "SIGTERM" and signal_name(1) == ""
    assert exit_text(143) == "killed by SIGTERM (exit code 143)" and exit_text(2) == "exit code 2"


def openai_researcher(lab: Path, server: ModelServer) -> AgentProc:
    """A real researcher process on the openai backend, pointed at `server`, failing on the first error."""
    options = {"base_url": server.url + "/v1", "max_retries": 0}
    return AgentProc("researcher", "openai", lab, model="gpt-4o", env={"OPENAI_API_KEY": OPENAI_KEY}, options=options)


def test_runner_error_is_one_line_and_the_traceback_goes_to_the_log(lab: Path, server: ModelServer) -> None:
    """The real agent process: the error line has no doubled prefix; stderr (the agent's log) has the rest."""
    server.add(Reply(status=500, text="upstream exploded"))
    with openai_researcher(lab, server) as agent:
        agent.wait_for("hello")
        reply = agent.run_task("propose", {"count": 1})
    assert reply["type"] == "error"
    assert reply["message"].startswith("researcher agent researcher-1: openai: the model server at ")
    assert "failed (HTTP 500: upstream exploded)" in reply["message"]
    assert "BackendError" not in reply["message"] and "Traceback" not in json.dumps(agent.lines)


def test_heartbeats_report_a_silent_model_call(lab: Path, server: ModelServer) -> None:
    server.add(Reply(fault="stall", fault_s=30))
    with openai_researcher(lab, server) as agent:
        agent.wait_for("hello")
        agent.send("task", task="t1", kind="propose", payload={"count": 1})
        deadline = time.monotonic() + 20
        waited = 0.0
        while time.monotonic() < deadline and waited < 1.5:
            beats = [m for m in agent.lines if m["type"] == "heartbeat"]
            waited = max([b.get("waiting_s", 0) for b in beats] or [0])
            time.sleep(0.1)
        assert waited >= 1.5  # the old heartbeat said nothing about the model


def test_cli_timeout_is_said_in_seconds(tmp_path: Path) -> None:
    from labconsole.agents.backends.base import AgentContext
    from labconsole.agents.backends.cli_events import CodexTranslator, run_cli
    from labconsole.agents.backends.meter import UsageMeter
    from labconsole.agents.backends.pricing import PriceTable
    from labconsole.agents.emitter import Emitter
    import io
    import sys

    emit = Emitter(io.StringIO())
    ctx = AgentContext("w", "worker", "codex", "m", tmp_path)
    out = run_cli(
        [sys.executable, "-c", "import time; time.sleep(30)"],
        {},
        tmp_path,
        CodexTranslator(emit, UsageMeter("m", PriceTable(None), emit)),
        ctx,
        emit,
        0.5,
        str,
    )
    assert out.error == "timed out after 0 s (stopped with SIGTERM)" or out.error.startswith("timed out after")
    assert out.returncode == -signal.SIGTERM  # which the old message called "exit code 143" at best


def test_codex_declined_and_unfinished_commands_count(tmp_path: Path) -> None:
    import io

    from labconsole.agents.backends.cli_events import CodexTranslator
    from labconsole.agents.backends.meter import UsageMeter
    from labconsole.agents.backends.pricing import PriceTable
    from labconsole.agents.emitter import Emitter

    buf = io.StringIO()
    emit = Emitter(buf)
    meter = UsageMeter("m", PriceTable(None), emit)
    t = CodexTranslator(emit, meter)
    for ev in (
        {"type": "item.started", "item": {"id": "a", "type": "command_execution", "command": "rm -rf /"}},
        {
            "type": "item.completed",
            "item": {
                "id": "a",
                "type": "command_execution",
                "command": "rm -rf /",
                "status": "declined",
                "exit_code": None,
            },
        },
        {"type": "item.started", "item": {"id": "b", "type": "command_execution", "command": "curl x"}},
        {"type": "turn.completed", "usage": {"input_tokens": 10, "output_tokens": 1}},
    ):
        t.feed(ev)
    lines = [json.loads(x) for x in buf.getvalue().splitlines()]
    calls = [(m["input"], m["ok"], m["error"]) for m in lines if m["type"] == "tool_call"]
    assert calls == [
        ("rm -rf /", False, "refused: rm -rf / (declined by codex's sandbox)"),
        ("curl x", False, "refused or cut off: the command never completed"),
    ]
    assert sum(m["tool_calls"] for m in lines if m["type"] == "usage") == 2


def test_supervisor_calls_a_silent_model_call_stalled_and_restarts_it(tmp_path: Path) -> None:
    """Heartbeats keep coming (the process lives), but they say the model has sent nothing: stalled."""
    import sys
    import textwrap

    from labconsole.agents.supervisor import AgentSpec, Supervision, Supervisor

    script = tmp_path / "stuck.py"
    script.write_text(
        textwrap.dedent("""
        import json, sys, time
        say = lambda **m: (sys.stdout.write(json.dumps(m) + "\\n"), sys.stdout.flush())
        say(type="hello", protocol=1, role="worker", backend="test", model="")
        start = time.monotonic()
        while True:
            say(type="heartbeat", waiting_s=time.monotonic() - start)
            time.sleep(0.1)
    """)
    )
    spec = AgentSpec(
        "stuck", "worker", "test", "", tmp_path, options={"stall_timeout_s": 1.0}, argv=[sys.executable, str(script)]
    )
    sup = Supervisor(tmp_path / "logs", Supervision(hang_timeout_s=30, backoff_s=(0.1, 0.1)))
    got: list = []
    try:
        sup.start(spec)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and "restarting" not in [m.type for m in got]:
            try:
                got.append(sup.messages.get(timeout=0.1))
            except Exception:  # noqa: BLE001 - queue.Empty
                pass
    finally:
        sup.close()
    kinds = [m.type for m in got]
    assert "stalled" in kinds and kinds.index("stalled") < kinds.index("exited") < kinds.index("restarting")
    stalled = next(m for m in got if m.type == "stalled")
    assert stalled.data["limit_s"] == 1.0 and stalled.data["waited_s"] >= 1.0
    exited = next(m for m in got if m.type == "exited")
    assert exited.data["reason"] == "hung" and exited.data["detail"] == "stalled: the model sent no token for 1 s"


def test_stalled_is_a_declared_event_logged_as_the_console() -> None:
    from labconsole.events import kinds as K
    from labconsole.lab.orchestrator.dispatch import FROM_SUPERVISOR, LOGGED_ONLY

    assert LOGGED_ONLY["stalled"] == K.AGENT_STALLED == "agent.stalled" and "stalled" in FROM_SUPERVISOR


def test_timeouts_are_configured_per_role_in_lab_toml(tmp_path: Path) -> None:
    from labconsole.core.config import load_config
    from labconsole.errors import ConfigError

    base = tmp_path / "lab.toml"
    text = (
        '[lab]\nname = "t"\n[objective]\nname = "m"\ndirection = "minimize"\ncommand = "true"\n'
        'metric = "regex:m=(.*)"\n[search]\nfile = "train.py"\n'
        '[search.space]\nLR = { type = "float", low = 1e-4, high = 1e-1 }\n'
    )
    base.write_text(text + '[agents]\nworker = { backend = "openai", turn_timeout_s = 90, stall_timeout_s = 45 }\n')
    cfg = load_config(base)
    assert cfg.agents["worker"].options == {"turn_timeout_s": 90.0, "stall_timeout_s": 45.0}
    base.write_text(text + '[agents]\nworker = { backend = "openai", turn_timeout_s = 0 }\n')
    with pytest.raises(ConfigError, match="turn_timeout_s"):
        load_config(base)


def test_codex_home_under_tmp_is_refused_with_the_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from labconsole.agents.backends.ready import check_backend_ready, probe_backend
    from labconsole.errors import ConfigError

    fake = tmp_path / "codex"
    fake.write_text("#!/bin/sh\necho codex-cli 9.9.9\n")
    fake.chmod(0o755)
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # under /tmp, as a HOME in /tmp would be
    with pytest.raises(
        ConfigError,
        match=r"role worker uses backend codex but its CODEX_HOME .* is under /tmp, "
        r"where codex cannot start its sandbox helper",
    ):
        check_backend_ready("worker", "codex", {"cli_path": str(fake)})
    line = probe_backend("worker", "codex", {"cli_path": str(fake)}).line()
    assert line.startswith("worker: codex NOT READY — ") and "set XDG_CACHE_HOME" in line
    monkeypatch.setenv("XDG_CACHE_HOME", str(Path.home() / ".cache"))
    assert probe_backend("worker", "codex", {"cli_path": str(fake)}).line() == "worker: codex ready — codex-cli 9.9.9"


def test_probe_runs_the_real_thing_once(
    lab: Path, server: ModelServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from labconsole.agents.backends.ready import probe_backend

    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    ok = probe_backend("planner", "openai", {"base_url": server.url + "/v1"}, model="gpt-4o")
    assert ok.ok and ok.line() == f"planner: openai ready — {server.url}/v1 answered (model gpt-4o)"
    assert [r.path for r in server.requests] == [] and not server.used  # a GET: no scripted reply spent
    dead = probe_backend("planner", "openai", {"base_url": "http://127.0.0.1:9/v1"}, timeout_s=3)
    assert dead.line().startswith("planner: openai NOT READY — cannot reach the model server at http://127.0.0.1:9/v1")
    broken = tmp_path / "claude"
    broken.write_text("#!/bin/sh\necho 'cannot load config' >&2\nexit 3\n")
    broken.chmod(0o755)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    line = probe_backend("reviewer", "claude-code", {"cli_path": str(broken), "home": str(tmp_path)}).line()
    assert line.startswith("reviewer: claude-code NOT READY — ") and "failed (exit code 3): cannot load config" in line


def test_session_start_reports_each_role_that_is_not_ready(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from labconsole.core.config import load_config
    from labconsole.errors import ConfigError
    from labconsole.lab.preflight import preflight

    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    (tmp_path / "lab.toml").write_text(
        '[lab]\nname = "t"\n[objective]\nname = "m"\ndirection = "minimize"\ncommand = "true"\n'
        'metric = "regex:m=(.*)"\n[search]\nfile = "train.py"\n[search.space]\nLR = { type = "float", low = 0.1, high = 1 }\n'
        '[agents]\nresearcher = { backend = "openai", options = { base_url = "http://127.0.0.1:9/v1", '
        'connect_timeout_s = 2 } }\nplanner = { backend = "openai", options = { base_url = "http://127.0.0.1:9/v1" } }\n'
    )
    with pytest.raises(ConfigError) as info:
        preflight(load_config(tmp_path / "lab.toml"))
    lines = str(info.value).splitlines()
    assert [line.split(" — ")[0] for line in lines] == ["researcher: openai NOT READY", "planner: openai NOT READY"]
    assert all("cannot reach the model server at http://127.0.0.1:9/v1" in line for line in lines)
