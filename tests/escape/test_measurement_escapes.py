"""A hostile candidate's train.py, measured by the console: every escape it tries must be blocked.

On the old executor (the console's whole environment, no sandbox) every one of these escaped."""

from __future__ import annotations

import pytest

from labconsole.core.config import load_config
from labconsole.core.sandbox import bwrap_path
from labconsole.lab.gitops import LabRepo
from labconsole.runs.local import LocalExecutor, RunRequest
from tests.escape.world import CASES, SECRET_VALUE, make_world, parse

needs_bwrap = pytest.mark.skipif(bwrap_path() is None, reason="bubblewrap (bwrap) is not installed or cannot run here")


@pytest.fixture(scope="module")
def measured():
    """One run of the hostile objective (module-scoped: it tries every case at once)."""
    mp = pytest.MonkeyPatch()
    world = make_world(mp)
    try:
        repo = LabRepo(world.lab)
        events: list[tuple[str, dict]] = []
        blobs: dict[str, bytes] = {}

        def put_blob(data: bytes) -> str:
            blobs[f"b{len(blobs)}"] = data
            return f"b{len(blobs) - 1}"

        executor = LocalExecutor(
            repo,
            load_config(world.lab / "lab.toml"),
            lambda k, a, d: events.append((k, d)),
            put_blob,
            world.lab / ".labconsole" / "runs",
        )
        executor.run_once(RunRequest("r1", "h1", "candidate", repo.head_sha(), 0, {}))
        finished = next(d for k, d in events if k == "run.finished")
        output = blobs[finished["log_blob"]].decode()
        yield world, parse(output), output, events, world.damage()
    finally:
        world.close()
        mp.undo()


@needs_bwrap
@pytest.mark.parametrize("case", CASES)
def test_hostile_candidate_is_blocked(measured, case: str) -> None:
    world, results, output, _, _ = measured
    assert case in results, f"{case} was not tried:\n{output}"
    assert results[case] == "blocked", f"{case} escaped:\n{output}"


@needs_bwrap
def test_no_damage_outside_and_run_marked_sandboxed(measured) -> None:
    world, results, output, events, damage = measured
    assert damage == []
    started = next(d for k, d in events if k == "run.started")
    finished = next(d for k, d in events if k == "run.finished")
    assert started["sandbox"] == finished["sandbox"] == "bwrap"
    assert "LABCONSOLE_ESCAPE_API_KEY" not in started["env_names"]
    assert SECRET_VALUE not in output
