"""The console runs the objective itself: exact commits, failures kept visible, tampering caught, Trackio mirrored."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import uuid
from pathlib import Path

import pytest

from labconsole.core.config import load_config
from labconsole.lab.gitops import LabRepo
from labconsole.runs.executor import ExecutorContext
from labconsole.runs.local import LocalExecutor, RunRequest
from labconsole.runs.tracking import TrackioSink
from tests.helpers.git_lab import init_lab
from tests.helpers.lab_toml import lab_toml

OBJECTIVE = """
import json, os, sys, time
mode = open("mode.txt").read().strip()
if mode == "sleep": time.sleep(30)
if mode == "crash": sys.exit("boom: the objective crashed")
if mode == "tamper": open("prepare.py", "a").write("# cheat\\n")
if mode != "nometric":
    json.dump({"loss": {"value": 1.0 + int(os.environ["LABCONSOLE_SEED"])}}, open("result.json", "w"))
print("done", mode)
"""


def make_lab(tmp_path: Path, project: str) -> tuple[Path, LabRepo]:
    toml = lab_toml(
        lab_name=project,
        command="python objective.py",
        metric="json:result.json#loss.value",
        timeout_s=2,
        repeats=2,
        protected=("prepare.py",),
        search_file="objective.py",
    )
    files = {"objective.py": OBJECTIVE, "prepare.py": "# evaluator\n", "mode.txt": "ok\n", "lab.toml": toml}
    lab = init_lab(tmp_path / "lab", files)
    return lab, LabRepo(lab)


def commit_mode(lab: Path, repo: LabRepo, mode: str) -> str:
    (lab / "mode.txt").write_text(mode + "\n")
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    subprocess.run(["git", "commit", "-qam", mode], cwd=lab, check=True, env=env)
    return repo.head_sha()


@pytest.fixture
def setup(tmp_path: Path):
    project = f"exec-{uuid.uuid4().hex[:8]}"
    lab, repo = make_lab(tmp_path, project)
    events: list[tuple[str, dict]] = []
    blobs: dict[str, bytes] = {}

    def put_blob(data: bytes) -> str:
        key = f"b{len(blobs)}"
        blobs[key] = data
        return key

    tracker = TrackioSink()
    executor = LocalExecutor(
        ExecutorContext(repo, load_config(lab), lambda k, a, d: events.append((k, d)), put_blob, tmp_path / "runs"),
        tracker=tracker,
    )
    return lab, repo, executor, events, blobs, tracker, project


def test_outcomes_of_every_kind_are_recorded(setup) -> None:
    lab, repo, executor, events, blobs, tracker, project = setup
    base = repo.head_sha()
    results = {}
    for mode in ("ok", "sleep", "crash", "nometric", "tamper"):
        sha = commit_mode(lab, repo, mode) if mode != "ok" else base
        outcome, touched = executor.run_once(RunRequest(f"r-{mode}", "h1", "candidate", sha, 1, {"X": 2}))
        results[mode] = (outcome, touched)
    assert results["ok"][0].status == "ok" and results["ok"][0].metric == 2.0  # seed = repeat = 1
    assert results["sleep"][0].status == "timeout" and "timed out after 2 s" in results["sleep"][0].error
    assert results["crash"][0].status == "failed" and "boom: the objective crashed" in results["crash"][0].error
    assert results["nometric"][0].status == "failed" and "result.json was not written" in results["nometric"][0].error
    assert results["tamper"][0].status == "invalid" and results["tamper"][1] == ["prepare.py"]
    finished = [d for k, d in events if k == "run.finished"]
    assert len(finished) == 5 and all(d["log_blob"] in blobs for d in finished)
    assert b"boom: the objective crashed" in blobs[next(d["log_blob"] for d in finished if d["run_id"] == "r-crash")]
    # measurement checkouts are gone afterwards
    assert not any((executor.runs_dir).glob("r-*"))
    tracker.close()

    db = Path(os.environ["TRACKIO_DIR"]) / f"{project}.db"
    rows = sqlite3.connect(db).execute("select run_name from configs").fetchall()
    assert sorted(r[0] for r in rows) == sorted(f"r-{m}" for m in ("ok", "sleep", "crash", "nometric", "tamper"))
    alerts = sqlite3.connect(db).execute("select count(*) from alerts").fetchone()[0]
    assert alerts == 4  # one per failed run


def test_measure_interleaves_and_pairs_seeds(setup) -> None:
    lab, repo, executor, events, blobs, tracker, project = setup
    base = repo.head_sha()
    cand = commit_mode(lab, repo, "ok2")  # same objective, different commit
    outcomes, tampering = executor.measure("h1", cand, base, {"X": 1}, measurement=1)
    assert [(o.role, o.repeat) for o in outcomes] == [
        ("baseline", 0),
        ("candidate", 0),
        ("candidate", 1),
        ("baseline", 1),
    ]
    assert [o.metric for o in outcomes] == [1.0, 1.0, 2.0, 2.0]
    started = [d for k, d in events if k == "run.started"]
    assert [d["commit"] for d in started] == [base, cand, cand, base]
    assert tampering == []
    tracker.close()


def test_gpu_runs_lease_and_measure_idle_time(tmp_path: Path) -> None:
    from dataclasses import replace

    from labconsole.gpu.leases import GpuLeasePool

    lab, repo = make_lab(tmp_path, f"gpu-{uuid.uuid4().hex[:8]}")
    (lab / "objective.py").write_text(
        "import json, os\nprint('cvd', os.environ.get('CUDA_VISIBLE_DEVICES'))\n"
        "json.dump({'loss': {'value': 1.0}}, open('result.json', 'w'))\n"
    )
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "gpu"], cwd=lab, check=True)
    config = load_config(lab)
    config = replace(config, resources=replace(config.resources, gpus_per_run=1))
    events: list[tuple[str, dict]] = []
    logs: list[bytes] = []
    pool = GpuLeasePool(["3"])
    executor = LocalExecutor(
        ExecutorContext(
            repo, config, lambda k, a, d: events.append((k, d)), lambda b: logs.append(b) or "x", tmp_path / "runs"
        ),
        lease_pool=pool,
    )
    sha = repo.head_sha()
    executor.run_once(RunRequest("g0", "h1", "candidate", sha, 0, {}))
    executor.run_once(RunRequest("g1", "h1", "candidate", sha, 0, {}))
    started = [d for k, d in events if k == "run.started"]
    assert [d["gpus"] for d in started] == [["3"], ["3"]]
    assert started[1]["gpu_idle_before_s"] > 0  # the gap between the two leases was measured
    assert all(b"cvd 3" in log for log in logs)
    assert not pool.active_leases()


def test_local_executor_is_the_executor_port(setup) -> None:
    from labconsole.runs.executor import ExecutedRun, Executor

    lab, repo, executor, events, blobs, tracker, project = setup
    assert isinstance(executor, Executor)
    sha = commit_mode(lab, repo, "tamper")
    done = executor.run(RunRequest("p1", "h1", "candidate", sha, 0, {}))
    assert isinstance(done, ExecutedRun) and done.where == "local"
    assert done.outcome.status == "invalid" and done.tampering == ("prepare.py",)
    assert [k for k, _ in events if k != "run.log"] == ["run.started", "run.finished"]
    assert [d["text"] for k, d in events if k == "run.log"] == ["done tamper"]  # its line streamed as it ran
    executor.cancel()  # after cancel nothing starts: no half-recorded run
    assert executor.measure("h1", sha, repo.head_sha(), {}, measurement=2) == ([], [])
    assert [k for k, _ in events if k != "run.log"] == ["run.started", "run.finished"]
