"""Snapshot tests of the main screens on the fixed recorded session (no live timers: replay mode).

Update after an intended visual change: ``pytest tests/tui/test_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot

from labconsole.tui.app import make_replay_app


async def _settled(pilot: Pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


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
    assert snap_compare(make_replay_app(example_session), terminal_size=(140, 40),
                        run_before=_keys_then_settle("2", "n"))


def test_agent_detail(snap_compare, example_session: Path) -> None:
    assert snap_compare(make_replay_app(example_session), terminal_size=(140, 40),
                        run_before=_keys_then_settle("3", "full_stop", "full_stop", "full_stop"))


def test_help(snap_compare, example_session: Path) -> None:
    assert snap_compare(make_replay_app(example_session), terminal_size=(100, 50),
                        run_before=_keys_then_settle("question_mark"))


def test_replay_mid_session(snap_compare, example_session: Path) -> None:
    assert snap_compare(make_replay_app(example_session), terminal_size=(140, 40),
                        run_before=_keys_then_settle("less_than_sign", "right_curly_bracket", "right_curly_bracket"))
