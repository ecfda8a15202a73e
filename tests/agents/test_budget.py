"""Budget arithmetic: 80% warns, 100% exhausts, per session and per role."""

from __future__ import annotations

import pytest

from labconsole.agents.budget import EXHAUSTED, WARNING, check, new_signals, roles_to_pause

LIMITS = {
    "usd": 10.0,
    "tokens": 1000,
    "gpu_hours": 2.0,
    "roles": {"worker": {"usd": 4.0}, "researcher": {"tokens": 100}},
}


def test_under_budget_is_silent() -> None:
    assert check(LIMITS, {"usd": 1.0, "tokens": 10, "roles": {"worker": {"usd": 1.0}}}) == []


def test_warning_at_80_and_exhausted_at_100_percent() -> None:
    signals = check(
        LIMITS,
        {"usd": 8.0, "tokens": 1000, "gpu_hours": 0.5, "roles": {"worker": {"usd": 4.5}, "researcher": {"tokens": 79}}},
    )
    got = {(s.scope, s.role, s.resource, s.level) for s in signals}
    assert got == {
        ("session", None, "usd", WARNING),
        ("session", None, "tokens", EXHAUSTED),
        ("role", "worker", "usd", EXHAUSTED),
    }
    ex = next(s for s in signals if s.role == "worker")
    assert ex.event_kind == "budget.exhausted"
    assert ex.event_data() == {"scope": "role", "resource": "usd", "used": 4.5, "limit": 4.0, "role": "worker"}


def test_each_signal_is_new_once() -> None:
    seen: set = set()
    first = new_signals(check(LIMITS, {"usd": 8.5}), seen)
    assert [s.level for s in first] == [WARNING]
    assert new_signals(check(LIMITS, {"usd": 9.0}), seen) == []
    assert [s.level for s in new_signals(check(LIMITS, {"usd": 10.0}), seen)] == [EXHAUSTED]


def test_who_to_pause() -> None:
    roles = ["researcher", "planner", "worker"]
    assert roles_to_pause(check(LIMITS, {"roles": {"worker": {"usd": 5}}}), roles) == {"worker"}
    assert roles_to_pause(check(LIMITS, {"gpu_hours": 2.5}), roles) == set(roles)
    assert roles_to_pause(check(LIMITS, {"usd": 9}), roles) == set()  # a warning pauses nobody


def test_zero_or_missing_limit_is_unlimited() -> None:
    assert check({"usd": 0, "tokens": None}, {"usd": 5, "tokens": 9}) == []  # 0 / missing = unlimited
    assert check({}, {"usd": 100}) == []


def test_bad_numbers_are_rejected() -> None:
    with pytest.raises(ValueError, match="session.usd"):
        check({"usd": "lots"}, {})
