"""The anthropic and openai backends against the scripted server, through the real SDKs:
tool loop, streaming, prompt caching, usage and cost, confinement, redaction, results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agents.conftest import API_KEY, OPENAI_KEY, git, implement_payload, propose_one, run_backend
from helpers.agent_proc import AgentProc
from helpers.model_server import ModelServer, Reply

BACKENDS = ["anthropic", "openai"]
MODELS = {"anthropic": "claude-sonnet-4-6", "openai": "gpt-4o"}


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, anthropic_env: ModelServer, openai_env: ModelServer) -> str:
    return request.param


def test_researcher_reads_then_proposes(backend: str, lab: Path, server: ModelServer) -> None:
    server.add(
        Reply(text="Let me look.", tool_calls=[("read_file", {"path": "train.py"}), ("search", {"pattern": "lr"})]),
        Reply(
            tool_calls=[
                (
                    "propose",
                    {
                        "title": "raise lr",
                        "params": {"lr": 0.2},
                        "rationale": "under-trained",
                        "source": "train.py:1",
                        "priority": 0.7,
                    },
                )
            ],
            cached_tokens=50,
        ),
        Reply(text="Done."),
    )
    run = run_backend(
        backend, "researcher", lab, "propose", {"count": 1, "objective": {"name": "val_bpb"}}, model=MODELS[backend]
    )
    assert run.error is None, run.text
    [proposal] = run.of("proposal")
    assert proposal["params"] == {"lr": 0.2} and proposal["source"] == "train.py:1" and proposal["priority"] == 0.7
    assert [(c["tool"], c["ok"]) for c in run.of("tool_call")] == [
        ("read_file", True),
        ("search", True),
        ("propose", True),
    ]
    # usage per turn, tokens and cost from the price table
    assert len(run.of("usage")) == 3
    assert run.usage_total("input_tokens") == 300 and run.usage_total("output_tokens") == 60
    assert run.usage_total("cached_tokens") == 50 and run.usage_total("tool_calls") == 3
    assert run.usage_total("cost_usd") > 0
    # the tool result went back to the model
    assert "lr = 0.1" in server.requests[1].last_user and "train.py:1: lr = 0.1" in server.requests[1].last_user
    assert all(r.body.get("stream") for r in server.requests)  # streamed


def test_anthropic_prompt_caching_and_key(lab: Path, anthropic_env: ModelServer) -> None:
    anthropic_env.add(
        Reply(tool_calls=[("decide", {"decision": "queue", "priority": 0.4, "reason": "new"})]), Reply(text="ok")
    )
    run = run_backend("anthropic", "planner", lab, "plan", {"hypothesis": {"id": "h2", "title": "x"}, "earlier": []})
    assert run.error is None, run.text
    body, headers = anthropic_env.requests[0].body, anthropic_env.requests[0].headers
    assert body["system"][-1]["cache_control"] == {"type": "ephemeral"}
    assert (
        "You are the **planner**" in body["system"][0]["text"] and "# Skill: lab-protocol" in body["system"][0]["text"]
    )
    assert body["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    assert {t["name"] for t in body["tools"]} == {"read_file", "list_files", "search", "decide"}  # read-only
    assert API_KEY in (headers.get("x-api-key", "") + headers.get("authorization", ""))
    assert run.of("plan") == [
        {"type": "plan", "hypothesis": "h2", "decision": "queue", "priority": 0.4, "of": None, "similarity": None}
    ]


def test_worker_repairs_edits_and_commits(backend: str, lab: Path, worktree: Path, server: ModelServer) -> None:
    server.add(
        Reply(tool_calls=[("run_command", {"command": "grep -q 'lr = 0.2' train.py"})]),
        Reply(tool_calls=[("edit_file", {"path": "train.py", "old_string": "lr = 0.1", "new_string": "lr = 0.2"})]),
        Reply(tool_calls=[("run_command", {"command": "grep -q 'lr = 0.2' train.py"})]),
        Reply(tool_calls=[("commit", {"message": "h1: raise lr to 0.2"})]),
        Reply(text="Committed."),
    )
    run = run_backend(backend, "worker", lab, "implement", implement_payload(worktree), model=MODELS[backend])
    assert run.error is None, run.text
    [commit] = run.of("commit")
    assert commit["hypothesis"] == "h1" and commit["message"] == "h1: raise lr to 0.2"
    assert git(worktree, "rev-parse", "HEAD").strip() == commit["sha"]
    assert git(worktree, "show", "--stat", "--format=", "HEAD").strip().startswith("train.py")
    assert [c["ok"] for c in run.of("tool_call")] == [False, True, True, True]
    assert run.usage_total("repair_attempts") == 1  # failed check → edit fixed it


def test_confinement_refusals_are_events(
    backend: str, lab: Path, worktree: Path, server: ModelServer, tmp_path: Path
) -> None:
    server.add(
        Reply(
            tool_calls=[
                ("write_file", {"path": str(tmp_path / "escape.txt"), "content": "x"}),
                ("edit_file", {"path": "prepare.py", "old_string": "fixed", "new_string": "easy"}),
                ("read_file", {"path": "/etc/hostname"}),
                ("run_command", {"command": "echo x > /tmp/escape.txt"}),
            ]
        ),
        Reply(tool_calls=[("write_file", {"path": "train.py", "content": "lr = 0.2\nsteps = 100\n"})]),
        Reply(tool_calls=[("commit", {"message": "h1"})]),
        Reply(text="ok"),
    )
    run = run_backend(
        backend,
        "worker",
        lab,
        "implement",
        implement_payload(worktree),
        model=MODELS[backend],
        options={"bwrap": False},
    )
    assert run.error is None, run.text
    calls = run.of("tool_call")
    assert [c["ok"] for c in calls[:4]] == [False, False, False, False]
    assert all(c["error"].startswith("refused: ") for c in calls[:4])
    refusals = [m["text"] for m in run.of("log") if m["text"].startswith("refused: ")]
    assert len(refusals) == 4 and "protected file: prepare.py" in refusals[1]
    assert not (tmp_path / "escape.txt").exists() and (worktree / "prepare.py").read_text() == "DATA = 'fixed'\n"
    assert "refused:" in server.requests[1].last_user  # the model is told


def test_read_only_roles_cannot_write(backend: str, lab: Path, server: ModelServer) -> None:
    server.add(
        Reply(
            tool_calls=[
                ("write_file", {"path": "train.py", "content": "x"}),
                ("run_command", {"command": "git commit -am x"}),
            ]
        ),
        Reply(tool_calls=[("verdict", {"verdict": "reject", "reasons": ["stale evidence"]})]),
        Reply(text="done"),
    )
    run = run_backend(
        backend,
        "reviewer",
        lab,
        "review",
        {"hypothesis": {"id": "h1"}, "evidence": {}},
        model=MODELS[backend],
        options={"bwrap": False},
    )
    assert run.error is None, run.text
    assert [c["ok"] for c in run.of("tool_call")] == [False, False, True]
    assert "not available to this role" in run.of("tool_call")[0]["error"]
    assert run.of("verdict")[0]["reasons"] == ["stale evidence"]
    offered = server.requests[0].body["tools"]
    names = {t.get("name") or t["function"]["name"] for t in offered}
    assert "write_file" not in names and "commit" not in names


def test_secrets_are_redacted(backend: str, lab: Path, server: ModelServer) -> None:
    (lab / "leak.txt").write_text(f"keys: {API_KEY} {OPENAI_KEY}\n")
    server.add(
        Reply(text=f"I found {API_KEY}", tool_calls=[("read_file", {"path": "leak.txt"})]),
        Reply(
            tool_calls=[
                ("propose", {"title": f"use {OPENAI_KEY}", "params": {"k": API_KEY}, "rationale": "r", "source": "s"})
            ]
        ),
        Reply(text="done"),
    )
    run = propose_one(backend, lab, model=MODELS[backend])
    assert run.error is None, run.text
    assert API_KEY not in run.text and OPENAI_KEY not in run.text and "[REDACTED]" in run.text


def test_model_that_forgets_its_result_is_reminded_once(backend: str, lab: Path, server: ModelServer) -> None:
    server.add(
        Reply(text="Looks like a duplicate to me."),
        Reply(
            tool_calls=[("decide", {"decision": "duplicate", "of": "h1", "similarity": 0.93, "reason": "same lr"})],
            match="You have not decided",
        ),
        Reply(text="ok"),
    )
    run = run_backend(
        backend,
        "planner",
        lab,
        "plan",
        {"hypothesis": {"id": "h4", "title": "lr 0.2"}, "earlier": []},
        model=MODELS[backend],
    )
    assert run.error is None, run.text
    assert run.of("plan")[0]["decision"] == "duplicate" and run.of("plan")[0]["of"] == "h1"
    assert run.usage_total("repair_attempts") == 1


def test_no_result_at_all_is_an_error(backend: str, lab: Path, server: ModelServer) -> None:
    server.default = Reply(text="I would rather not.")
    run = run_backend(backend, "reviewer", lab, "review", {"hypothesis": {"id": "h1"}}, model=MODELS[backend])
    assert run.error is not None and "without a result" in str(run.error)


def test_bad_result_is_sent_back_for_repair(backend: str, lab: Path, server: ModelServer) -> None:
    server.add(
        Reply(tool_calls=[("propose", {"title": "two things", "params": {}, "rationale": "r", "source": "s"})]),
        Reply(tool_calls=[("propose", {"title": "one thing", "params": {"lr": 0.3}, "rationale": "r", "source": "s"})]),
        Reply(text="ok"),
    )
    run = propose_one(backend, lab, model=MODELS[backend])
    assert run.error is None and len(run.of("proposal")) == 1
    assert "params" in run.of("tool_call")[0]["error"]


def test_reporter_writes_only_its_out_file(backend: str, lab: Path, server: ModelServer, tmp_path: Path) -> None:
    session = tmp_path / "session"
    session.mkdir()
    (session / "events.jsonl").write_text('{"seq": 1, "kind": "session.started"}\n')
    out = session / "report.md"
    server.add(
        Reply(
            tool_calls=[
                ("read_file", {"path": "events.jsonl"}),
                ("write_file", {"path": "events.jsonl", "content": "tampered"}),
            ]
        ),
        Reply(tool_calls=[("write_file", {"path": str(out), "content": "# Report\nseq 1: started\n"})]),
        Reply(text="written"),
    )
    run = run_backend(
        backend, "reporter", lab, "report", {"session_dir": str(session), "out": str(out)}, model=MODELS[backend]
    )
    assert run.error is None, run.text
    assert [c["ok"] for c in run.of("tool_call")] == [True, False, True]
    assert run.of("report") == [{"type": "report", "path": str(out)}]
    assert (session / "events.jsonl").read_text().startswith('{"seq"')


def test_openai_without_streaming_and_price_override(lab: Path, openai_env: ModelServer) -> None:
    openai_env.add(
        Reply(
            tool_calls=[("propose", {"title": "t", "params": {"a": 1}, "rationale": "r", "source": "s"})],
            input_tokens=1_000_000,
            output_tokens=0,
        ),
        Reply(text="ok", input_tokens=0, output_tokens=0),
    )
    run = propose_one(
        "openai",
        lab,
        model="local-llama",
        options={"stream": False, "prices": {"local-llama": {"input": 0.5, "output": 1.0}}},
    )
    assert run.error is None, run.text
    assert not openai_env.requests[0].body.get("stream")
    assert run.usage_total("cost_usd") == pytest.approx(0.5)


def test_unpriced_model_costs_zero_with_a_warning(lab: Path, openai_env: ModelServer) -> None:
    openai_env.add(
        Reply(tool_calls=[("propose", {"title": "t", "params": {"a": 1}, "rationale": "r", "source": "s"})]),
        Reply(text="ok"),
    )
    run = propose_one("openai", lab, model="qwen-local")
    assert run.error is None and run.usage_total("cost_usd") == 0
    assert any("no price for model 'qwen-local'" in m["text"] for m in run.of("log"))


def test_api_error_becomes_a_task_error(lab: Path, anthropic_env: ModelServer) -> None:
    anthropic_env.add(Reply(status=400, text="bad request from the stub"))
    run = propose_one("anthropic", lab, options={"max_retries": 0})
    assert run.error is not None and "bad request from the stub" in str(run.error)


def test_runner_protocol_end_to_end(lab: Path, server: ModelServer) -> None:
    """The real agent process: hello, task, events, done — over stdin/stdout."""
    server.add(
        Reply(tool_calls=[("propose", {"title": "t", "params": {"a": 1}, "rationale": "r", "source": "s"})]),
        Reply(text="ok"),
    )
    env = {"OPENAI_API_KEY": OPENAI_KEY}
    with AgentProc(
        "researcher", "openai", lab, model="gpt-4o", env=env, options={"base_url": server.url + "/v1"}
    ) as agent:
        assert agent.wait_for("hello")["backend"] == "openai"
        assert agent.run_task("propose", {"count": 1})["type"] == "done"
        assert agent.of("proposal")[0]["params"] == {"a": 1}
    assert OPENAI_KEY not in json.dumps(agent.lines)
