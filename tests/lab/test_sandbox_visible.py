"""Containment a person can see: the session's sandbox.status and each run's sandbox and env names are folded
into the state, and every view (feed/headless line, review, report) says ``sandbox: degraded`` on the runs it
affects; a candidate measured without a sandbox is flagged, so the reviewer and the gate stop at it."""

from __future__ import annotations

from typing import Any

import pytest

from labconsole.agents.backends.rules import review
from labconsole.cli.common import leaderboard_lines, run_marks, sandbox_line
from labconsole.errors import GateError
from labconsole.events import kinds as K
from labconsole.events.log import Event
from labconsole.lab import change_checks, gate
from labconsole.lab.feed_text import describe
from labconsole.lab.reducer import reduce
from labconsole.lab.report import render_report
from labconsole.runs.outcome import RunOutcome

REASON = "bubblewrap (bwrap) is not installed: install it (Debian/Ubuntu: apt-get install bubblewrap)"


def log(mode: str, *, env: list[str] | None = None, network: bool = False) -> list[Event]:
    degraded = mode == "degraded"
    run_env = ["PATH", "LANG", "LC_ALL", *(env or [])]
    flags = (
        [
            change_checks.sandbox_flag(
                [
                    RunOutcome("r-b0", "baseline", 0, "ok", 2.0, 1.0, sandbox=mode),
                    RunOutcome("r-c0", "candidate", 0, "ok", 1.5, 1.0, sandbox=mode),
                ]
            )
        ]
        if degraded
        else []
    )
    items: list[tuple[str, dict[str, Any]]] = [
        (
            K.SESSION_STARTED,
            {
                "session_id": "s1",
                "lab": "demo",
                "baseline_sha": "base",
                "objective": {"name": "loss", "direction": "minimize"},
            },
        ),
        (
            K.SANDBOX_STATUS,
            {
                "mode": mode,
                "reason": REASON if degraded else "",
                "network": network,
                "env": env or [],
                "read_paths": [],
                "memory_mb": 2048,
                "max_processes": 0,
            },
        ),
        (K.HYP_PROPOSED, {"hyp_id": "h001", "title": "Set LR to 0.01", "params": {"LR": 0.01}}),
        (K.HYP_COMMITTED, {"hyp_id": "h001", "sha": "c1", "branch": "lab/h001", "base_sha": "base"}),
        (
            K.RUN_STARTED,
            {
                "run_id": "r-b0",
                "hyp_id": "h001",
                "role": "baseline",
                "commit": "base",
                "repeat": 0,
                "sandbox": mode,
                "env_names": run_env,
            },
        ),
        (K.RUN_FINISHED, {"run_id": "r-b0", "status": "ok", "metric": 2.0, "duration_s": 1.0, "sandbox": mode}),
        (
            K.RUN_STARTED,
            {
                "run_id": "r-c0",
                "hyp_id": "h001",
                "role": "candidate",
                "commit": "c1",
                "repeat": 0,
                "sandbox": mode,
                "env_names": run_env,
            },
        ),
        (
            K.RUN_FINISHED,
            {
                "run_id": "r-c0",
                "status": "crashed",
                "metric": None,
                "duration_s": 1.0,
                "error": "killed",
                "sandbox": mode,
            },
        ),
        (
            K.EVIDENCE_RECORDED,
            {
                "hyp_id": "h001",
                "evidence_hash": "ev1",
                "blob": "b1",
                "summary": {
                    "sha": "c1",
                    "candidate_median": 1.5,
                    "baseline_median": 2.0,
                    "effect": 0.25,
                    "flags": [f.to_dict() for f in flags if f is not None],
                },
            },
        ),
        (K.HYP_AWAITING, {"hyp_id": "h001"}),
    ]
    return [
        Event(seq=i, ts=float(i), kind=k, actor="console", data=d, prev="", hash="") for i, (k, d) in enumerate(items)
    ]


def test_degraded_session_is_said_on_every_affected_run() -> None:
    events = log("degraded")
    state = reduce(events)
    assert state.sandbox is not None and state.sandbox.degraded and "not installed" in state.sandbox.reason
    assert [r.run_id for r in state.runs_without_sandbox()] == ["r-b0", "r-c0"]
    # The session-start line (headless prints describe(); the TUI feed shows the same).
    start = describe(events[1])
    assert start.startswith("sandbox: degraded") and "apt-get install bubblewrap" in start and "\n" not in start
    assert all(describe(e).endswith("[sandbox: degraded]") for e in events if e.kind in (K.RUN_STARTED, K.RUN_FINISHED))
    assert run_marks(state.runs["r-c0"]) == "  [sandbox: degraded]"
    assert sandbox_line(state) == start
    assert any(line.endswith("Set LR to 0.01 [sandbox: degraded]") for line in leaderboard_lines(state))
    report = render_report(state)
    sandbox = next(line for line in report.splitlines() if line.startswith("Sandbox:"))
    assert "**degraded" in sandbox and "2 of 2 run(s) ran without a sandbox" in sandbox
    assert "| h001 | Set LR to 0.01 *(sandbox: degraded)* |" in report
    assert "- r-c0 (candidate, c1, repeat 0): crashed killed *(sandbox: degraded)*" in report
    assert "- h001: sandbox-degraded: r-b0, r-c0" in report  # the flagged-changes section


def test_contained_session_shows_what_the_lab_let_in_by_name() -> None:
    events = log("bwrap", env=["WANDB_MODE", "HF_TOKEN"], network=True)
    state = reduce(events)
    assert not state.runs_without_sandbox() and state.runs["r-b0"].env_names[:2] == ["PATH", "LANG"]
    line = sandbox_line(state)
    assert line.startswith("sandbox: bwrap") and "network ON" in line
    assert "env by name: WANDB_MODE, HF_TOKEN (secret-looking)" in line and "memory 2048 MB" in line
    # Per run: only what the lab named, never the allow-list every run gets.
    assert run_marks(state.runs["r-c0"]) == "  [env: WANDB_MODE, HF_TOKEN]"
    assert "degraded" not in render_report(state) and "degraded" not in "".join(leaderboard_lines(state))
    plain = reduce(log("bwrap"))
    assert "no network" in sandbox_line(plain) and run_marks(plain.runs["r-c0"]) == ""


def test_a_log_without_sandbox_status_says_not_recorded() -> None:
    state = reduce([e for e in log("bwrap") if e.kind != K.SANDBOX_STATUS])
    assert state.sandbox is None and "not recorded" in sandbox_line(state)
    assert "Sandbox: not recorded" in render_report(state)


def test_unsandboxed_measurement_is_flagged_and_approval_needs_a_named_override() -> None:
    runs = [
        RunOutcome("r-b0", "baseline", 0, "ok", 2.0, 1.0, sandbox="bwrap"),
        RunOutcome("r-c0", "candidate", 0, "ok", 1.5, 1.0, sandbox="degraded"),
    ]
    flag = change_checks.sandbox_flag(runs)
    assert flag is not None and flag.flag == change_checks.SANDBOX_DEGRADED and flag.paths == ("r-c0",)
    assert change_checks.sandbox_flag(runs[:1]) is None
    verdict, reasons = review(
        {
            "flags": [flag.to_dict()],
            "candidate_ok": 2,
            "candidate_runs": 2,
            "baseline_ok": 2,
            "effect": 0.25,
            "decision": "improved",
        }
    )
    assert verdict != "pass" and any("sandbox-degraded" in r for r in reasons)
    state = reduce(log("degraded"))
    h = state.hypotheses["h001"]
    with pytest.raises(GateError, match="--override sandbox-degraded"):
        gate.check_overrides(h, [], "")
    assert gate.check_overrides(h, ["sandbox-degraded"], "no bwrap on this laptop") == ["sandbox-degraded"]
    assert state.best_history == [(8.0, 2.0)]  # a flagged candidate is never the session's best so far


def test_sandbox_fields_survive_a_data_snapshot() -> None:
    from labconsole.lab.state import LabState

    state = reduce(log("degraded", env=["WANDB_MODE"], network=True))
    again = LabState.from_data(state.to_data())
    assert again.sandbox == state.sandbox and again.runs["r-c0"].env_names == state.runs["r-c0"].env_names
    assert [r.run_id for r in again.runs_without_sandbox()] == ["r-b0", "r-c0"]
