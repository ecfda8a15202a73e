"""The measurement sandbox's contract: allow-listed environment recorded by name, secrets redacted from what is
stored, degraded without bubblewrap (or refused when required), limits with a recorded reason."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from labconsole.core.sandbox import bwrap_path
from labconsole.errors import LabError
from labconsole.lab.gitops import LabRepo
from labconsole.runs import run_sandbox
from labconsole.runs.local import LocalExecutor, RunRequest
from tests.helpers.git_lab import init_lab
from tests.helpers.lab_toml import lab_toml
from tests.helpers.run_recorder import RunRecorder
from tests.escape.world import SECRET_NAME, SECRET_VALUE, base_dir

needs_bwrap = pytest.mark.skipif(bwrap_path() is None, reason="bubblewrap (bwrap) is not installed or cannot run here")


MADE: list[Path] = []


@pytest.fixture(autouse=True)
def clean_up():
    yield
    while MADE:
        shutil.rmtree(MADE.pop(), ignore_errors=True)


def lab_with(objective_py: str, extra: str = "") -> tuple[Path, LabRepo]:
    MADE.append(base_dir())  # outside /tmp, like the escape suite: the private /tmp hides nothing here
    toml = lab_toml(
        lab_name="sandbox",
        command="python objective.py",
        metric=r"regex:^loss (\S+)",
        timeout_s=60,
        repeats=1,
        objective_extra=extra,
        search_file="objective.py",
    )
    lab = init_lab(MADE[-1] / "lab", {"objective.py": objective_py, "lab.toml": toml})
    return lab, LabRepo(lab)


def run(lab: Path, repo: LabRepo) -> tuple[dict, dict, bytes, LocalExecutor, list]:
    rec = RunRecorder()
    executor = LocalExecutor(rec.context(repo, lab))
    executor.run_once(RunRequest("r1", "h1", "candidate", repo.head_sha(), 0, {}))
    finished = rec.first("run.finished")
    return rec.first("run.started"), finished, rec.blobs[finished["log_blob"]], executor, rec.events


PRINT_SECRET = f"import os\nprint('got', os.environ.get('{SECRET_NAME}'))\nprint('loss 1.0')\n"


@pytest.fixture(autouse=True)
def secret(monkeypatch):
    monkeypatch.setenv(SECRET_NAME, SECRET_VALUE)


def test_secret_is_not_passed_unless_named_and_never_stored(monkeypatch) -> None:
    lab, repo = lab_with(PRINT_SECRET)
    started, finished, log, _, _ = run(lab, repo)
    assert finished["status"] == "ok" and b"got None" in log
    assert SECRET_NAME not in started["env_names"] and "PATH" in started["env_names"]
    # Named by the lab: passed, recorded by name, and its value still never reaches the stored log.
    lab, repo = lab_with(PRINT_SECRET, f'env = ["{SECRET_NAME}"]')
    started, finished, log, _, _ = run(lab, repo)
    assert SECRET_NAME in started["env_names"]
    assert SECRET_VALUE.encode() not in log and b"got [REDACTED]" in log


def test_without_bubblewrap_runs_degraded_and_require_sandbox_refuses(monkeypatch) -> None:
    monkeypatch.setattr(
        run_sandbox.SandboxStatus,
        "here",
        classmethod(lambda cls: cls("degraded", "bubblewrap (bwrap) is not installed")),
    )
    lab, repo = lab_with(PRINT_SECRET)
    started, finished, log, executor, events = run(lab, repo)
    assert started["sandbox"] == finished["sandbox"] == "degraded" and finished["status"] == "ok"
    assert b"got None" in log  # the allow-list holds without a sandbox too
    executor.announce_sandbox()
    status = next(d for k, d in events if k == "sandbox.status")
    assert status["mode"] == "degraded" and "not installed" in status["reason"]
    lab, repo = lab_with(PRINT_SECRET, "require_sandbox = true")
    executor = LocalExecutor(RunRecorder().context(repo, lab))
    with pytest.raises(LabError, match="require_sandbox = true but bubblewrap"):
        executor.announce_sandbox()


@needs_bwrap
def test_network_only_when_the_lab_sets_it() -> None:
    import socket
    import threading

    server = socket.create_server(("127.0.0.1", 0))
    threading.Thread(target=lambda: server.accept(), daemon=True).start()
    port = server.getsockname()[1]
    code = (
        f"import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=3); print('net yes')\n"
        "except OSError as e:\n    print('net no', e)\nprint('loss 1.0')\n"
    )
    try:
        _, _, log, _, _ = run(*lab_with(code))
        assert b"net no" in log
        _, _, log, _, _ = run(*lab_with(code, "network = true"))
        assert b"net yes" in log
    finally:
        server.close()


@needs_bwrap
def test_memory_limit_is_the_recorded_reason() -> None:
    code = "x = bytearray(600 * 1024 * 1024)\nx[::4096] = b'1' * len(x[::4096])\nprint('loss 1.0')\n"
    _, finished, _, _, _ = run(*lab_with(code, "memory_mb = 200"))
    assert finished["status"] != "ok" and finished["error"] == "killed: memory limit 200 MB"


@needs_bwrap
def test_process_limit_is_the_recorded_reason() -> None:
    code = "import subprocess\nprocs = [subprocess.Popen(['sleep', '5']) for _ in range(60)]\nprint('loss 1.0')\n"
    _, finished, _, _, _ = run(*lab_with(code, "max_processes = 20"))
    assert finished["status"] != "ok" and finished["error"] == "killed: process limit 20", finished
