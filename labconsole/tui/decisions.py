"""What an irreversible key will do, in words, and why a read-only view ignores it (pure, no widgets).

Confirmations name the thing decided and where it lands ("merge h004 (a1b2c3d) into main at
9f8e7d6?") so the person answers the question actually being carried out, not a generic "sure?".
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from labconsole.lab.state import HypothesisState, LabState
from labconsole.tui import format as F

T = TypeVar("T", bound=Callable[..., Any])


def merge_question(h: HypothesisState, state: LabState, main_branch: str) -> str:
    return (
        f"Merge {h.hyp_id} ({F.short_sha(h.sha)}) into {main_branch} at {F.short_sha(state.baseline_sha)}?\n"
        f"  {h.title}\n  +{h.additions} -{h.deletions} in {len(h.files)} file{'s' if len(h.files) != 1 else ''}"
        f"; later candidates are then measured against the new {main_branch}."
    )


def remeasure_question(h: HypothesisState, state: LabState, main_branch: str) -> str:
    where = (
        f"measured on {F.short_sha(h.base_sha)}, {main_branch} is now {F.short_sha(state.baseline_sha)}"
        if h.base_sha and h.base_sha != state.baseline_sha
        else f"measured on {main_branch}'s head"
    )
    return (
        f"Re-measure {h.hyp_id} ({F.short_sha(h.sha)}) against {main_branch} at {F.short_sha(state.baseline_sha)}?\n"
        f"  {where}; the new runs replace its evidence and it is reviewed again."
    )


def reject_question(h: HypothesisState) -> str:
    return (
        f"Reject {h.hyp_id} ({F.short_sha(h.sha)})? It will not be merged and the planner will not "
        f"repeat it.\nWhy? (recorded with the decision)"
    )


def resume_question(state: LabState) -> str:
    spent = ", ".join(
        f"{name} {_amount(name, state.budget.used.get(name, 0.0))} of {_amount(name, limit)}"
        for name, limit in sorted(state.budget.limits.items())
    )
    return (
        "Resume the agents past the budget?\n"
        f"  spent: {spent or 'no session limits set'}\n"
        "  They keep spending until you pause or stop them, or quit."
    )


def _amount(name: str, value: float) -> str:
    if name == "usd":
        return F.usd(value)
    if name == "tokens":
        return F.tokens(int(value))
    return f"{value:.2f}"


def readonly_reason(replay: bool, action: str) -> str:
    """One line: what was ignored, why, and how to get a console that can do it."""
    if replay:
        return f"{action}: ignored, this is a replay of a recorded session (open it live with `labconsole attach`)"
    return f"{action}: ignored, this console is read-only (--readonly); attach without --readonly to decide"


def decision(label: str) -> Callable[[T], T]:
    """Mark an action as a decision: in a read-only view it says why it is ignored instead of running.

    The keys stay bound (Textual's check_action=False would swallow them silently); the key bar
    hides them instead, so nothing advertises a key that cannot act."""

    def wrap(method: T) -> T:
        @functools.wraps(method)
        def guarded(self: Any, *args: Any, **kwargs: Any) -> Any:
            console = self.app
            if console.readonly:
                console.notify(
                    readonly_reason(console.replay is not None, label), title="read-only", severity="warning"
                )
                return None
            return method(self, *args, **kwargs)

        return guarded  # type: ignore[return-value]

    return wrap
