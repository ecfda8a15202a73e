"""Snapshot tests of the main screens on the fixed recorded session (no live timers: replay mode).

Update after an intended visual change: ``pytest tests/tui/test_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot

from labconsole.tui.app import make_replay_app


async def _settled(pilot: Pilot) -> None:
    # Workers (replay index, log indexing) post messages whose handlers may start more work or scroll after a
    # refresh (a followed log jumps to its tail): a few rounds, so the picture never depends on the machine's load.
    for _ in range(4):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.pause(0.05)


def _keys_then_settle(*keys: str):
    async def run_before(pilot: Pilot) -> None:
        await _settled(pilot)
        for key in keys:
            await pilot.press(key)
            await _settled(pilot)

    return run_before


def test_overview(snap_compare, example_session: Path) -> None:
    assert snap_compare(make_replay_app(example_session), terminal_size=(140, 40), run_before=_keys_then_settle())


def test_overview_small_terminal(snap_compare, example_session: Path) -> None:
    assert snap_compare(make_replay_app(example_session), terminal_size=(80, 24), run_before=_keys_then_settle())


def test_review_passed_candidate(snap_compare, example_session: Path) -> None:
    assert snap_compare(make_replay_app(example_session), terminal_size=(140, 40), run_before=_keys_then_settle("2"))


def test_review_flagged_stale_protected(snap_compare, example_session: Path) -> None:
    assert snap_compare(
        make_replay_app(example_session), terminal_size=(140, 40), run_before=_keys_then_settle("2", "n")
    )


def test_agent_detail(snap_compare, example_session: Path) -> None:
    assert snap_compare(
        make_replay_app(example_session),
        terminal_size=(140, 40),
        run_before=_keys_then_settle("3", "full_stop", "full_stop", "full_stop"),
    )


def test_help(snap_compare, example_session: Path) -> None:
    assert snap_compare(
        make_replay_app(example_session), terminal_size=(100, 50), run_before=_keys_then_settle("question_mark")
    )


def test_replay_mid_session(snap_compare, example_session: Path) -> None:
    assert snap_compare(
        make_replay_app(example_session),
        terminal_size=(140, 40),
        run_before=_keys_then_settle("less_than_sign", "right_curly_bracket", "right_curly_bracket"),
    )


@pytest.mark.parametrize("size", [(80, 24), (100, 30), (200, 60)], ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("screen", ["1", "2", "3"], ids=["overview", "review", "agents"])
def test_layouts(snap_compare, example_session: Path, size: tuple[int, int], screen: str) -> None:
    # The three sizes a supervisor uses (a laptop split, a default window, a big screen): every screen keeps
    # its panels and the key bar (with quit) visible.
    assert snap_compare(make_replay_app(example_session), terminal_size=size, run_before=_keys_then_settle(screen))
