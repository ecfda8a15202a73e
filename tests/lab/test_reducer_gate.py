"""The reducer derives LabState from events alone; the gate decides from that state."""

from typing import Any

import pytest

from labconsole.errors import GateError
from labconsole.events import kinds as K
from labconsole.events.log import Event
from labconsole.lab import gate
from labconsole.lab import state as S
from labconsole.lab.reducer import FEED_MAX, apply, reduce


def ev(seq: int, kind: str, data: dict[str, Any], actor: str = "console", ts: float = 0.0) -> Event:
    """The log's own Event type; the chain fields stay empty, since the reducer never reads them."""
    return Event(seq=seq, ts=ts, kind=kind, actor=actor, data=data, prev="", hash="")


def events(*items: tuple[str, dict[str, Any]] | tuple[str, dict[str, Any], str]) -> list[Event]:
    return [ev(i, item[0], item[1], item[2] if len(item) > 2 else "console", float(i)) for i, item in enumerate(items)]


LIFECYCLE = events(
    (
        K.SESSION_STARTED,
        {
            "session_id": "s1",
            "lab": "demo",
            "baseline_sha": "base",
            "budget": {"usd": 1.0},
            "objective": {"name": "loss", "direction": "minimize"},
        },
    ),
    (K.AGENT_STARTED, {"agent_id": "worker-1", "role": "worker", "backend": "sweep", "pid": 11}),
    (K.AGENT_HELLO, {"agent_id": "worker-1"}, "agent:worker-1"),
    (K.HYP_PROPOSED, {"hyp_id": "h001", "title": "Set LR to 0.01", "params": {"LR": 0.01}, "proposer": "researcher"}),
    (K.HYP_QUEUED, {"hyp_id": "h001", "priority": 0.5}),
    (K.HYP_PROPOSED, {"hyp_id": "h002", "title": "Set LR to 0.01", "params": {"LR": 0.01}}),
    (K.HYP_DUPLICATE, {"hyp_id": "h002", "of": "h001", "similarity": 1.0}),
    (K.HYP_CLAIMED, {"hyp_id": "h001", "agent_id": "worker-1"}),
    (K.WORKTREE_CREATED, {"hyp_id": "h001", "path": "/wt/h001", "branch": "lab/h001", "base_sha": "base"}),
    (K.AGENT_STATUS, {"agent_id": "worker-1", "state": "working", "hypothesis": "h001"}, "agent:worker-1"),
    (
        K.HYP_COMMITTED,
        {"hyp_id": "h001", "sha": "c1", "branch": "lab/h001", "files": ["train.py"], "additions": 1, "deletions": 1},
    ),
    (K.RUN_STARTED, {"run_id": "r-b0", "hyp_id": "h001", "role": "baseline", "commit": "base", "repeat": 0}),
    (K.RUN_FINISHED, {"run_id": "r-b0", "status": "ok", "metric": 2.0, "duration_s": 3.0}),
    (K.RUN_STARTED, {"run_id": "r-c0", "hyp_id": "h001", "role": "candidate", "commit": "c1", "repeat": 0}),
    (K.RUN_FINISHED, {"run_id": "r-c0", "status": "timeout", "metric": None, "error": "timed out"}),
    (
        K.EVIDENCE_RECORDED,
        {
            "hyp_id": "h001",
            "evidence_hash": "ev1",
            "blob": "b1",
            "summary": {"sha": "c1", "candidate_median": 1.5, "baseline_median": 2.0, "effect": 0.25},
        },
    ),
    (
        K.REVIEW_VERDICT,
        {"hyp_id": "h001", "reviewer": "reviewer", "verdict": "flag", "reasons": ["noisy"]},
        "agent:reviewer",
    ),
    (K.HYP_AWAITING, {"hyp_id": "h001"}),
    (K.AGENT_USAGE, {"agent_id": "worker-1", "input_tokens": 100, "output_tokens": 50, "cost_usd": 0.25}),
)


def test_lifecycle_to_awaiting_review() -> None:
    st = reduce(LIFECYCLE)
    h1, h2 = st.hypotheses["h001"], st.hypotheses["h002"]
    assert (h1.status, h1.sha, h1.branch, h1.evidence_hash) == (S.AWAITING_HUMAN, "c1", "lab/h001", "ev1")
    assert (h2.status, h2.duplicate_of) == (S.DUPLICATE, "h001")
    assert st.runs["r-c0"].status == "timeout"  # failed runs stay in the state
    assert st.agents["worker-1"].state == "working" and st.agents["worker-1"].hypothesis == "h001"
    assert st.agents["worker-1"].usage.cost_usd == 0.25 and st.budget.used["tokens"] == 150
    assert st.budget.fraction("usd") == 0.25
    assert st.baseline_metric == 2.0 and st.best_history[-1][1] == 1.5
    assert st.awaiting_review_ids() == ["h001"]
    assert [h.hyp_id for h in st.leaderboard()] == ["h001"]
    assert st.last_seq == len(LIFECYCLE) - 1


def test_replay_is_the_same_reduction() -> None:
    # Live application one by one and a replay over the whole log give equal states.
    live = S.LabState()
    for e in LIFECYCLE:
        apply(live, e)
    assert live == reduce(LIFECYCLE)
    # State at a cursor is the reduction of a prefix.
    assert reduce(LIFECYCLE[:5]).hypotheses["h001"].status == S.QUEUED


def test_agent_exit_and_restart_states() -> None:
    st = reduce(
        events(
            (K.AGENT_STARTED, {"agent_id": "planner", "role": "planner"}),
            (K.AGENT_EXITED, {"agent_id": "planner", "reason": "hung", "returncode": -9}),
            (K.AGENT_RESTARTING, {"agent_id": "planner", "attempt": 1, "backoff_s": 1.0}),
            (K.AGENT_STARTED, {"agent_id": "planner", "role": "planner", "attempt": 1}),
        )
    )
    assert st.agents["planner"].restarts == 1 and st.agents["planner"].state == "starting"
    st = reduce(
        events(
            (K.AGENT_STARTED, {"agent_id": "a", "role": "worker"}),
            (K.AGENT_EXITED, {"agent_id": "a", "reason": "crashed", "returncode": 1}),
        )
    )
    assert st.agents["a"].state == "crashed"


def test_feed_is_bounded() -> None:
    many = events(*[(K.NOTE, {"text": str(i)}) for i in range(FEED_MAX + 50)])
    assert len(reduce(many).feed) == FEED_MAX


def test_gate_approve_reject_merge() -> None:
    st = reduce(LIFECYCLE)
    with pytest.raises(GateError, match="not the measured commit"):
        gate.check_approve(st, "h001", branch_head="moved")
    h = gate.check_approve(st, "h001", branch_head="c1")
    # evidence measured on another commit never backs an approval of this one
    recommitted = reduce(
        [
            *LIFECYCLE,
            ev(99, K.HYP_COMMITTED, {"hyp_id": "h001", "sha": "c2", "branch": "lab/h001"}),
            ev(100, K.HYP_AWAITING, {"hyp_id": "h001"}),
        ]
    )
    with pytest.raises(GateError, match="the evidence is for c1, not the current commit c2"):
        gate.check_approve(recommitted, "h001", branch_head="c2")
    assert gate.needs_confirmation(h) == ["reviewer said flag: noisy"]
    with pytest.raises(GateError, match="a person must approve it first"):
        gate.check_merge(st, "h001", "c1", "base")
    with pytest.raises(GateError, match="no hypothesis 'h999'"):
        gate.check_approve(st, "h999", None)
    with pytest.raises(GateError, match="only a candidate awaiting review"):
        gate.check_approve(st, "h002", None)

    approved = reduce(
        [
            *LIFECYCLE,
            ev(
                99,
                K.DECISION_APPROVED,
                {"hyp_id": "h001", "sha": "c1", "evidence_hash": "ev1", "who": "ana"},
                "human:ana",
            ),
        ]
    )
    assert approved.hypotheses["h001"].status == S.APPROVED
    with pytest.raises(GateError, match="branch moved after approval"):
        gate.check_merge(approved, "h001", "c2", "base")
    assert gate.check_merge(approved, "h001", "c1", "base").hyp_id == "h001"
    assert gate.is_stale(approved.hypotheses["h001"], "newmain")
    merged = reduce(
        [
            *LIFECYCLE,
            ev(99, K.DECISION_APPROVED, {"hyp_id": "h001", "sha": "c1", "evidence_hash": "ev1"}),
            ev(100, K.MERGE_COMPLETED, {"hyp_id": "h001", "sha": "c1", "merge_sha": "m1"}),
        ]
    )
    assert merged.baseline_sha == "m1" and merged.baseline_metric == 1.5
    with pytest.raises(GateError, match="already merged"):
        gate.check_merge(merged, "h001", "c1", "m1")
    with pytest.raises(GateError, match="only a candidate under review"):
        gate.check_reject(merged, "h001")


def test_budget_usage_per_role_and_signals() -> None:
    st = reduce(
        events(
            (K.SESSION_STARTED, {"budget": {"tokens": 1000, "roles": {"worker": {"usd": 1.0}}}}),
            (K.AGENT_STARTED, {"agent_id": "worker-1", "role": "worker"}),
            (
                K.AGENT_USAGE,
                {"agent_id": "worker-1", "role": "worker", "input_tokens": 700, "output_tokens": 150, "cost_usd": 0.9},
            ),
            (K.BUDGET_WARNING, {"scope": "session", "resource": "tokens", "used": 850, "limit": 1000}),
            (K.BUDGET_WARNING, {"scope": "role", "role": "worker", "resource": "usd", "used": 0.9, "limit": 1.0}),
            (K.BUDGET_EXHAUSTED, {"scope": "role", "role": "worker", "resource": "usd", "used": 1.0, "limit": 1.0}),
        )
    )
    assert st.budget.limits == {"tokens": 1000.0} and st.budget.role_limits == {"worker": {"usd": 1.0}}
    assert st.budget.role_used["worker"]["usd"] == 0.9 and st.budget.used["tokens"] == 850
    assert st.budget.warned == {"session:tokens", "role worker:usd"} and st.budget.exhausted == {"role worker:usd"}
    assert st.budget.paused
    from labconsole.agents.budget import check, new_signals

    fresh = new_signals(check(st.budget.limits_for_check(), st.budget.used_for_check()), set(st.budget.signalled))
    assert fresh == []  # both already logged: nothing is signalled twice
    resumed = reduce(
        [
            *events(
                (K.SESSION_STARTED, {}),
            ),
            ev(1, K.BUDGET_EXHAUSTED, {"scope": "session", "resource": "usd"}),
            ev(2, K.BUDGET_RESUMED, {"who": "ana"}),
        ]
    )
    assert not resumed.budget.paused
