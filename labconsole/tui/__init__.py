"""The Textual lab console (issue 4). The core never imports this package; it only renders LabState
and sends Lab commands.

Entry points for the CLI: :func:`run_app` over a live Lab, :func:`run_replay` over a recorded session.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from labconsole.lab.service import Lab


def _sampler_for(lab: "Lab") -> tuple[Any, bool]:
    """The orchestrator's telemetry sampler if it has one, else our own (it reports 'no GPU' cleanly)."""
    for name in ("sampler", "telemetry_sampler", "gpu_sampler"):
        sampler = getattr(getattr(lab, "orchestrator", None), name, None)
        if sampler is not None and hasattr(sampler, "latest"):
            return sampler, False
    try:
        from labconsole.gpu.telemetry import GpuTelemetry, TelemetrySampler

        return TelemetrySampler(GpuTelemetry(), interval=1.0, history=60), True
    except Exception:  # telemetry is optional for the console
        return None, False


def run_app(lab: "Lab", *, readonly: bool = False, attached: bool = False) -> int:
    """Run the console over ``lab`` until the person quits.

    ``attached``: the session runs headless elsewhere in this process or was
    only opened to watch; quitting never stops it. Otherwise quitting asks
    whether to stop the agents; if the person says so, ``lab.stop`` is called here.
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
    if app.stop_agents and not attached:
        lab.stop(stop_agents=True, reason="stopped from the console")
    return int(rc or 0)


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
