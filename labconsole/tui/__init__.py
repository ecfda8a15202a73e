"""The Textual lab console (issue 4). The core never imports this package; it only renders LabState
and sends Lab commands.

Entry points for the CLI: :func:`run_app` over a live Lab, :func:`run_replay` over a recorded session.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from labconsole.gpu.port import TelemetrySource

if TYPE_CHECKING:
    from labconsole.lab.service import Lab


def _sampler_for(lab: Lab) -> tuple[TelemetrySource | None, bool]:
    """The lab's telemetry source if it has one, else our own sampler (it reports 'no GPU' cleanly)."""
    # The one place the TUI asks the lab for telemetry; `lab.telemetry` is the Lab service's port.
    source = getattr(lab, "telemetry", None)
    if isinstance(source, TelemetrySource):
        return source, False
    try:
        from labconsole.gpu.telemetry import GpuTelemetry, TelemetrySampler

        return TelemetrySampler(GpuTelemetry(), interval=1.0, history=60), True
    except Exception:  # telemetry is optional for the console
        return None, False


def run_app(lab: Lab, *, readonly: bool = False, attached: bool = False) -> int:
    """Run the console over ``lab`` until the person quits.

    ``attached``: the session runs headless elsewhere (or was only opened to
    watch, ``readonly``); quitting never stops it. Otherwise the console owns
    the session: it starts the agents if they are not running, and quitting
    asks whether to stop them. "Stop" stops them now; "leave running" lets them
    finish headless in this process (Ctrl-C stops them), then stops the session.
    The caller still owns ``lab`` (and closes it).
    """
    from labconsole.tui.app import LabConsoleApp
    from labconsole.tui.source import LiveSource

    if not attached and not readonly and getattr(lab, "orchestrator", None) is None:
        lab.start()  # the console owns this session: it runs the agents
    sampler, own = _sampler_for(lab)
    app = LabConsoleApp(LiveSource(lab, readonly=readonly), attached=attached, sampler=sampler, own_sampler=own)
    try:
        rc = app.run()
    finally:
        if own and sampler is not None:
            sampler.stop()
    if attached or readonly:
        return int(rc or 0)
    if not app.stop_agents and app.quit_choice == "leave":
        _continue_headless(lab)
    lab.stop(stop_agents=True, reason="stopped from the console")
    return int(rc or 0)


def _continue_headless(lab: Lab) -> None:
    """The person closed the console but left the agents working: wait for them here, Ctrl-C stops."""
    import time

    print(
        "The console is closed; the agents keep working until the lab is idle. Ctrl-C stops them "
        f"(everything is in {lab.session_dir / 'events.jsonl'}).",
        flush=True,
    )
    try:
        while not _lab_idle(lab):
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("stopping the agents", flush=True)


def _lab_idle(lab: Lab) -> bool:
    """Whether the agents have nothing left to do; the one place the TUI asks.

    ``lab.idle()`` is the seam (the Lab service's); until the service has it, its orchestrator answers.
    """
    idle = getattr(lab, "idle", None)
    if callable(idle):
        return bool(idle())
    orchestrator = getattr(lab, "orchestrator", None)
    return orchestrator is None or bool(orchestrator.idle())


def run_replay(session_dir: Path, lab_root: Path | None = None) -> int:
    """Open the same screens over a recorded session, driven by a cursor."""
    from labconsole.tui.app import make_replay_app

    app = make_replay_app(Path(session_dir), lab_root)
    try:
        rc = app.run()
    finally:
        if app.replay is not None:
            app.replay.close()
    return int(rc or 0)


__all__ = ["run_app", "run_replay"]
