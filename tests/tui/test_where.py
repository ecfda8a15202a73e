"""Where runs ran (issue 18 item 6): the leaderboard, the review's evidence and the report name each run's
executor and node or job, and the GPU panel groups telemetry by node when samples carry one."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from labconsole.events.log import EventLog, read_events
from labconsole.lab.reducer import reduce
from labconsole.lab.report import render_report, run_where
from labconsole.tui.app import make_replay_app
from labconsole.tui.widgets.keyed_table import KeyedTable
from labconsole.tui.widgets.status import GpuPanel

from .helpers import plain, press_settled

pytestmark = pytest.mark.anyio


def on_ray(example_session: Path, dest: Path) -> Path:
    """The recorded session re-logged as if its runs ran on a two-node Ray cluster."""
    log = EventLog.open(dest)
    for e in read_events(example_session):
        data = dict(e.data)
        if e.kind == "run.started":
            data["executor"] = "ray"
        if e.kind == "run.finished":
            data["where"] = "ray:10.0.0.5/node-a" if data["run_id"].endswith("0") else "ray:10.0.0.6/node-b"
        if e.kind == "gpu.sample":  # each node's sampler logs its own samples, tagged with the node
            g = data["gpus"][0]
            log.append(e.kind, e.actor, {"gpus": [g, {**g, "index": 1}], "node": "10.0.0.5"})
            data = {"gpus": [], "available": False, "reason": "no GPU: NVML not found", "node": "10.0.0.6"}
        log.append(e.kind, e.actor, data)
    log.close()
    shutil.copytree(example_session / "blobs", dest / "blobs", dirs_exist_ok=True)
    return dest


def test_report_names_executor_and_node(example_session: Path, tmp_path: Path) -> None:
    state = reduce(read_events(on_ray(example_session, tmp_path / "ray")))
    report = render_report(state)
    board = [line for line in report.splitlines() if line.startswith("| 1 |")]
    assert board and "ray:10.0.0.5/node-a" in board[0] and "ray:10.0.0.6/node-b" in board[0]
    local = reduce(read_events(example_session))
    assert {run_where(r) for r in local.runs.values()} <= {"local", "local:gpu0"}


async def test_leaderboard_evidence_and_gpu_show_where(example_session: Path, tmp_path: Path) -> None:
    app = make_replay_app(on_ray(example_session, tmp_path / "ray"))
    async with app.run_test(size=(200, 60)) as pilot:
        await press_settled(pilot)
        board = app.screen.query_one("#board", KeyedTable)
        places = [str(board.get_cell(key, "where")) for key in board._order]
        assert places and all("ray:10.0.0.5/node-a" in p for p in places)
        gpu = plain(app.screen.query_one(GpuPanel))
        # One heading per node, its GPUs under it; a node without a GPU says why.
        assert gpu.index("10.0.0.5") < gpu.index("\n0 ") < gpu.index("\n1 ") < gpu.index("10.0.0.6")
        assert gpu.count("10.0.0.5") == 1 and "10.0.0.6  no GPU: NVML not found" in gpu
        await press_settled(pilot, "2")
        assert "ray:10.0.0.5/node-a" in plain(app.screen.query_one("#evidence"), 300)


async def test_local_gpu_panel_has_no_node_headings(example_session: Path) -> None:
    app = make_replay_app(example_session)
    async with app.run_test(size=(200, 60)) as pilot:
        await press_settled(pilot)
        gpu = plain(app.screen.query_one(GpuPanel)).splitlines()
        assert gpu[1].startswith("0 ")  # as before: GPU 0 right under the title
