"""A hostile candidate's train.py, measured by the console: every escape it tries must be blocked.

On the old executor (the console's whole environment, no sandbox) every one of these escaped."""

from __future__ import annotations

import pytest

from labconsole.core.sandbox import bwrap_path
from tests.escape.runners import measured_run
from tests.escape.world import CASES, SECRET_VALUE, make_world

needs_bwrap = pytest.mark.skipif(bwrap_path() is None, reason="bubblewrap (bwrap) is not installed or cannot run here")


@pytest.fixture(scope="module")
def measured():
    """One run of the hostile objective (module-scoped: it tries every case at once)."""
    mp = pytest.MonkeyPatch()
    world = make_world(mp)
    try:
        results, output, events = measured_run(world)
        yield world, results, output, events, world.damage()
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
