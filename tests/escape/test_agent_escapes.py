"""Hostile agent commands: the tool loop's ``run_command`` and the real claude / codex CLIs (whole process tree
under the sandbox). Each case must be blocked; on the old code the tool loop could read ~/.ssh and other
worktrees, and the CLIs ran unsandboxed with the console's environment."""

from __future__ import annotations

import pytest

from labconsole.core.sandbox import bwrap_path
from tests.escape.runners import AGENT_CASES, cli_agent, cli_path, tool_loop
from tests.escape.world import CASES, make_world

needs_bwrap = pytest.mark.skipif(bwrap_path() is None, reason="bubblewrap (bwrap) is not installed or cannot run here")


def _run(runner, *args):
    mp = pytest.MonkeyPatch()
    world = make_world(mp)
    try:
        results, output = runner(world, *args)
        return results, output, world.damage()
    finally:
        world.close()
        mp.undo()


@pytest.fixture(scope="module")
def tool_loop_run():
    return _run(tool_loop)


@needs_bwrap
@pytest.mark.parametrize("case", CASES)
def test_tool_loop_command_is_blocked(tool_loop_run, case: str) -> None:
    results, output, damage = tool_loop_run
    assert results.get(case) == "blocked", f"{case}: {results.get(case, 'not tried')}\n{output}"
    assert damage == []


@pytest.fixture(scope="module", params=["claude-code", "codex"])
def cli_run(request, tmp_path_factory):
    if cli_path(request.param) is None:
        pytest.skip(f"{request.param} CLI not installed (tests/helpers/install_clis.sh)")
    return request.param, *_run(cli_agent, request.param, tmp_path_factory.mktemp("home"))


@needs_bwrap
@pytest.mark.net_clis
@pytest.mark.parametrize("case", AGENT_CASES)
def test_cli_agent_command_is_blocked(cli_run, case: str) -> None:
    backend, results, output, damage = cli_run
    assert results.get(case) == "blocked", f"{backend} {case}: {results.get(case, 'not tried')}\n{output[-3000:]}"
    assert damage == [] or damage == [d for d in damage if d.startswith("tcp:")]
