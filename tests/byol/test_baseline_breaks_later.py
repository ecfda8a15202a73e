"""Issue 23: when the baseline stops measuring in the middle of a session (after a merge, or the machine
changed under it), the agents pause and the console says why."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from byol.repo_fixture import commit_all

from labconsole.cli import main
from labconsole.events import kinds as K
from labconsole.lab.service import Lab

pytestmark = pytest.mark.slow


def test_agents_pause_when_every_baseline_run_of_a_measurement_fails(
    autoresearch_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("labconsole.lab.preflight_init._has_uv", lambda: False)
    repo = autoresearch_repo
    assert main(["init", str(repo)]) == 0
    marker = tmp_path / "data-gone"
    # The objective stands in for a lab whose data disappears once the session is under way.
    text = (repo / "lab.toml").read_text()
    text = text.replace('command = "python train.py"', f'command = "test ! -e {marker} && python train.py"')
    (repo / "lab.toml").write_text(re.sub(r"(?m)^budget = 8", "budget = 3", text))
    commit_all(repo, "lab.toml")

    lab = Lab.start_session(repo)
    notes: list[str] = []
    lab.subscribe(lambda event, state: notes.append(event.data["text"]) if event.kind == K.NOTE else None)
    try:
        lab.start(track=False)  # the baseline measures: agents start
        marker.touch()  # from now on every run fails, the baseline's too
        deadline = time.monotonic() + 120
        while not any(n.startswith("agents paused") for n in notes) and time.monotonic() < deadline:
            time.sleep(0.1)
        paused = [n for n in notes if n.startswith("agents paused")]
        assert paused, notes
        assert re.match(
            r"agents paused: the baseline on [0-9a-f]{12} no longer measures \(exit code 1: .*\); "
            r"fix main, then resume them \(B\)$",
            paused[0],
        ), paused[0]
        assert lab.orchestrator is not None
        assert lab.orchestrator.paused_roles == {"researcher", "planner", "worker", "reviewer", "reporter"}
        assert len(paused) == 1  # said once, not once per measurement
    finally:
        lab.close()
