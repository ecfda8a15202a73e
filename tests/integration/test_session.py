"""A full offline session with real agent subprocesses, real git and real runs; then the human gate."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.waiting import wait_for

from labconsole.cli import main
from labconsole.errors import GateError, SessionLockedError
from labconsole.events.audit import verify_session
from labconsole.events.log import read_events
from labconsole.lab import state as S
from labconsole.lab.service import Lab
from labconsole.cli.headless import run_headless
from conftest import headless_session  # type: ignore[import-not-found]

pytestmark = pytest.mark.slow


def git(lab: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=lab, check=True, capture_output=True, text=True).stdout.strip()


def test_headless_session_then_cli_approval_and_merge(demo_lab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state, session_dir = headless_session(demo_lab)
    assert len(state.hypotheses) == 2
    assert all(h.status in (S.AWAITING_HUMAN, S.FAILED, S.DUPLICATE) for h in state.hypotheses.values())
    assert (session_dir / "report.md").exists() and "Leaderboard" in (session_dir / "report.md").read_text()
    # every candidate was measured by the console on its exact commit, interleaved with the baseline
    for h in state.hypotheses.values():
        if h.status == S.AWAITING_HUMAN:
            runs = [state.runs[r] for r in h.run_ids]
            assert {r.commit for r in runs if r.role == "candidate"} == {h.sha}
            assert {r.commit for r in runs if r.role == "baseline"} == {h.base_sha}
            assert [r.role for r in runs][:2] == ["baseline", "candidate"] and [r.role for r in runs][2:4] == [
                "candidate",
                "baseline",
            ]
    # agents are gone, every agent has its own log
    assert all(a.state in ("stopped", "crashed") for a in state.agents.values())
    assert (session_dir / "agents" / "worker-1.log").exists()

    waiting = [h for h in state.leaderboard() if h.status == S.AWAITING_HUMAN]
    best = waiting[0]
    rc = main(
        ["review", "approve", best.hyp_id, "--lab", str(demo_lab), "--yes", "--reason", "test", "--who", "tester"]
    )
    assert rc == 0
    rc = main(["merge", best.hyp_id, "--lab", str(demo_lab), "--who", "tester"])
    assert rc == 0
    assert git(demo_lab, "log", "-1", "--format=%s").startswith(f"Merge {best.hyp_id}")
    assert git(demo_lab, "rev-parse", "HEAD^2") == best.sha
    assert verify_session(session_dir).ok
    kinds = [e.kind for e in read_events(session_dir)]
    assert kinds.count("decision.approved") == 1 and kinds.count("merge.completed") == 1
    approval = next(e for e in read_events(session_dir) if e.kind == "decision.approved")
    assert approval.actor == "human:tester" and approval.data["sha"] == best.sha
    # the worktree was cleaned up; the branch is merged so nothing needed archiving
    assert not Path(best.worktree or "/nonexistent").exists()

    # merging an unapproved candidate is refused, and so is a second merge
    capsys.readouterr()
    assert main(["merge", best.hyp_id, "--lab", str(demo_lab)]) == 2
    assert "already merged" in capsys.readouterr().err

    # A second session numbers after the first and never re-runs one of its experiments.
    state2, _ = headless_session(demo_lab)
    assert sorted(state2.hypotheses) == ["h003", "h004"]
    first_changes = [h.params for h in state.hypotheses.values()]
    for h in state2.hypotheses.values():
        assert h.params not in first_changes or (h.status == S.DUPLICATE and h.duplicate_of in state.hypotheses)

    # Resuming after lab.toml changed is refused unless the person accepts it.
    (demo_lab / "lab.toml").write_text((demo_lab / "lab.toml").read_text().replace("timeout_s = 60", "timeout_s = 61"))
    git(demo_lab, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "longer timeout")
    capsys.readouterr()
    assert main(["run", "--resume", "--headless", "--lab", str(demo_lab), "--timeout", "1"]) == 2
    assert "lab.toml changed since session" in capsys.readouterr().err


def test_approval_binds_the_commit_and_agents_cannot_approve(demo_lab: Path) -> None:
    lab = Lab.start_session(demo_lab)
    try:
        state = run_headless(lab, timeout_s=240, echo=False)
        h = next(h for h in state.hypotheses.values() if h.status == S.AWAITING_HUMAN)
        # the branch moves after measurement: approval is refused
        wt = Path(h.worktree)
        (wt / "train.py").write_text((wt / "train.py").read_text() + "\n# sneaky\n")
        git(wt, "-c", "user.name=x", "-c", "user.email=x@x", "commit", "-qam", "sneaky")
        with pytest.raises(GateError, match="not the measured commit"):
            lab.approve(h.hyp_id, "tester", confirm_flags=True)
        # the protocol has no message an agent could use to decide
        from labconsole.agents.supervisor import KNOWN_TYPES

        assert not {"approve", "merge", "decision", "reject"} & KNOWN_TYPES
    finally:
        lab.close()


def test_second_console_on_the_same_session_is_refused(demo_lab: Path) -> None:
    lab = Lab.start_session(demo_lab)
    try:
        with pytest.raises(SessionLockedError, match="already open by another console"):
            Lab.open_session(demo_lab, lab.session_id)
    finally:
        lab.close()


def test_kill_9_of_the_console_then_resume_loses_nothing(demo_lab: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "labconsole.cli", "run", "--headless", "--lab", str(demo_lab)]
    console = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sessions = demo_lab / "sessions"

    def log_lines() -> list[str]:
        found = list(sessions.glob("*/events.jsonl"))
        return found[0].read_text().splitlines() if found else []

    # Kill it while a measurement is under way.
    wait_for(lambda: any('"run.finished"' in line for line in log_lines()), 120, "a run to finish")
    before = log_lines()
    console.send_signal(signal.SIGKILL)
    console.wait()
    session_dir = next(sessions.iterdir())

    resumed = subprocess.run([*cmd, "--resume"], env=env, capture_output=True, text=True, timeout=400)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    after = (session_dir / "events.jsonl").read_text().splitlines()
    # nothing written before the kill was lost (a torn last line may have been cut and recorded)
    repaired = [json.loads(line) for line in after if '"log.repaired"' in line]
    kept = before[:-1] if repaired else before
    assert after[: len(kept)] == kept
    result = verify_session(session_dir)
    assert result.ok, result.problems
    events = list(read_events(session_dir))
    kinds = [e.kind for e in events]
    assert "session.resumed" in kinds
    # every run that started has ended, including any cut short by the kill (shown as crashed)
    started = {e.data["run_id"] for e in events if e.kind == "run.started"}
    finished = {e.data["run_id"] for e in events if e.kind == "run.finished"}
    assert started == finished
    from labconsole.lab.reducer import reduce

    state = reduce(events)
    assert len(state.hypotheses) == 2
    assert all(h.status in (S.AWAITING_HUMAN, S.FAILED, S.DUPLICATE) for h in state.hypotheses.values())


def test_second_console_on_the_same_lab_is_refused(demo_lab: Path) -> None:
    from labconsole.errors import LabError

    first = Lab.start_session(demo_lab)
    try:
        with pytest.raises(LabError, match=r"another console \(pid \d+, session .*\) is running this lab"):
            Lab.start_session(demo_lab)
        assert len(list((demo_lab / "sessions").iterdir())) == 1  # the refused one left nothing behind
    finally:
        first.close()
    Lab.start_session(demo_lab).close()  # free again once the first console is gone


def test_closing_a_console_leaves_a_replay_snapshot(demo_lab: Path) -> None:
    from labconsole.events.replay import Replay
    from labconsole.lab.reducer import apply

    lab = Lab.start_session(demo_lab)
    for i in range(50):
        lab.append("note", "console", {"text": str(i)})
    expected = lab.snapshot()
    lab.close()
    snapshots = list((lab.session_dir / "index").glob("*"))
    assert any(p.name.startswith("snap-") for p in snapshots), snapshots
    with Replay(lab.session_dir, initial=S.LabState, apply=apply) as replay:
        assert replay.state_at(replay.count - 1).feed == expected.feed
