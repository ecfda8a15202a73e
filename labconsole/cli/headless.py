"""Running a session without the TUI: progress lines on stdout, then the leaderboard."""

from __future__ import annotations

import queue
import signal
import time
from types import FrameType

from labconsole.cli.common import leaderboard_lines
from labconsole.errors import LabError
from labconsole.events import kinds as K
from labconsole.events.log import Event
from labconsole.lab.reducer import describe
from labconsole.lab.service import Lab
from labconsole.lab.state import LabState

# Kinds worth a line in a headless run; the rest is in the log.
SHOWN = frozenset({
    K.SESSION_STARTED, K.HYP_PROPOSED, K.HYP_QUEUED, K.HYP_DUPLICATE, K.HYP_COMMITTED, K.HYP_FAILED,
    K.RUN_FINISHED, K.REVIEW_VERDICT, K.AGENT_EXITED, K.AGENT_RESTARTING, K.REPORT_WRITTEN,
    K.BUDGET_WARNING, K.BUDGET_EXHAUSTED, K.DECISION_APPROVED, K.DECISION_REJECTED, K.MERGE_COMPLETED, K.NOTE,
})


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
            lines.put(f"[{time.strftime('%H:%M:%S', time.localtime(event.ts))}] {describe(event)}")

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
        lab.stop(reason=f"agents paused: {broken}" if broken
                 else "headless run finished: candidates await a person's review")
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
