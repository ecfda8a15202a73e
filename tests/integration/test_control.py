"""Decisions from the shell while a console holds the session go through its control channel."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from labconsole.cli import main
from labconsole.events.audit import verify_session
from labconsole.lab import state as S
from labconsole.lab.control import ControlClient
from labconsole.lab.service import Lab
from labconsole.errors import LabError
from labconsole.lab.remote import RemoteLab

from conftest import make_demo_lab  # type: ignore[import-not-found]


def _until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


pytestmark = pytest.mark.slow


def test_cli_decides_through_the_live_console(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    lab_dir = make_demo_lab(tmp_path / "lab", budget=1, workers=1)
    lab = Lab.start_session(lab_dir)
    lab.start()
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            with lab.locked():
                waiting = lab.state.awaiting_review_ids()
            if waiting:
                break
            time.sleep(0.3)
        assert waiting, "no candidate reached review"
        hyp = waiting[0]
        client = ControlClient(lab.session_dir)
        assert client.call("ping")["session"] == lab.session_id
        with pytest.raises(LabError, match="unknown command 'format_disk'"):
            client.call("format_disk")
        with pytest.raises(LabError, match="a person must approve it first"):
            client.call("merge", hyp_id=hyp, who="t")
        # A process the console started for an agent (here: pretend we are one) is refused.
        lab.orchestrator.owners.register(os.getpid(), "agent:worker-1")
        with pytest.raises(LabError, match="refused: the request comes from agent:worker-1"):
            client.call("approve", hyp_id=hyp, who="t", confirm_flags=True)
        lab.orchestrator.owners.unregister(os.getpid())
        # and the CLI refuses inside an agent's or a run's environment
        monkeypatch.setenv("LABCONSOLE_AGENT_ID", "worker-1")
        assert main(["review", "approve", hyp, "--lab", str(lab_dir), "--yes"]) == 2
        assert "decisions come from a person" in capsys.readouterr().err
        monkeypatch.delenv("LABCONSOLE_AGENT_ID")
        # A TUI attached from elsewhere follows the log and decides through the same channel.
        remote = RemoteLab(lab_dir, lab.session_dir)
        watcher = RemoteLab(lab_dir, lab.session_dir, readonly=True)
        try:
            assert remote.state.hypotheses[hyp].status == S.AWAITING_HUMAN
            assert main(["review", "approve", hyp, "--lab", str(lab_dir), "--yes", "--who", "remote"]) == 0
            _until(lambda: remote.snapshot().hypotheses[hyp].status == S.APPROVED)
            with pytest.raises(LabError, match="read-only view"):
                watcher.merge(hyp)
            assert remote.merge(hyp, "remote").data["merge_sha"]
            # hypotheses from a profile reach the running session through the same channel
            ids = remote.propose_external(
                [{"title": "fuse residual add + RMSNorm", "params": {"operator": "rms"}}],
                "human:remote",
                {0: b'{"schema": "labconsole.profile/1"}'},
            )
            with lab.locked():
                assert lab.state.hypotheses[ids[0]].evidence_blob
            _until(lambda: watcher.snapshot().hypotheses[hyp].status == S.MERGED)
        finally:
            remote.close()
            watcher.close()
        with lab.locked():
            assert lab.state.hypotheses[hyp].status == S.MERGED
    finally:
        lab.close()
    assert not (lab.session_dir / "control").exists()
    assert verify_session(lab.session_dir).ok
