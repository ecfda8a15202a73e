"""Agents that finish their tasks without a result are asked a bounded number of times, then the lab moves on."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from labconsole.cli.headless import run_headless
from labconsole.events.log import read_events
from labconsole.lab import state as S
from labconsole.lab.orchestrator import MAX_ATTEMPTS
from labconsole.lab.service import Lab
from labconsole.lab.orchestrator import OrchestratorOptions

pytestmark = pytest.mark.slow

SILENT = textwrap.dedent("""
    import json, sys
    def say(**m):
        sys.stdout.write(json.dumps(m) + "\\n"); sys.stdout.flush()
    say(type="hello", protocol=1, role=sys.argv[1], backend="silent", model="")
    say(type="status", state="idle")
    for line in sys.stdin:
        msg = json.loads(line)
        if msg["type"] == "task":
            say(type="done", task=msg["task"])
            say(type="status", state="idle")
""")


def run_with_silent(demo_lab: Path, tmp_path: Path, role: str) -> tuple[Lab, S.LabState]:
    """Run the demo lab headless with `role` played by the silent agent: the closed lab and its final state."""
    script = tmp_path / "silent.py"
    script.write_text(SILENT)
    lab = Lab.start_session(demo_lab)
    lab.start(OrchestratorOptions(agent_argv={role: [sys.executable, str(script), role]}))
    try:
        return lab, run_headless(lab, timeout_s=120, echo=False)
    finally:
        lab.close()


def test_silent_planner_fails_hypotheses_visibly(demo_lab: Path, tmp_path: Path) -> None:
    _, state = run_with_silent(demo_lab, tmp_path, "planner")
    assert len(state.hypotheses) == 2
    for h in state.hypotheses.values():
        assert h.status == S.FAILED and f"no decision in {MAX_ATTEMPTS} attempts" in h.failure


def test_silent_researcher_is_asked_a_bounded_number_of_times(demo_lab: Path, tmp_path: Path) -> None:
    lab, state = run_with_silent(demo_lab, tmp_path, "researcher")
    assert state.hypotheses == {}
    notes = [e.data["text"] for e in read_events(lab.session_dir) if e.kind == "note"]
    assert any("gave no proposal" in n for n in notes)
