"""The end of a headless session says what is true: candidates by outcome, spend against budget in numbers."""

from __future__ import annotations

from types import SimpleNamespace

from labconsole.cli.headless import event_line, stop_reason, summary_lines
from labconsole.events import kinds as K
from labconsole.lab.state import HypothesisState, LabState


def _state(*statuses: str, usd: float = 0.0, usd_limit: float = 0.0, tokens: float = 0.0) -> LabState:
    s = LabState()
    for i, status in enumerate(statuses):
        s.hypotheses[f"h{i}"] = HypothesisState(f"h{i}", f"t{i}", {}, status=status)
    s.budget.used.update(usd=usd, tokens=tokens)
    if usd_limit:
        s.budget.limits["usd"] = usd_limit
    return s


def test_nothing_awaits_review_and_it_says_so() -> None:
    state = _state("failed", "rejected", "merged", "duplicate", usd=0.4, usd_limit=2.0, tokens=12345)
    lines = summary_lines(state)
    assert lines[0] == "Candidates: 0 awaiting review, 1 merged, 1 rejected, 1 failed (of 4 hypotheses)"
    assert "Spent $0.40 of $2.00 (20%)" in lines and "Spent 12,345 tokens (no limit set)" in lines
    # the old stop reason claimed candidates awaited review whatever the state
    assert stop_reason(state) == "headless run finished: no candidate awaits review"


def test_awaiting_candidates_are_counted_and_named() -> None:
    state = _state("awaiting-human", "awaiting-human", "failed")
    lines = summary_lines(state)
    assert lines[0].startswith("Candidates: 2 awaiting review, 0 merged, 0 rejected, 1 failed")
    assert "h0, h1" in lines[1]
    assert stop_reason(state) == "headless run finished: 2 candidate(s) await a person's review"


def test_budget_lines_carry_numbers() -> None:
    warn = SimpleNamespace(
        kind=K.BUDGET_WARNING, data={"scope": "session", "resource": "usd", "used": 1.6, "limit": 2.0}
    )
    assert event_line(warn) == "budget warning: session spent $1.60 of $2.00 (80%)"
    out = SimpleNamespace(
        kind=K.BUDGET_EXHAUSTED,
        data={"scope": "role", "role": "worker", "resource": "tokens", "used": 120000, "limit": 100000},
    )
    assert (
        event_line(out) == "budget exhausted, agents paused: role worker spent 120,000 tokens of 100,000 tokens (120%)"
    )


def test_stall_and_exit_lines_say_why() -> None:
    stalled = SimpleNamespace(
        kind=K.AGENT_STALLED, data={"agent_id": "worker-1", "detail": "the model sent no token for 121 s (limit 120 s)"}
    )
    assert event_line(stalled) == (
        "worker-1 stalled: the model sent no token for 121 s (limit 120 s); it is stopped and restarted"
    )
    exited = SimpleNamespace(
        kind=K.AGENT_EXITED, data={"agent_id": "worker-1", "reason": "crashed", "detail": "killed by SIGKILL"}
    )
    assert event_line(exited) == "worker-1 exited (crashed): killed by SIGKILL"
