"""Replay: the same screens over the recorded session, driven by a cursor and its keys."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from labconsole.events.kinds import DECISION_KINDS
from labconsole.tui.app import LabConsoleApp, make_replay_app
from labconsole.tui.messages import CommandDone, StateUpdated
from labconsole.tui.screens.agent import AgentScreen
from labconsole.tui.screens.dialogs import PromptDialog
from labconsole.tui.screens.overview import OverviewScreen
from labconsole.tui.screens.review import ReviewScreen
from labconsole.tui.screens.viewers import TextViewer
from labconsole.tui.widgets.status import LabHeader
from labconsole.tui.widgets.timeline import Timeline

from .helpers import Recorder, plain, press_settled, settle

pytestmark = pytest.mark.anyio


def header_text(app: LabConsoleApp) -> str:
    return plain(app.screen.query_one(LabHeader))


async def test_opens_at_end_and_says_replay(example_session: Path) -> None:
    rec = Recorder()
    app = make_replay_app(example_session)
    async with app.run_test(size=(120, 36), message_hook=rec) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, OverviewScreen)
        assert app.cursor == app.replay.count - 1
        assert rec.of(StateUpdated)[-1].cursor == app.cursor
        assert "REPLAY" in header_text(app)
        assert "REPLAY" in plain(app.screen.query_one(Timeline))
        assert app.lab_state.hypotheses["h003"].status == "awaiting-human"


async def test_step_keys_move_the_cursor(example_session: Path) -> None:
    rec = Recorder()
    app = make_replay_app(example_session)
    async with app.run_test(size=(120, 36), message_hook=rec) as pilot:
        await settle(pilot)
        end = app.cursor
        await pilot.press("left_square_bracket")
        await settle(pilot)
        assert app.cursor == end - 1 and app.lab_state.last_seq == end - 1
        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert app.lab_state.last_seq == end
        await pilot.press("less_than_sign")
        await settle(pilot)
        assert app.cursor == 0 and app.lab_state.last_seq == 0
        assert not app.lab_state.hypotheses
        await pilot.press("greater_than_sign")
        await settle(pilot)
        assert app.lab_state.last_seq == end


async def test_decision_jumps(example_session: Path) -> None:
    app = make_replay_app(example_session)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        decisions = app.replay.decisions()
        assert decisions and all(app.replay.event(s).kind in DECISION_KINDS for s in decisions)
        await pilot.press("less_than_sign")
        await settle(pilot)
        await pilot.press("right_curly_bracket")
        await settle(pilot)
        assert app.cursor == decisions[0]
        await pilot.press("right_curly_bracket")
        await settle(pilot)
        assert app.cursor == decisions[1]
        await pilot.press("left_curly_bracket")
        await settle(pilot)
        assert app.cursor == decisions[0]


async def test_search_finds_the_merge(example_session: Path) -> None:
    rec = Recorder()
    app = make_replay_app(example_session)
    async with app.run_test(size=(120, 36), message_hook=rec) as pilot:
        await press_settled(pilot, "less_than_sign")
        await pilot.press("slash")
        await pilot.pause()
        assert isinstance(app.screen, PromptDialog)
        await pilot.press(*"merge.completed", "enter")
        await settle(pilot)
        assert app.replay.event(app.cursor).kind == "merge.completed"
        assert app.lab_state.hypotheses["h001"].status == "merged"
        await pilot.press("slash")
        await pilot.pause()
        await pilot.press("ctrl+a", *"no-such-text-anywhere", "enter")  # ctrl+a: to the start of the line
        await settle(pilot)
        assert any(not m.ok and m.action == "search" for m in rec.of(CommandDone))


async def test_search_wraps_past_the_last_match(example_session: Path) -> None:
    rec = Recorder()
    app = make_replay_app(example_session)
    async with app.run_test(size=(120, 36), message_hook=rec) as pilot:
        await settle(pilot)  # the cursor opens at the end: every match lies before it
        first = app.replay.find("session.started", 0)
        await pilot.press("slash")
        await pilot.pause()
        await pilot.press(*"session.started", "enter")
        await settle(pilot)
        assert app.cursor == first
        assert any(m.ok and "wrapped" in m.text for m in rec.of(CommandDone))


async def test_replay_is_read_only(example_session: Path) -> None:
    rec = Recorder()
    app = make_replay_app(example_session)
    async with app.run_test(size=(120, 36), message_hook=rec) as pilot:
        await press_settled(pilot, "2")
        assert isinstance(app.screen, ReviewScreen)
        await pilot.press("a", "r", "m")
        await settle(pilot)
        assert not rec.of(CommandDone)
        assert sum("ignored, this is a replay" in n.message for n in app._notifications) == 3
        assert isinstance(app.screen, ReviewScreen)  # no dialog opened


async def test_screens_and_navigation(example_session: Path) -> None:
    app = make_replay_app(example_session)
    async with app.run_test(size=(120, 36)) as pilot:
        await press_settled(pilot, "2")
        review = app.screen
        assert isinstance(review, ReviewScreen) and review.current == "h003"
        assert "PASS" in plain(review.query_one("#evidence"))
        await pilot.press("n")
        await settle(pilot)
        assert review.current == "h004"
        evidence = plain(review.query_one("#evidence"))
        assert "STALE BASELINE" in evidence and "PROTECTED" in evidence
        assert "PROTECTED FILE CHANGED" in plain(review.query_one("#diff"))
        await pilot.press("p")
        await settle(pilot)
        assert review.current == "h003"
        await pilot.press("d")
        await settle(pilot)
        assert isinstance(app.screen, TextViewer)
        assert "clip_grad_norm" in plain(app.screen.query_one("#viewer-content"))
        await pilot.press("escape")
        await pilot.press("3")
        await settle(pilot)
        agent = app.screen
        assert isinstance(agent, AgentScreen)
        first = agent.agent_id
        await pilot.press("full_stop")
        await settle(pilot)
        assert agent.agent_id != first
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, OverviewScreen)
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, TextViewer)
        help_text = plain(app.screen.query_one("#viewer-content"))
        for key in (
            "Approve",
            "Reject",
            "Merge",
            "Full diff",
            "Step back",
            "Next decision",
            "Search",
            "Pause",
            "Send message",
            "Command palette",
        ):
            assert key in help_text, key
        await pilot.press("escape")
        await pilot.press("q")
        await pilot.pause()
    assert app.return_value == 0


async def test_enter_on_a_queue_row_opens_review(example_session: Path) -> None:
    app = make_replay_app(example_session)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        app.screen.query_one("#queue").focus()
        await pilot.press("down", "enter")  # row 2: h004 (awaiting rows sort first)
        await settle(pilot)
        assert isinstance(app.screen, ReviewScreen) and app.screen.current == "h004"


def agent_seqs(session: Path, agent_id: str) -> list[int]:
    """Seqs of the events that belong in ``agent_id``'s log, read straight from the file."""
    import json

    seqs = []
    for line in (session / "events.jsonl").read_text().splitlines():
        e = json.loads(line)
        if e["actor"] == f"agent:{agent_id}" or e["data"].get("agent_id") == agent_id:
            seqs.append(e["seq"])
    return seqs


async def test_agent_log_follows_the_cursor(example_session: Path) -> None:
    """In replay the agent log is the agent's events up to the cursor: moving the cursor moves the log."""
    from labconsole.tui.widgets.log_view import LogView

    app = make_replay_app(example_session)
    async with app.run_test(size=(140, 40)) as pilot:
        await press_settled(pilot, "3")
        agent = app.screen
        assert isinstance(agent, AgentScreen)
        log = agent.query_one(LogView)
        seqs = agent_seqs(example_session, agent.agent_id)
        assert len(seqs) >= 4
        assert log.line_count == len(seqs)
        middle = seqs[len(seqs) // 2]
        app._seek(middle)
        await settle(pilot)
        await settle(pilot)
        shown = [log._line(i) for i in range(log.line_count)]
        assert log.line_count == len([s for s in seqs if s <= middle]) < len(seqs)
        assert f'"seq":{middle},' in shown[-1]
        assert f"up to #{middle}" in str(log.border_title)
        await pilot.press("left_square_bracket")  # one step back: the agent's event at `middle` leaves the log
        await settle(pilot)
        await settle(pilot)
        assert log.line_count == len([s for s in seqs if s < middle])
        text, _ = agent_text(log, log.line_count - 1)
        assert text.startswith(f"#{[s for s in seqs if s < middle][-1]} ")
        await pilot.press("less_than_sign")
        await settle(pilot)
        await settle(pilot)
        assert log.line_count == 0


def agent_text(log: object, index: int) -> tuple[str, str]:
    from labconsole.tui import agentlog

    return agentlog.render_event(log._line(index))  # type: ignore[attr-defined]


def test_head_state_is_the_state_after_the_first_events(example_session: Path) -> None:
    """A cold open shows the log's head (read without the index) while the index is built."""
    from labconsole.tui.source import ReplaySource

    source = ReplaySource(example_session)
    assert not source.indexed and not source.ready
    head = source.head_state(20)
    assert not source.ready  # the head is read without building the index
    assert head.last_seq == 19
    assert head.to_data() == source.state_at(19).to_data()
    assert source.indexed  # the first real use built and kept the index
    source.close()


async def test_kernel_lab_review_shows_the_bench_table(tmp_path: Path) -> None:
    """The recorded H100 kernel-lab session, replayed to just before the approval: the review screen shows the
    harness's table from the candidate's bench.json evidence beside the gate's numbers."""
    recorded = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "kernel_lab"
    session = next(p for p in recorded.iterdir() if (p / "events.jsonl").is_file())
    copy = tmp_path / session.name
    shutil.copytree(session, copy, ignore=shutil.ignore_patterns("index", "lock"))
    app = make_replay_app(copy)
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        approved = app.replay.find("decision.approved", 0)
        assert approved is not None
        await pilot.press("slash")
        await pilot.pause()
        await pilot.press(*"decision.approved", "enter")
        await settle(pilot)
        await pilot.press("left_square_bracket")  # one step before the person's approval
        await press_settled(pilot, "2")
        assert isinstance(app.screen, ReviewScreen)
        for _ in range(4):  # the queue is in id order: step to the approved candidate
            if app.screen.current == "h003":
                break
            await press_settled(pilot, "n")
        assert app.screen.current == "h003"
        await settle(pilot, 0.3)
        shown = plain(app.screen.query_one("#evidence"))
        assert "bench report" in shown and "NVIDIA H100" in shown and "rows4096" in shown, shown[-1500:]
