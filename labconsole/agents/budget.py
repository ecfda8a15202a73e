"""Budget arithmetic, pure: limits + usage → warning / exhausted signals.

The Lab service owns the live totals; it calls :func:`check` after each usage or
run event, logs ``budget.warning`` / ``budget.exhausted`` for signals it has not
logged yet (:func:`new_signals`), and pauses agents on ``exhausted``.

Shapes (both the ``[budget]`` table of ``lab.toml`` and the running totals)::

    limits = {"usd": 20.0, "tokens": 2_000_000, "gpu_hours": 4.0,
              "roles": {"worker": {"usd": 5.0}, "researcher": {"tokens": 100_000}}}
    used   = {"usd": 3.1, "tokens": 120_000, "gpu_hours": 0.2,
              "roles": {"worker": {"usd": 2.0, "tokens": 90_000}}}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

RESOURCES = ("tokens", "usd", "gpu_hours")
WARN_AT = 0.8
WARNING = "warning"
EXHAUSTED = "exhausted"


@dataclass(frozen=True)
class BudgetSignal:
    scope: str  # "session" | "role"
    resource: str  # tokens | usd | gpu_hours
    level: str  # warning | exhausted
    used: float
    limit: float
    role: str | None = None

    @property
    def key(self) -> tuple[str, str | None, str, str]:
        """Identity for "already signalled": one warning and one exhaustion per scope/resource."""
        return (self.scope, self.role, self.resource, self.level)

    @property
    def event_kind(self) -> str:
        return "budget.warning" if self.level == WARNING else "budget.exhausted"

    def event_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"scope": self.scope, "resource": self.resource, "used": self.used, "limit": self.limit}
        if self.role is not None:
            data["role"] = self.role
        return data


def _number(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"budget {where} must be a number, got {value!r}")
    return float(value)


def _scope_signals(
    limits: Mapping[str, Any], used: Mapping[str, Any], scope: str, role: str | None, warn_at: float
) -> list[BudgetSignal]:
    where = "session" if role is None else f"roles.{role}"
    signals = []
    for resource in RESOURCES:
        limit = _number(limits.get(resource), f"{where}.{resource}")
        if not limit:
            continue  # missing or 0 = unlimited (the lab.toml convention)
        spent = _number(used.get(resource, 0), f"used {where}.{resource}") or 0.0
        if spent >= limit:
            signals.append(BudgetSignal(scope, resource, EXHAUSTED, spent, limit, role))
        elif spent >= warn_at * limit:
            signals.append(BudgetSignal(scope, resource, WARNING, spent, limit, role))
    return signals


def check(limits: Mapping[str, Any], used: Mapping[str, Any], warn_at: float = WARN_AT) -> list[BudgetSignal]:
    """Signals for every session and per-role resource at ≥80% (warning) or ≥100% (exhausted)."""
    signals = _scope_signals(limits, used, "session", None, warn_at)
    role_limits = limits.get("roles") or {}
    role_used = used.get("roles") or {}
    for role in sorted(role_limits):
        signals += _scope_signals(role_limits[role] or {}, role_used.get(role) or {}, "role", role, warn_at)
    return signals


def new_signals(signals: Iterable[BudgetSignal], already: set[tuple[str, str | None, str, str]]) -> list[BudgetSignal]:
    """The signals not yet in ``already`` (which is updated), so each is logged once."""
    fresh = [s for s in signals if s.key not in already]
    already.update(s.key for s in fresh)
    return fresh


def roles_to_pause(signals: Iterable[BudgetSignal], roles: Iterable[str]) -> set[str]:
    """Which of ``roles`` to pause: all of them when a session budget is spent, else those over their own."""
    roles = set(roles)
    paused: set[str] = set()
    for s in signals:
        if s.level != EXHAUSTED:
            continue
        if s.scope == "session":
            return roles
        if s.role in roles:
            paused.add(s.role)
    return paused
