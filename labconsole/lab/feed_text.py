"""The one line the event feed (TUI, headless progress) shows for each event.

Kept apart from the reducer because it is wording, not state: ``describe`` reads only the event.
Kinds without a line of their own fall back to the agent's or hypothesis's id and the kind.
"""

from __future__ import annotations

from typing import Any
from collections.abc import Callable

from labconsole.events import kinds as K
from labconsole.lab.state import SandboxInfo
from labconsole.runs.run_sandbox import SANDBOX_DEGRADED

Data = dict[str, Any]


def _unsandboxed(d: Data) -> str:
    """The marker every line about a run without a sandbox carries."""
    return " [sandbox: degraded]" if d.get("sandbox") == SANDBOX_DEGRADED else ""


def _short(d: Data, key: str) -> str:
    """A commit id as people read it: its first eight characters."""
    return str(d.get(key, ""))[:8]


def _run_finished(d: Data) -> str:
    metric = d.get("metric")
    shown = f"{metric:.4f}" if isinstance(metric, (int, float)) else "-"
    return f"run {d.get('run_id')} {d.get('status')} metric={shown}{_unsandboxed(d)}"


def _decision(verb: str) -> Callable[[Data], str]:
    return lambda d: f"{d.get('hyp_id', '')} {verb} by {d.get('who')}: {d.get('reason', '')}"


# kind -> its line; each takes the event's data.
_LINES: dict[str, Callable[[Data], str]] = {
    # The console's own words (why agents paused, why a start was refused).
    K.NOTE: lambda d: str(d.get("text", "")),
    K.HYP_PROPOSED: lambda d: f"{d.get('hyp_id', '')} proposed: {d.get('title', '')}",
    K.HYP_DUPLICATE: lambda d: (
        f"{d.get('hyp_id', '')} is a duplicate of {d.get('of')} ({(d.get('similarity') or 0):.0%} similar)"
    ),
    K.HYP_COMMITTED: lambda d: (
        f"{d.get('hyp_id', '')} committed {_short(d, 'sha')} (+{d.get('additions', 0)} -{d.get('deletions', 0)})"
    ),
    K.RUN_FINISHED: _run_finished,
    K.RUN_STARTED: lambda d: (
        f"run {d.get('run_id')} started ({d.get('role')} {_short(d, 'commit')} #{d.get('repeat')}){_unsandboxed(d)}"
    ),
    K.SANDBOX_STATUS: lambda d: SandboxInfo.of_event(d).line(),
    K.EVIDENCE_CONFIRMED: lambda d: (
        f"{d.get('hyp_id', '')} re-measured against main {_short(d, 'main_sha')}: {d.get('label')}"
    ),
    K.REVIEW_VERDICT: lambda d: f"{d.get('hyp_id', '')} reviewer: {d.get('verdict')} {'; '.join(d.get('reasons', []))}",
    K.DECISION_APPROVED: _decision("approved"),
    K.DECISION_REJECTED: _decision("rejected"),
    K.MERGE_COMPLETED: lambda d: f"{d.get('hyp_id', '')} merged as {_short(d, 'merge_sha')}",
    K.AGENT_EXITED: lambda d: f"{d.get('agent_id')} exited ({d.get('reason')}, rc={d.get('returncode')})",
    K.AGENT_STATUS: lambda d: f"{d.get('agent_id')} {d.get('state')} {d.get('detail', '')}".strip(),
    K.HYP_FAILED: lambda d: f"{d.get('hyp_id', '')} failed at {d.get('step')}: {d.get('reason')}",
}


def describe(event: Any) -> str:
    """``event``'s line in the feed (anything with ``kind`` and ``data``)."""
    d, k = event.data, event.kind
    line = _LINES.get(k)
    if line is not None:
        return line(d)
    if "agent_id" in d:
        return f"{d['agent_id']} {k.split('.', 1)[-1]} {d.get('text') or d.get('message') or ''}".strip()
    if d.get("hyp_id"):
        return f"{d['hyp_id']} {k.split('.', 1)[-1]}"
    return str(k)
