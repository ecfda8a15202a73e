"""Issue 23: a console closed by SIGHUP (the terminal went away) or SIGTERM removes its control socket, and
a socket left behind by a killed console neither blocks nor confuses the next one."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from byol.repo_fixture import commit_all

from tests.waiting import wait_for

from labconsole.cli import main
from labconsole.errors import LabError
from labconsole.events import kinds as K
from labconsole.events.log import read_events
from labconsole.lab.commands import Command, Ping
from labconsole.lab.control import ControlClient, ControlServer, socket_path
from labconsole.lab.session import list_sessions

pytestmark = pytest.mark.slow
REPO_ROOT = Path(__file__).resolve().parents[2]


def _lab(repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr("labconsole.lab.preflight_init._has_uv", lambda: False)
    assert main(["init", str(repo)]) == 0
    # Enough hypotheses that the session is still running when the signal comes.
    toml = repo / "lab.toml"
    toml.write_text(toml.read_text().replace("budget = 8", "budget = 500"))
    commit_all(repo, "lab.toml")
    return repo


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTERM], ids=["SIGHUP", "SIGTERM"])
def test_a_console_closed_by_a_signal_removes_its_socket(
    sig: signal.Signals, autoresearch_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = _lab(autoresearch_repo, monkeypatch)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "labconsole", "run", "--headless", "--lab", str(repo)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:

        def pointer() -> Path | None:
            sessions = list_sessions(repo)
            return sessions[-1] / "control" if sessions and (sessions[-1] / "control").exists() else None

        control = wait_for(pointer, 90, "the console's control socket", poll_s=0.05)
        sock = Path(control.read_text().strip())
        assert sock.exists()
        proc.send_signal(sig)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + sig, proc.stderr.read() if proc.stderr else ""
    assert not sock.exists() and not control.exists()
    events = list(read_events(control.parent))
    # the agents were stopped and the log closed (its tail sealed after the stop)
    assert [e for e in events if e.kind != K.SEAL_CHECKPOINT][-1].kind == K.SESSION_STOPPED
    assert events[-1].kind == K.SEAL_CHECKPOINT


class _Console:
    """What the control server needs of a Lab: its session dir and the door commands go through."""

    def __init__(self, session_dir: Path) -> None:
        self.session_dir = session_dir

    def execute(self, command: Command) -> Any:
        assert isinstance(command, Ping)
        return {"session_id": self.session_dir.name, "pid": os.getpid()}


def _stale_socket(session_dir: Path) -> Path:
    """What `kill -9` leaves: a bound socket file nobody listens on, and the pointer to it."""
    path = socket_path(session_dir)
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))
    dead.close()
    (session_dir / "control").write_text(str(path))
    return path


def test_a_socket_left_by_a_killed_console_never_blocks_the_next(tmp_path: Path) -> None:
    session_dir = tmp_path / "sessions" / "s1"
    session_dir.mkdir(parents=True)
    path = _stale_socket(session_dir)
    try:
        # Before a console holds the session again, a client is told plainly, without hanging.
        with pytest.raises(LabError, match="the console that held this session is gone"):
            ControlClient(session_dir, timeout_s=5).send(Ping())
        server = ControlServer(_Console(session_dir))  # the next console of this session starts regardless
        try:
            assert ControlClient(session_dir, timeout_s=5).send(Ping()) == {"session_id": "s1", "pid": os.getpid()}
        finally:
            server.close()
        assert not path.exists() and not (session_dir / "control").exists()
    finally:
        path.unlink(missing_ok=True)
