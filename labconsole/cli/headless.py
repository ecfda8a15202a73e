"""Running a session without the TUI: progress lines on stdout, then the leaderboard."""

from __future__ import annotations

import queue
import signal
import time
from collections import Counter
from types import FrameType

from labconsole.cli.common import leaderboard_lines
from labconsole.errors import LabError
from labconsole.events import kinds as K
from labconsole.events.log import Event
from labconsole.lab.feed_text import describe
from labconsole.lab.service import Lab
from labconsole.lab.state import AWAITING_HUMAN, FAILED, MERGED, PUBLISHED, REJECTED, LabState

# Kinds worth a line in a headless run; the rest is in the log.
SHOWN = frozenset(
    {
        K.SESSION_STARTED,
        K.SANDBOX_STATUS,
        K.HYP_PROPOSED,
        K.HYP_QUEUED,
        K.HYP_DUPLICATE,
        K.HYP_COMMITTED,
        K.HYP_FAILED,
        K.RUN_FINISHED,
        K.REVIEW_VERDICT,
        K.AGENT_EXITED,
        K.AGENT_STALLED,
        K.AGENT_RESTARTING,
        K.AGENT_ERROR,
        K.REPORT_WRITTEN,
        K.BUDGET_WARNING,
        K.BUDGET_EXHAUSTED,
        K.DECISION_APPROVED,
        K.DECISION_REJECTED,
        K.MERGE_COMPLETED,
        K.NOTE,
    }
)


def _amount(resource: str, value: float) -> str:
    return (
        f"${value:.2f}"
        if resource == "usd"
        else f"{value:.2f} GPU-hours"
        if resource == "gpu_hours"
        else f"{value:,.0f} tokens"
    )


def event_line(event: Event) -> str:
    """A headless progress line: the reducer's description, with the numbers a person needs to act."""
    d, k = event.data, event.kind
    if k in (K.BUDGET_WARNING, K.BUDGET_EXHAUSTED):
        who = f"role {d.get('role')}" if d.get("role") else "session"
        used, limit = float(d.get("used") or 0), float(d.get("limit") or 0)
        share = f" ({used / limit:.0%})" if limit else ""
        what = "budget warning" if k == K.BUDGET_WARNING else "budget exhausted, agents paused"
        return f"{what}: {who} spent {_amount(str(d.get('resource')), used)} of {_amount(str(d.get('resource')), limit)}{share}"
    if k == K.AGENT_EXITED and d.get("detail"):
        return f"{d.get('agent_id')} exited ({d.get('reason')}): {d.get('detail')}"
    if k == K.AGENT_STALLED:
        return f"{d.get('agent_id')} stalled: {d.get('detail')}; it is stopped and restarted"
    return describe(event)


def summary_lines(state: LabState) -> list[str]:
    """The end of a session as it is: candidates by outcome, and spend against the budget with numbers."""
    counts = Counter(h.status for h in state.hypotheses.values())
    awaiting = counts[AWAITING_HUMAN]
    lines = [
        f"Candidates: {awaiting} awaiting review, {counts[MERGED] + counts[PUBLISHED]} merged, "
        f"{counts[REJECTED]} rejected, {counts[FAILED]} failed (of {len(state.hypotheses)} hypotheses)"
    ]
    if awaiting:
        lines.append(
            "  review them: labconsole review show <hyp> (" + ", ".join(h.hyp_id for h in state.awaiting_review()) + ")"
        )
    b = state.budget
    for resource in ("usd", "tokens", "gpu_hours"):
        used, limit = float(b.used.get(resource, 0.0)), float(b.limits.get(resource) or 0.0)
        if not used and not limit:
            continue
        bound = f" of {_amount(resource, limit)} ({used / limit:.0%})" if limit else " (no limit set)"
        lines.append(f"Spent {_amount(resource, used)}{bound}")
    if b.paused:
        lines.append("Agents are paused for budget: raise [budget] in lab.toml or resume them in the console")
    return lines


def stop_reason(state: LabState) -> str:
    awaiting = len(state.awaiting_review())
    return (
        f"headless run finished: {awaiting} candidate(s) await a person's review"
        if awaiting
        else "headless run finished: no candidate awaits review"
    )


def exit_on_hangup() -> None:
    """Closing the terminal (SIGHUP) or ``kill`` (SIGTERM) ends the console like Ctrl-C does: by an
    exception, so every ``finally`` runs and the agents stop, the log closes and the control socket goes.
    Python's default for both signals is to die on the spot, leaving the socket behind."""

    def leave(signum: int, frame: FrameType | None) -> None:
        for sig in (signal.SIGHUP, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)  # a second signal must not cut the clean-up short
        raise SystemExit(128 + signum)

    for sig in (signal.SIGHUP, signal.SIGTERM):
        signal.signal(sig, leave)


def run_headless(lab: Lab, *, timeout_s: float | None = None, echo: bool = True) -> LabState:
    """Start the lab, print progress until it is idle (or ``timeout_s``), stop the agents, return the state."""
    lines: queue.Queue[str] = queue.Queue()

    def on_event(event: Event, state: LabState) -> None:
        if event.kind in SHOWN:
            lines.put(f"[{time.strftime('%H:%M:%S', time.localtime(event.ts))}] {event_line(event)}")

    unsubscribe = lab.subscribe(on_event)
    started = time.monotonic()
    broken: str | None = None
    try:
        if lab.orchestrator is None:
            lab.start()
        while True:
            try:
                line = lines.get(timeout=0.2)
                if echo:
                    print(line, flush=True)
                continue
            except queue.Empty:
                pass
            if lab.fatal:
                break
            # Nobody is here to fix main and resume the paused agents: end the run and say why.
            broken = lab.orchestrator.baseline_broken if lab.orchestrator is not None else None
            if broken:
                break
            if lab.orchestrator is not None and lab.orchestrator.idle():
                break
            if timeout_s is not None and time.monotonic() - started > timeout_s:
                if echo:
                    print(f"stopping: the session ran past {timeout_s:.0f} s", flush=True)
                break
    finally:
        lab.stop(reason=f"agents paused: {broken}" if broken else stop_reason(lab.snapshot()))
        unsubscribe()
    while not lines.empty() and echo:
        print(lines.get(), flush=True)
    if lab.fatal:
        raise LabError(lab.fatal)
    state = lab.snapshot()
    if echo:
        print()
        print("Leaderboard (measured by the console):")
        for line in leaderboard_lines(state):
            print("  " + line)
        print()
        for line in summary_lines(state):
            print(line)
    if broken:
        raise LabError(f"the session stopped: {broken}; fix main, then `labconsole run --resume`")
    return state


def after_console(lab: Lab, rc: int) -> int:
    """The person left the TUI. If they chose to keep the agents running, go on headless until idle."""
    try:
        if lab.orchestrator is not None and not lab.fatal:
            print("The console is closed; the agents go on (Ctrl-C stops them).", flush=True)
            run_headless(lab)
    except KeyboardInterrupt:
        print("stopping the agents", flush=True)
    finally:
        lab.close()
    return rc
