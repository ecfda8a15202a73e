"""Issue 23: when the baseline stops measuring in the middle of a session (after a merge, or the machine
changed under it), the agents pause and the console says why."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from byol.repo_fixture import commit_all

from labconsole.cli import main
from labconsole.cli.headless import run_headless
from labconsole.errors import LabError
from labconsole.events import kinds as K
from labconsole.events.log import Event
from labconsole.lab.service import Lab
from labconsole.lab.orchestrator import OrchestratorOptions

pytestmark = pytest.mark.slow


def _lab_whose_data_goes(repo: Path, marker: Path, monkeypatch: pytest.MonkeyPatch) -> Lab:
    monkeypatch.setattr("labconsole.lab.preflight_init._has_uv", lambda: False)
    assert main(["init", str(repo)]) == 0
    # The objective stands in for a lab whose data disappears once the session is under way.
    text = (repo / "lab.toml").read_text()
    text = text.replace('command = "python train.py"', f'command = "test ! -e {marker} && python train.py"')
    # The marker's directory is one the measurement sandbox may read, like a data cache.
    marker.parent.mkdir(parents=True, exist_ok=True)
    text = text.replace(
        'read_paths = ["~/.cache/autoresearch"]', f'read_paths = ["~/.cache/autoresearch", "{marker.parent}"]'
    )
    (repo / "lab.toml").write_text(re.sub(r"(?m)^budget = 8", "budget = 3", text))
    commit_all(repo, "lab.toml")
    return Lab.start_session(repo)


def test_agents_pause_when_every_baseline_run_of_a_measurement_fails(
    autoresearch_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "cache" / "data-gone"
    lab = _lab_whose_data_goes(autoresearch_repo, marker, monkeypatch)
    notes: list[str] = []
    lab.subscribe(lambda event, state: notes.append(event.data["text"]) if event.kind == K.NOTE else None)
    try:
        lab.start(OrchestratorOptions(track=False))  # the baseline measures: agents start
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


def test_a_headless_run_ends_with_the_cause_when_the_baseline_breaks(
    autoresearch_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "cache" / "data-gone"
    lab = _lab_whose_data_goes(autoresearch_repo, marker, monkeypatch)

    def break_after_the_check(event: Event, state: object) -> None:
        if event.kind == K.RUN_FINISHED and event.data["run_id"] == "baseline-check-1":
            marker.touch()  # the preflight baseline measured; every later run fails

    lab.subscribe(break_after_the_check)
    try:
        with pytest.raises(
            LabError,
            match=r"^the session stopped: the baseline on [0-9a-f]{12} no longer measures "
            r"\(exit code 1: .*\); fix main, then `labconsole run --resume`$",
        ):
            run_headless(lab, timeout_s=120)
    finally:
        lab.close()
    assert "agents paused: the baseline on" in capsys.readouterr().out  # the note, as a progress line
