"""End to end: ``labconsole eval`` -> the real ``openai`` backend process -> the scripted model server.

The scripted model writes a valid proposal only when the request carries the lab-protocol skill
(and an invalid two-change proposal otherwise), so the measured lift must be positive.
"""

from __future__ import annotations

import json
from pathlib import Path

from helpers.model_server import ModelServer, Reply
from labconsole.cli import main
from labconsole.evals import load_results

ROOT = Path(__file__).resolve().parents[2]
GOOD = {
    "type": "proposal",
    "title": "Weight decay 0.1",
    "params": {"weight_decay": 0.1},
    "rationale": "untested axis after h-2 and h-3",
    "source": "history h-2, h-3",
}
BAD = {
    "type": "proposal",
    "title": "Tune lr and decay",
    "params": {"lr": 0.01, "weight_decay": 0.1},
    "rationale": "both look off",
    "source": "intuition",
}
SKILL = "# Skill: lab-protocol"  # skill_text() heads the payload's skill block with this


def script(server: ModelServer) -> None:
    for ctx, proposal in ((SKILL, GOOD), (None, BAD)):
        server.add(
            Reply(
                context=ctx,
                tool_calls=[("write_file", {"path": "proposal.jsonl", "content": json.dumps(proposal) + "\n"})],
            ),
            Reply(context=ctx, tool_calls=[("commit", {"message": "t-41: proposal"})]),
            Reply(context=ctx, text="Proposal written."),
        )


def _eval(tmp_path: Path, model: str, *extra: str, max_retries: int | None = 0) -> int:
    """``labconsole eval lab-protocol`` on the emit-proposal case (no sandbox, no Trackio), results in out/."""
    retries = [] if max_retries is None else ["--agent-option", f"max_retries={max_retries}"]
    return main(
        [
            "eval",
            "lab-protocol",
            "--cases",
            "emit-proposal",
            "--models",
            model,
            "--out",
            str(tmp_path / "out"),
            "--skills-root",
            str(ROOT / "skills"),
            "--evals-root",
            str(ROOT / "evals"),
            "--no-trackio",
            "--agent-option",
            "bwrap=false",
            *retries,
            *extra,
        ]
    )


def test_openai_backend_against_scripted_server_shows_lift(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-local")
    with ModelServer() as server:
        script(server)
        model = f"openai:scripted-model@{server.url}/v1"
        rc = _eval(tmp_path, model, "--concurrency", "2", "--agent-option", "stream=true", "--json", max_retries=None)
        assert rc == 0
        requests = list(server.requests)
    data = json.loads(capsys.readouterr().out)
    res = load_results(tmp_path / "out")
    by_arm = {r.with_skill: r for r in res.records}
    assert by_arm[True].status == "pass", by_arm[True].checks
    assert by_arm[False].status == "fail"
    assert {c.name: c.status for c in by_arm[False].checks}["valid-proposal"] == "fail"
    assert data["summary"][0]["lift"] == 1.0
    for r in res.records:
        assert r.agent_ok, r.agent_error
        assert r.usage.input_tokens == 300 and r.usage.output_tokens == 60 and r.usage.tool_calls == 2
    # The skill reached the model only in the with-skill arm.
    with_skill = [q for q in requests if SKILL in json.dumps(q.body)]
    assert len(with_skill) == 3 and len(requests) == 6


def test_unreachable_server_is_an_infra_error_not_a_skill_failure(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-local")
    assert _eval(tmp_path, "openai:scripted-model@http://127.0.0.1:9/v1") == 1
    err = capsys.readouterr().err
    assert "2 attempt(s) ended in an infrastructure error" in err
    assert "cannot reach the model server at http://127.0.0.1:9/v1" in err
    res = load_results(tmp_path / "out")
    assert [r.status for r in res.records] == ["error", "error"] and all(not r.checks for r in res.records)
    assert res.summaries[0].with_skill.pass_rate is None  # not a 0% skill


def test_server_errors_with_allow_errors_exit_zero(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-local")
    with ModelServer(default=Reply(status=500, text="overloaded")) as server:
        assert _eval(tmp_path, f"openai:scripted-model@{server.url}/v1", "--allow-errors") == 0
    out = capsys.readouterr().out
    assert "infrastructure errors (2, excluded from the pass rates):" in out and "HTTP 500: overloaded" in out


def test_missing_key_is_an_infra_error(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert _eval(tmp_path, "codex:gpt-5.5", "--agent-option", 'cli_path="/nonexistent/codex"') == 1
    err = capsys.readouterr().err
    assert "infrastructure error" in err and "npm install -g @openai/codex" in err
