"""The real claude and codex CLIs (from npm) against the scripted server, fully offline."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from agents.conftest import API_KEY, OPENAI_KEY, Run, git, implement_payload, run_backend
from helpers.model_server import ModelServer, Reply
from labconsole.agents.backends.ready import check_backend_ready
from labconsole.errors import ConfigError


pytestmark = pytest.mark.net_clis
# Fails until lr is 0.2 (claude treats grep's exit 1 as "no match", not as a failure).
CHECK = "python3 -c \"import sys; sys.exit('lr = 0.2' not in open('train.py').read())\""


def run_claude(options: dict[str, Any], role: str, lab: Path, task: str, payload: dict[str, Any]) -> Run:
    """``run_backend`` on the fake claude CLI, with the model the fake server answers as."""
    return run_backend("claude-code", role, lab, task, payload, model="claude-sonnet-4-6", options=options)


def run_codex(options: dict[str, Any], role: str, lab: Path, task: str, payload: dict[str, Any]) -> Run:
    """``run_backend`` on the fake codex CLI, with the model the fake server answers as."""
    return run_backend("codex", role, lab, task, payload, model="gpt-5.5", options=options)


def _cli_options(cli_bin: Path, tmp_path: Path, cli: str, **settings: Any) -> dict[str, Any]:
    """What both fake CLIs take: the binary, a HOME of their own and the timeout; then ``settings``."""
    home = tmp_path / "home"
    home.mkdir()
    return {"cli_path": str(cli_bin / cli), "home": str(home), "timeout_s": 60, **settings}


@pytest.fixture
def claude(cli_bin: Path, server: ModelServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
    env = {"ANTHROPIC_BASE_URL": server.url, "CLAUDE_CODE_MAX_RETRIES": "0"}
    return _cli_options(cli_bin, tmp_path, "claude", env=env)


@pytest.fixture
def codex(cli_bin: Path, server: ModelServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    return _cli_options(cli_bin, tmp_path, "codex", base_url=server.url + "/v1", max_retries=0)


def test_claude_worker_edits_is_confined_and_commits(
    claude: dict[str, Any], server: ModelServer, lab: Path, worktree: Path, tmp_path: Path
) -> None:
    train = str(worktree / "train.py")
    server.add(
        Reply(text="Checking first.", tool_calls=[("Bash", {"command": CHECK})]),
        Reply(tool_calls=[("Read", {"file_path": train}), ("Read", {"file_path": str(worktree / "prepare.py")})]),
        Reply(tool_calls=[("Edit", {"file_path": train, "old_string": "lr = 0.1", "new_string": "lr = 0.2"})]),
        Reply(
            tool_calls=[
                ("Write", {"file_path": str(tmp_path / "escape.txt"), "content": "x"}),
                ("Write", {"file_path": str(worktree / "prepare.py"), "content": "easy"}),
            ]
        ),
        Reply(text="Done.", cached_tokens=40),
    )
    run = run_claude(claude, "worker", lab, "implement", implement_payload(worktree))
    assert run.error is None, run.text
    calls = [(c["tool"], c["ok"]) for c in run.of("tool_call")]
    assert calls == [
        ("run_command", False),
        ("read_file", True),
        ("read_file", True),
        ("edit_file", True),
        ("write_file", False),
        ("write_file", False),
    ]
    refusals = [m["text"] for m in run.of("log") if m["text"].startswith("refused: ")]
    assert any("outside the worktree" in r for r in refusals) and any("protected file" in r for r in refusals), run.text
    assert not (tmp_path / "escape.txt").exists() and "fixed" in (worktree / "prepare.py").read_text()
    [commit] = run.of("commit")
    assert commit["sha"] == git(worktree, "rev-parse", "HEAD").strip() and commit["message"] == "h1: raise lr to 0.2"
    assert git(worktree, "show", "--name-only", "--format=", "HEAD").split() == ["train.py"]
    # five model calls, tokens as the server counted them, cost from our price table
    assert run.usage_total("input_tokens") == 500 and run.usage_total("output_tokens") == 100
    assert run.usage_total("cached_tokens") == 40 and run.usage_total("cost_usd") == pytest.approx(0.003012)
    assert run.usage_total("tool_calls") == 6 and run.usage_total("repair_attempts") == 1
    # the role prompt went in as system prompt; Claude Code got only the worker's tools
    system = json.dumps(server.requests[0].body["system"])
    assert "You are a **worker**" in system and "# Skill: lab-protocol" in system


def test_claude_researcher_json_block_with_one_repair(claude: dict[str, Any], server: ModelServer, lab: Path) -> None:
    server.add(
        Reply(text=f"I think we should raise the learning rate. My key is {API_KEY}."),
        Reply(
            text='```json\n{"proposals": [{"title": "raise lr", "params": {"lr": 0.2}, '
            '"rationale": "under-trained", "source": "train.py:1"}]}\n```',
            match="could not be used",
        ),
    )
    run = run_claude(claude, "researcher", lab, "propose", {"count": 1})
    assert run.error is None, run.text
    assert run.of("proposal")[0]["params"] == {"lr": 0.2}
    assert run.usage_total("repair_attempts") == 1
    assert API_KEY not in run.text and "[REDACTED]" in run.text


def test_claude_read_only_planner(claude: dict[str, Any], server: ModelServer, lab: Path) -> None:
    server.add(
        Reply(tool_calls=[("Write", {"file_path": str(lab / "train.py"), "content": "x"})]),
        Reply(text='Same as h1.\n```json\n{"decision": "duplicate", "of": "h1", "similarity": 0.97}\n```'),
    )
    run = run_claude(
        claude,
        "planner",
        lab,
        "plan",
        {"hypothesis": {"id": "h3", "title": "lr 0.2"}, "earlier": [{"id": "h1", "title": "raise lr"}]},
    )
    assert run.error is None, run.text
    assert run.of("plan")[0] == {
        "type": "plan",
        "hypothesis": "h3",
        "decision": "duplicate",
        "priority": None,
        "of": "h1",
        "similarity": 0.97,
    }
    assert run.of("tool_call")[0]["ok"] is False and (lab / "train.py").read_text().startswith("lr = 0.1")


def test_claude_dead_server_is_a_clear_error(claude: dict[str, Any], lab: Path) -> None:
    claude["env"]["ANTHROPIC_BASE_URL"] = "http://127.0.0.1:9"
    run = run_backend("claude-code", "researcher", lab, "propose", {"count": 1}, options=claude)
    # one line: who, what (no "BackendError:" prefix, no stderr dump), what to do
    assert run.error is not None and str(run.error).startswith("researcher agent researcher-1: claude error: ")
    assert "\n" not in str(run.error) and "BackendError" not in str(run.error)
    assert str(run.error).endswith(
        "— check that the model endpoint is reachable and the CLI runs (details in the agent's log)"
    )


def test_codex_worker_repairs_and_commits(
    codex: dict[str, Any], server: ModelServer, lab: Path, worktree: Path
) -> None:
    server.add(
        Reply(text="Checking.", tool_calls=[("exec_command", {"cmd": "grep -q 'lr = 0.2' train.py"})]),
        Reply(tool_calls=[("exec_command", {"cmd": "sed -i 's/lr = 0.1/lr = 0.2/' train.py"})]),
        Reply(tool_calls=[("exec_command", {"cmd": "echo gamed > ../escape.txt"})]),
        Reply(text="Done.", cached_tokens=30),
    )
    run = run_codex(codex, "worker", lab, "implement", implement_payload(worktree))
    assert run.error is None, run.text
    assert [(c["tool"], c["ok"]) for c in run.of("tool_call")][:2] == [("run_command", False), ("run_command", True)]
    assert not (lab.parent / "escape.txt").exists()  # codex's workspace-write sandbox
    [commit] = run.of("commit")
    assert git(worktree, "show", "--name-only", "--format=", "HEAD").split() == ["train.py"]
    assert commit["sha"] == git(worktree, "rev-parse", "HEAD").strip()
    assert run.usage_total("input_tokens") == 400 and run.usage_total("cached_tokens") == 30
    assert run.usage_total("output_tokens") == 80 and run.usage_total("cost_usd") > 0
    assert run.usage_total("repair_attempts") == 1
    assert server.requests[0].path == "/v1/responses" and "You are a **worker**" in server.requests[0].last_user


def test_codex_reviewer_verdict_with_repair(codex: dict[str, Any], server: ModelServer, lab: Path) -> None:
    server.add(
        Reply(text="It edits prepare.py, that is gaming."),
        Reply(
            text='```json\n{"verdict": "reject", "reasons": ["diff touches protected prepare.py"]}\n```',
            match="could not be used",
        ),
    )
    run = run_codex(
        codex, "reviewer", lab, "review", {"hypothesis": {"id": "h2"}, "evidence": {"files": ["prepare.py"]}}
    )
    assert run.error is None, run.text
    assert run.of("verdict")[0]["verdict"] == "reject" and run.usage_total("repair_attempts") == 1
    assert OPENAI_KEY not in run.text


def test_codex_missing_json_twice_is_an_error(codex: dict[str, Any], server: ModelServer, lab: Path) -> None:
    server.default = Reply(text="no json here")
    run = run_codex(codex, "planner", lab, "plan", {"hypothesis": {"id": "h2"}})
    assert run.error is not None and "no usable JSON result after a repair attempt" in str(run.error)


def test_missing_cli_or_key_names_role_and_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    for var in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(
        ConfigError,
        match=r"role worker uses backend claude-code but `claude` is not on PATH: "
        r"npm install -g @anthropic-ai/claude-code",
    ):
        check_backend_ready("worker", "claude-code", {})
    with pytest.raises(ConfigError, match=r"role reviewer uses backend codex .* npm install -g @openai/codex"):
        check_backend_ready("reviewer", "codex", {})
    with pytest.raises(ConfigError, match="role researcher uses backend anthropic but ANTHROPIC_API_KEY is not set"):
        check_backend_ready("researcher", "anthropic", {})
    with pytest.raises(ConfigError, match="role planner uses backend openai but OPENAI_API_KEY"):
        check_backend_ready("planner", "openai", {})
    check_backend_ready("planner", "openai", {"base_url": "http://localhost:8000/v1"})  # local server: no key needed
    check_backend_ready("planner", "sweep", {})
    with pytest.raises(ConfigError, match="unknown agent backend"):
        check_backend_ready("planner", "gpt-magic", {})
    run = run_backend("claude-code", "worker", tmp_path, "implement", {})
    assert isinstance(run.error, ConfigError)


def _session(tmp_path: Path) -> tuple[Path, Path]:
    session = tmp_path / "session"
    session.mkdir()
    (session / "events.jsonl").write_text('{"seq": 1, "kind": "session.started"}\n')
    return session, session / "report.md"


def test_claude_reporter_writes_only_its_report(
    claude: dict[str, Any], server: ModelServer, lab: Path, tmp_path: Path
) -> None:
    session, out = _session(tmp_path)
    server.add(
        Reply(tool_calls=[("Read", {"file_path": str(session / "events.jsonl")})]),
        Reply(
            tool_calls=[
                ("Write", {"file_path": str(session / "events.jsonl"), "content": "tampered"}),
                ("Write", {"file_path": str(out), "content": "# Report\nseq 1\n"}),
            ]
        ),
        Reply(text="Written."),
    )
    run = run_claude(claude, "reporter", lab, "report", {"session_dir": str(session), "out": str(out)})
    assert run.error is None, run.text
    assert [c["ok"] for c in run.of("tool_call")] == [True, False, True]
    assert out.read_text() == "# Report\nseq 1\n" and "tampered" not in (session / "events.jsonl").read_text()
    assert run.of("report") == [{"type": "report", "path": str(out)}]


def test_codex_reporter_answer_becomes_the_report(
    codex: dict[str, Any], server: ModelServer, lab: Path, tmp_path: Path
) -> None:
    session, out = _session(tmp_path)
    server.add(Reply(text=f"# Session report\n\nOne event (seq 1). Key {OPENAI_KEY} was used."))
    run = run_codex(codex, "reporter", lab, "report", {"session_dir": str(session), "out": str(out)})
    assert run.error is None, run.text
    text = out.read_text()
    assert text.startswith("# Session report") and OPENAI_KEY not in text and "[REDACTED]" in text


def test_codex_hung_server_times_out_in_seconds_not_exit_143(
    codex: dict[str, Any], server: ModelServer, lab: Path
) -> None:
    server.add(Reply(fault="stall", fault_s=60))
    codex["turn_timeout_s"] = 4
    run = run_codex(codex, "planner", lab, "plan", {"hypothesis": {"id": "h2"}})
    line = str(run.error)
    assert line.startswith("planner agent planner-1: codex timed out after 4 s (stopped with SIGTERM)"), line
    assert "143" not in line and "\n" not in line and "raise turn_timeout_s" in line


def test_claude_server_error_is_one_line(claude: dict[str, Any], server: ModelServer, lab: Path) -> None:
    server.add(
        Reply(status=500, text="upstream exploded"),
        Reply(status=500, text="upstream exploded"),
        Reply(status=500, text="upstream exploded"),
    )
    run = run_backend("claude-code", "researcher", lab, "propose", {"count": 1}, options=claude)
    line = str(run.error)
    assert line.startswith("researcher agent researcher-1: claude error: ") and "\n" not in line, line
    assert "BackendError" not in line and "Traceback" not in run.text


def _instructions(tmp_path: Path) -> dict[str, Any]:
    """The options the console hands a worker for ``[lab] instructions`` (a session blob and its sha256)."""
    text = "# program.md\n\nOnly ever change lr; never touch steps. (marker b23-instructions)\n"
    blob = tmp_path / "instructions-blob"
    blob.write_text(text)
    digest = hashlib.sha256(text.encode()).hexdigest()
    return {"instructions_file": str(blob), "instructions_sha256": digest, "instructions_path": "program.md"}


def test_claude_worker_gets_the_instructions_in_its_system_prompt(
    claude: dict[str, Any], server: ModelServer, lab: Path, worktree: Path, tmp_path: Path
) -> None:
    server.add(Reply(text="Done."))
    options = {**claude, **_instructions(tmp_path)}
    run_backend("claude-code", "worker", lab, "implement", implement_payload(worktree), options=options)
    system = json.dumps(server.requests[0].body["system"])
    assert "You are a **worker**" in system
    assert "## The person's instructions (program.md)" in system and "marker b23-instructions" in system


def test_codex_worker_gets_the_instructions_ahead_of_its_task(
    codex: dict[str, Any], server: ModelServer, lab: Path, worktree: Path, tmp_path: Path
) -> None:
    server.add(Reply(text="Done."))
    options = {**codex, **_instructions(tmp_path)}
    run_codex(options, "worker", lab, "implement", implement_payload(worktree))
    first = server.requests[0].last_user
    assert "## The person's instructions (program.md)" in first and "marker b23-instructions" in first
    assert first.index("marker b23-instructions") < first.index("Task t1 (implement)")
