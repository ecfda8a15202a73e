"""The HF Jobs executor against a local fake of the Hub's jobs endpoints (tests/executors/fake_hub.py, 127.0.0.1).

Not the real service: the fake answers in the shapes huggingface_hub's jobs API reads, and runs each job's
command as a local process, so the job script (bundle, commit check, objective, markers) really runs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labconsole.core.config import load_config
from labconsole.errors import LabError
from labconsole.runs.executor import RunCancelled, RunRequest
from labconsole.runs.factory import build_executor
from labconsole.runs.hf_jobs import HfJobsExecutor
from labconsole.runs.preflight import preflight
from labconsole.runs.remote_run import make_bundle
from tests.executors.fake_hub import TOKEN, FakeHub
from tests.executors.lab_fixture import make_lab
from tests.helpers.run_recorder import RunRecorder

EXECUTOR = '[executor]\nkind = "hf-jobs"\nflavor = "a10g-small"\ntimeout_s = 600\n'


class Repo:
    def __init__(self, root: Path) -> None:
        self.root = root


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # the suite runs offline; the fake is on 127.0.0.1
    with FakeHub() as fake:
        monkeypatch.setenv("HF_ENDPOINT", fake.endpoint)
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        yield fake


@pytest.fixture
def lab(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    return make_lab(tmp_path, EXECUTOR)


class Recorder(RunRecorder):
    def finished(self, run_id: str) -> dict[str, Any]:
        return next(d for k, d in self.events if k == "run.finished" and d["run_id"] == run_id)


def executor(lab: tuple[Path, dict[str, str]], rec: Recorder) -> HfJobsExecutor:
    config = load_config(lab[0] / "lab.toml")
    preflight(config)
    ex = build_executor(config, Repo(lab[0]), rec.append, rec.put_blob, lab[0] / ".labconsole" / "runs")
    assert isinstance(ex, HfJobsExecutor)
    return ex


def req(shas: dict[str, str], run_id: str, role: str, mode: str, repeat: int = 0) -> RunRequest:
    return RunRequest(run_id, "h1", role, shas[mode], repeat, {})


def test_a_measurement_runs_as_jobs_with_labels_flavor_and_timeout(hub: FakeHub, lab: Any) -> None:
    rec = Recorder()
    ex = executor(lab, rec)
    base = ex.run(req(lab[1], "h1-m1-b0", "baseline", "ok"))
    cand = ex.run(req(lab[1], "h1-m1-c0", "candidate", "better"))
    assert (base.outcome.status, base.outcome.metric) == ("ok", 1.0)
    assert (cand.outcome.status, cand.outcome.metric) == ("ok", 1.5)
    assert cand.where.startswith("hf-jobs:") and cand.where != base.where  # one job each, named by its id
    spec = hub.specs[1]
    assert spec["flavor"] == "a10g-small" and spec["timeoutSeconds"] == 600
    assert spec["labels"]["labconsole-hypothesis"] == "h1" and spec["labels"]["labconsole-run"] == "h1-m1-c0"
    assert spec["labels"]["labconsole-commit"] == lab[1]["better"]
    finished = rec.finished("h1-m1-c0")
    assert finished["where"] == cand.where and finished["sandbox"] == "hf-jobs"
    log = rec.blobs[finished["log_blob"]].decode()
    assert "ran better h1-m1-c0" in log and "LABCONSOLE-" not in log  # the objective's lines, not the markers
    started = next(d for k, d in rec.events if k == "run.started" and d["run_id"] == "h1-m1-c0")
    assert started["executor"] == "hf-jobs"


def test_the_job_refuses_a_bundle_of_another_commit(hub: FakeHub, lab: Any) -> None:
    rec = Recorder()
    ex = executor(lab, rec)
    other = make_bundle(lab[0], lab[1]["ok"], lab[0].parent / "other.bundle")
    import base64

    ex._bundles[lab[1]["better"]] = base64.b64encode(other.read_bytes()).decode()
    done = ex.run(req(lab[1], "h1-m1-c0", "candidate", "better"))
    assert done.outcome.status == "refused" and done.outcome.metric is None
    assert done.outcome.error.startswith("commit mismatch: the bundle holds " + lab[1]["ok"])


def test_failures_and_tampering_stay_visible(hub: FakeHub, lab: Any) -> None:
    rec = Recorder()
    ex = executor(lab, rec)
    crash = ex.run(req(lab[1], "h1-m1-c0", "candidate", "crash"))
    assert crash.outcome.status == "failed" and crash.outcome.error == "exit code 1: boom: the objective crashed"
    assert rec.finished("h1-m1-c0")["log_blob"]  # its log is kept
    tamper = ex.run(req(lab[1], "h1-m1-c1", "candidate", "tamper"))
    assert tamper.outcome.status == "invalid" and tamper.tampering == ("prepare.py",)


def test_cancel_cancels_the_job_in_flight_and_refuses_new_runs(hub: FakeHub, lab: Any) -> None:
    rec = Recorder()
    ex = executor(lab, rec)
    out: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: out.update(done=ex.run(req(lab[1], "h1-m1-c0", "candidate", "sleep"))))
    thread.start()
    while not hub.jobs:
        time.sleep(0.05)
    time.sleep(0.5)
    ex.cancel()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert (out["done"].outcome.status, out["done"].outcome.error) == ("crashed", "stopped with the console")
    assert all(job.canceled for job in hub.jobs.values())
    with pytest.raises(RunCancelled):
        ex.run(req(lab[1], "h1-m1-c1", "candidate", "ok"))


def test_a_token_the_hub_refuses_is_one_line(hub: FakeHub, lab: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_wrong")
    with pytest.raises(LabError) as err:
        preflight(load_config(lab[0] / "lab.toml"))
    assert (
        str(err.value)
        == f"[executor] hf-jobs: {hub.endpoint} refused the Hugging Face token (HTTP 401); set a valid HF_TOKEN"
    )


def test_an_unreachable_hub_is_one_line(lab: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    with pytest.raises(LabError, match="HF_HUB_OFFLINE is set"):
        preflight(load_config(lab[0] / "lab.toml"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    with pytest.raises(LabError, match=rf"cannot reach http://127.0.0.1:{port} \("):
        preflight(load_config(lab[0] / "lab.toml"))


def test_jobs_a_dead_console_left_running_are_cancelled_by_the_next(hub: FakeHub, lab: Any) -> None:
    first = executor(lab, Recorder())
    thread = threading.Thread(target=lambda: first.run(req(lab[1], "h1-m1-c0", "candidate", "sleep")), daemon=True)
    thread.start()
    while not hub.jobs:
        time.sleep(0.05)
    # The next console (same lab, labels tell its jobs apart) ends what the first left running.
    assert executor(lab, Recorder()).clean_up_after_crash() == ["h1-m1-c0"]
    assert all(job.canceled for job in hub.jobs.values())
    thread.join(timeout=30)


def test_lines_stream_back_from_the_logs_endpoint_while_the_job_runs(
    hub: FakeHub, lab: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import labconsole.runs.hf_jobs as hf_jobs

    monkeypatch.setattr(hf_jobs, "POLL_S", 0.3)
    rec = Recorder()
    arrived: dict[str, float] = {}
    append = rec.append

    def timed(kind: str, actor: str, data: dict[str, Any]) -> None:
        append(kind, actor, data)
        arrived.setdefault(f"{kind}:{data.get('text', '')}", time.monotonic())

    rec.append = timed  # type: ignore[method-assign]
    done = executor(lab, rec).run(req(lab[1], "h1-m1-c0", "candidate", "stream"))
    assert done.outcome.status == "ok"
    texts = [d["text"] for k, d in rec.events if k == "run.log"]
    assert texts == ["early [REDACTED]", "late", "ran stream h1-m1-c0"]  # redacted; no markers, no repeats
    assert arrived["run.finished:"] - arrived["run.log:early [REDACTED]"] > 1.5  # polled in flight, not at the end
    kinds = [k for k, _ in rec.events]
    assert kinds.index("run.finished") > max(i for i, k in enumerate(kinds) if k == "run.log")
