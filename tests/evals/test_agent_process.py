"""The runner driving real agent processes over the JSONL protocol (a test-only backend), and resume
after the runner is killed mid-run."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from evals.conftest import AGENT_CMD, write_suite
from labconsole.cli import main
from labconsole.evals import load_results
from labconsole.events import kinds as K
from labconsole.events.log import read_events

ROOT = Path(__file__).resolve().parents[2]


def eval_args(skills: Path, evals: Path, out: Path, *extra: str) -> list[str]:
    return [
        "eval",
        "answer-skill",
        "--skills-root",
        str(skills),
        "--evals-root",
        str(evals),
        "--out",
        str(out),
        "--agent-cmd",
        AGENT_CMD,
        *extra,
    ]


def test_agent_processes_measure_a_positive_lift(tmp_path, capsys):
    skills, evals = write_suite(tmp_path)
    out = tmp_path / "out"
    rc = main(
        eval_args(
            skills,
            evals,
            out,
            "--models",
            "skillcheck:m1,skillcheck:m2",
            "--concurrency",
            "3",
            "--no-trackio",
            "--json",
        )
    )
    assert rc == 0
    data = json.loads(capsys.readouterr().out)
    assert [s["lift"] for s in data["summary"]] == [1.0, 1.0]
    res = load_results(out)
    assert len(res.records) == 8
    for r in res.records:
        assert r.agent_ok, r.agent_error
        assert (r.usage.tool_calls, r.usage.repair_attempts, r.usage.cached_tokens) == (3, 1, 200)
        assert r.usage.input_tokens == (1000 if r.with_skill else 600)
        assert r.status == ("pass" if r.with_skill else "fail")
        lines = [json.loads(x) for x in (out / r.transcript).read_text().splitlines()]
        task = next(x["msg"] for x in lines if x["dir"] == "to-agent" and x["msg"]["type"] == "task")
        assert task["kind"] == "implement" and task["payload"]["instructions"].startswith("Write the answer")
        spec = (out / "labs" / r.attempt_id / "agents" / "worker.md").read_text()
        assert ("answer-skill" in spec) == r.with_skill and "lab-protocol" in spec  # only the skill under test toggles
        assert any(x["msg"].get("type") == "done" for x in lines if x["dir"] == "from-agent")
    s = data["summary"][0]["with_skill"]
    assert s["cost_per_pass"] == 0.003 and s["input_tokens"] == 2000


def _attempt_events(out: Path, kind: str) -> list[str]:
    return [e.data["attempt_id"] for e in read_events(out) if e.kind == kind]


def test_resume_after_the_runner_is_killed(tmp_path):
    skills, evals = write_suite(tmp_path)
    out = tmp_path / "out"
    env = {**os.environ, "FAKE_AGENT_DELAY": "0.6", "TRACKIO_DIR": str(tmp_path / "trackio"), "PYTHONPATH": str(ROOT)}
    cmd = [
        sys.executable,
        "-c",
        "import sys; from labconsole.cli import main; sys.exit(main(sys.argv[1:]))",
        *eval_args(skills, evals, out, "--models", "skillcheck:m", "--concurrency", "1"),
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 30
    done_before: list[str] = []
    while time.monotonic() < deadline:
        if (out / "events.jsonl").exists():
            done_before = _attempt_events(out, K.EVAL_ATTEMPT)
            if len(done_before) >= 1:
                break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the runner's own group (agents run in groups of their own)
    proc.wait()
    assert 1 <= len(done_before) < 4, "the kill must land mid-run"
    done_before = _attempt_events(out, K.EVAL_ATTEMPT)

    env["FAKE_AGENT_DELAY"] = "0"
    rerun = subprocess.run(cmd + ["--resume"], env=env, capture_output=True, text=True, timeout=60)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{4 - len(done_before)} attempts run, {len(done_before)} already done" in rerun.stderr

    finished = _attempt_events(out, K.EVAL_ATTEMPT)
    started = _attempt_events(out, K.EVAL_ATTEMPT_STARTED)
    assert len(finished) == len(set(finished)) == 4, "every attempt finished exactly once"
    assert all(started.count(a) == 1 for a in done_before), "completed attempts were not run again"
    interrupted = _attempt_events(out, K.EVAL_ATTEMPT_INTERRUPTED)
    assert all(started.count(a) == 2 for a in interrupted)
    res = load_results(out)
    assert res.finished and not res.in_progress and res.summaries[0].lift == 1.0
    # One Trackio run per finished attempt (also those whose run the kill cut off), in a hermetic TRACKIO_DIR.
    db = tmp_path / "trackio" / "labconsole-eval-answer-skill.db"
    names = {row[0] for row in sqlite3.connect(db).execute("select run_name from configs")}
    assert {f"out/{a}" for a in finished} <= names  # run names carry the result set (the --out folder)
