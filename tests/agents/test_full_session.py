"""A full session with scripted LLM agents through the lead's Lab service: the researcher
proposes, the planner rejects a duplicate, a worker edits and commits, the console measures,
the reviewer flags a worker that edited a protected file, and the budget pauses agents."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from agents.conftest import API_KEY, OPENAI_KEY
from helpers.model_server import ModelServer, Reply
from labconsole.cli.headless import run_headless
from labconsole.events.log import Event, read_events
from labconsole.lab import state as S
from labconsole.lab.service import Lab

pytestmark = pytest.mark.slow

TRAIN = """import json
from prepare import SCALE
LR = 0.1
json.dump({"val_bpb": SCALE * (2.0 - LR)}, open("result.json", "w"))
"""

ROLE = {r: f"**{r}**" for r in ("researcher", "planner", "worker", "reviewer", "reporter")}


def make_lab(root: Path, url: str, budget: str = "") -> Path:
    root.mkdir()
    (root / "train.py").write_text(TRAIN)
    (root / "prepare.py").write_text("SCALE = 1.0\n")
    (root / ".gitignore").write_text("result.json\n__pycache__/\n")
    anthropic = f'options = {{ base_url = "{url}", max_retries = 0 }}'
    openai = f'options = {{ base_url = "{url}/v1", max_retries = 0 }}'
    (root / "lab.toml").write_text(f"""[lab]
name = "scripted"
[objective]
name = "val_bpb"
direction = "minimize"
command = "python train.py"
metric = "json:result.json#val_bpb"
timeout_s = 30
repeats = 2
protected = ["prepare.py", "lab.toml"]
[search]
budget = 3
[budget]
{budget}
[agents]
researcher = {{ backend = "anthropic", model = "claude-sonnet-4-6", {anthropic} }}
planner = {{ backend = "openai", model = "gpt-4o", {openai} }}
worker = {{ backend = "anthropic", model = "claude-sonnet-4-6", {anthropic} }}
reviewer = {{ backend = "openai", model = "gpt-4o", {openai} }}
reporter = {{ backend = "anthropic", model = "claude-sonnet-4-6", {anthropic} }}
""")
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "."],
        ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "baseline"],
    ):
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)
    return root


def propose(title: str, params: dict) -> Reply:
    return Reply(
        context=ROLE["researcher"],
        match="(propose) for the researcher",
        tool_calls=[("propose", {"title": title, "params": params, "rationale": "why", "source": "train.py"})],
    )


# What each role's first turn of a task says (its prompt names the task kind).
FIRST_TURN = {
    r: f"({k}) for the {r}"
    for r, k in (("planner", "plan"), ("worker", "implement"), ("reviewer", "review"), ("reporter", "report"))
}


def first_turn(role: str, *calls: tuple[str, dict]) -> Reply:
    """The model's reply to ``role``'s first turn of a task: these tool calls."""
    return Reply(context=ROLE[role], match=FIRST_TURN[role], tool_calls=list(calls))


def script() -> list[Reply]:
    return [
        propose("raise LR to 0.2", {"LR": 0.2}),
        propose("LR 0.2 once more", {"LR": 0.2}),
        propose("rescale the loss", {"SCALE": 0.5}),
        first_turn("planner", ("decide", {"decision": "queue", "priority": 0.8, "reason": "new"})),
        first_turn(
            "planner", ("decide", {"decision": "duplicate", "of": "h001", "similarity": 1.0, "reason": "same LR"})
        ),
        first_turn("planner", ("decide", {"decision": "queue", "priority": 0.5, "reason": "new"})),
        # worker, h001: a clean edit; h003: games the metric by editing protected prepare.py from the shell
        first_turn("worker", ("edit_file", {"path": "train.py", "old_string": "LR = 0.1", "new_string": "LR = 0.2"})),
        first_turn("worker", ("run_command", {"command": "sed -i 's/SCALE = 1.0/SCALE = 0.5/' prepare.py"})),
        Reply(context=ROLE["worker"], match="edited train.py", tool_calls=[("commit", {"message": "LR 0.2"})]),
        Reply(context=ROLE["worker"], match="exit code 0", tool_calls=[("commit", {"message": "rescale"})]),
        # reviewer: its verdict follows the evidence the console measured
        Reply(
            context=ROLE["reviewer"],
            match='"protected_changes": []',
            tool_calls=[("verdict", {"verdict": "pass", "reasons": ["better than baseline, protected files intact"]})],
        ),
        first_turn(
            "reviewer", ("verdict", {"verdict": "reject", "reasons": ["gamed: the diff edits protected prepare.py"]})
        ),
        first_turn(
            "reporter",
            ("read_file", {"path": "events.jsonl", "limit": 5}),
            ("write_file", {"path": "report.md", "content": "# Report\nh001 measured; h003 gamed.\n"}),
        ),
    ]


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)


def test_scripted_llm_session(tmp_path: Path, keys: None) -> None:
    with ModelServer(script(), default=Reply(text="Done.")) as server:
        lab = Lab.start_session(make_lab(tmp_path / "lab", server.url))
        session_dir = lab.session_dir
        try:
            state = run_headless(lab, timeout_s=90, echo=False)
        finally:
            lab.close()
    hyps = state.hypotheses
    assert [h.title for h in hyps.values()] == ["raise LR to 0.2", "LR 0.2 once more", "rescale the loss"]
    assert hyps["h002"].status == S.DUPLICATE
    events = list(read_events(session_dir))
    dup = next(e for e in events if e.kind == "hypothesis.duplicate")
    assert dup.data["of"] == "h001" and dup.actor == "agent:planner"
    # the worker committed; the console measured the commits itself
    for hid in ("h001", "h003"):
        assert hyps[hid].status == S.AWAITING_HUMAN, (hid, hyps[hid].status)
        runs = [state.runs[r] for r in hyps[hid].run_ids]
        assert {r.commit for r in runs if r.role == "candidate"} == {hyps[hid].sha}
    assert hyps["h001"].evidence["candidate_median"] == pytest.approx(1.8)
    verdicts = {e.data["hyp_id"]: e.data for e in events if e.kind == "review.verdict"}
    assert verdicts["h001"]["verdict"] == "pass"
    assert verdicts["h003"]["verdict"] == "reject" and "protected" in verdicts["h003"]["reasons"][0]
    # the worker was warned about its own protected edit, and the refusal-free shell edit is visible
    assert any(e.kind == "agent.log" and "protected files: prepare.py" in e.data["text"] for e in events)
    assert (session_dir / "report.md").read_text().startswith("# Report")
    # usage per role, with cost; no key anywhere in the log
    usage = [e.data for e in events if e.kind == "agent.usage"]
    assert {u["role"] for u in usage} == {"researcher", "planner", "worker", "reviewer", "reporter"}
    assert sum(u["cost_usd"] for u in usage) > 0 and sum(u["tool_calls"] for u in usage) >= 10
    log_text = (session_dir / "events.jsonl").read_text()
    assert API_KEY not in log_text and OPENAI_KEY not in log_text


def test_budget_pauses_agents(tmp_path: Path, keys: None) -> None:
    """Each model call costs 120 tokens: the second passes 80% of 300, the third exhausts it."""
    seen: list[Event] = []
    with ModelServer(script(), default=Reply(text="Done.")) as server:
        lab = Lab.start_session(make_lab(tmp_path / "lab", server.url, budget="tokens = 300"))
        at_exhaustion: list[int] = []

        def watch(event: Event, state: object) -> None:
            seen.append(event)
            if event.kind == "budget.exhausted":
                at_exhaustion.append(len(server.requests))

        lab.subscribe(watch)
        try:
            lab.start()

            def paused() -> set[str]:
                return {
                    e.data["agent_id"]
                    for e in list(seen)
                    if e.kind == "agent.status" and e.data.get("state") == "paused"
                }

            deadline = time.monotonic() + 30
            while not {"researcher", "planner", "worker-1", "reviewer", "reporter"} <= paused():
                assert time.monotonic() < deadline, [e.kind for e in seen]
                time.sleep(0.05)
            # a model call already under way when the pause arrived may finish; then nothing more
            time.sleep(1.0)
            calls_when_paused = len(server.requests)
            time.sleep(1.0)
            assert len(server.requests) == calls_when_paused
        finally:
            lab.stop()
            lab.close()
    kinds = [e.kind for e in seen]
    assert kinds.index("budget.warning") < kinds.index("budget.exhausted")
    exhausted = next(e for e in seen if e.kind == "budget.exhausted")
    assert exhausted.data["resource"] == "tokens" and exhausted.data["used"] >= 300
    # the calls that spent the budget, plus at most one already under way per other agent: no agent starts
    # a second call once the exhaustion is on record (a fixed total raced with agent start-up under load)
    assert calls_when_paused <= at_exhaustion[0] + 4
