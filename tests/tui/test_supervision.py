"""The console as a supervisor lives in it: a header that ticks without events, agents' states from their
hypotheses, the "needs you" banner and its notifications (once per event), and a key bar that keeps quit."""

from __future__ import annotations

import pytest

import labconsole.tui.app as app_module
from labconsole.lab.notify import NotifyConfig
from labconsole.tui.app import LabConsoleApp
from labconsole.tui.source import LiveSource

from .conftest import FakeLab
from .helpers import plain, settle

pytestmark = pytest.mark.anyio
LIVE = 0.15


def live_app(lab: FakeLab, **kwargs: object) -> LabConsoleApp:
    return LabConsoleApp(LiveSource(lab), notify_config=NotifyConfig(urls=[]), **kwargs)  # type: ignore[arg-type]


async def test_header_clock_ticks_without_events(fake_lab: FakeLab, monkeypatch: pytest.MonkeyPatch) -> None:
    now = {"t": fake_lab._state.last_ts + 3}
    monkeypatch.setattr(app_module.time, "time", lambda: now["t"])
    app = live_app(fake_lab)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot, LIVE)
        header = app.screen.query_one("LabHeader")
        first = plain(header)
        assert "runs" in first and "$0.85/$5.00" in first
        now["t"] += 125  # two minutes pass and the lab says nothing
        await pilot.pause(1.3)  # a second of ticks
        later = plain(header)
        assert later != first
        assert "last event 2m08s ago" in later


async def test_idle_worker_with_a_candidate_in_review_is_waiting_for_you(fake_lab: FakeLab) -> None:
    app = live_app(fake_lab)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot, LIVE)
        fake_lab.append("agent.status", "agent:worker-1", {"agent_id": "worker-1", "state": "idle"})
        await settle(pilot, LIVE)
        table = app.screen.query_one("#agents")
        row = table.get_row("worker-1")  # type: ignore[attr-defined]
        assert str(row[1]) == "waiting for you" and row[2] == "h003"


async def test_needs_you_banner_and_one_notification_per_event(
    fake_lab: FakeLab, monkeypatch: pytest.MonkeyPatch
) -> None:
    rung: list[str] = []
    monkeypatch.setattr(LabConsoleApp, "terminal_notify", lambda self, text: rung.append(text))
    app = live_app(fake_lab)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot, LIVE)
        banner = plain(app.screen.query_one("NeedsYouBanner"))
        assert "NEEDS YOU 3" in banner and "2 candidates await your review" in banner
        assert rung == []  # what already waited when the console opened is on screen, not rung
        fake_lab.append(
            "agent.log", "agent:worker-1", {"agent_id": "worker-1", "level": "info", "text": "please look at me"}
        )
        await settle(pilot, LIVE)
        assert rung == []  # an agent's own words never ring
        fake_lab.append("budget.exhausted", "console", {"scope": "session", "resource": "usd"})
        await settle(pilot, LIVE)
        fake_lab.append("note", "console", {"text": "more events, same pause"})
        await settle(pilot, LIVE)
        assert rung == ["budget exhausted (session:usd): agents paused until you resume (B)"]
        assert "budget paused the agents" in plain(app.screen.query_one("NeedsYouBanner"))
        await pilot.press("2")  # on every screen
        await settle(pilot, LIVE)
        assert "NEEDS YOU 4" in plain(app.screen.query_one("NeedsYouBanner"))


@pytest.mark.parametrize("size", [(80, 24), (100, 30), (200, 60)])
async def test_key_bar_keeps_quit_at_every_size(fake_lab: FakeLab, size: tuple[int, int]) -> None:
    app = live_app(fake_lab)
    async with app.run_test(size=size) as pilot:
        await settle(pilot, LIVE)
        for key in ("1", "2", "3", "4", "5", "6"):
            await pilot.press(key)
            await settle(pilot, LIVE)
            bar = plain(app.screen.query_one("KeyBar"), width=size[0]).rstrip()
            assert bar.endswith("q Quit  ^p palette"), bar


async def test_leaderboard_says_better_or_worse_and_marks_an_older_main(fake_lab: FakeLab) -> None:
    app = live_app(fake_lab)
    async with app.run_test(size=(200, 60)) as pilot:
        await settle(pilot, LIVE)
        state = app.lab_state
        board = app.screen.query_one("#board")
        rows = {key: board.get_row(key) for key in ("h003", "h004", "h002")}  # type: ignore[attr-defined]
        # val_bpb is minimized: a lower median reads "better", a higher one "worse" — never a bare sign.
        assert str(rows["h003"][3]).endswith("better") and str(rows["h002"][3]).endswith("worse")
        old = [k for k in ("h003", "h004") if state.hypotheses[k].base_sha != state.baseline_sha]
        assert old, "the example session has a candidate measured before the last merge"
        for key in ("h003", "h004"):
            assert str(rows[key][1]).endswith("*") == (key in old)
        assert "measured on an older main" in plain(app.screen.query_one("#best-line"))
        app.open_review(old[0])
        await settle(pilot, LIVE)
        await pilot.press("e")
        await pilot.pause()
        from labconsole.tui.screens.dialogs import ConfirmDialog

        assert isinstance(app.screen, ConfirmDialog)
        assert app.screen.question.startswith(f"Re-measure {old[0]} (")
        await pilot.press("y")
        await settle(pilot, LIVE)
        assert ("remeasure", old[0]) in fake_lab.calls


def test_agent_log_lines_read_as_actions_and_stay_inert() -> None:
    from labconsole.tui import agentlog

    assert agentlog.render('{"type":"tool_call","tool":"bash","input":"pytest -q","ok":false,"error":"exit 1"}') == (
        "⚙ bash pytest -q  ✗ exit 1",
        agentlog.BAD,
    )
    assert agentlog.render('{"type":"heartbeat"}') == ("· heartbeat", agentlog.DIM)
    assert (
        agentlog.render('{"type":"status","state":"working","hypothesis":"h004","detail":"tests"}')[0]
        == "● working h004 — tests"
    )
    text, _ = agentlog.render('{"type":"log","level":"info","text":"\\u001b]0;owned\\u0007hi"}')
    assert "\x1b" not in text and "\x07" not in text and text.endswith("hi")
    assert agentlog.render("plain \x1b[2Jtext")[0] == "plain  [2Jtext"
    assert agentlog.render('{"type": 5}')[0] == '{"type": 5}'  # not a protocol message: as written


async def test_agent_log_is_readable_with_follow_and_raw_visible(fake_lab: FakeLab) -> None:
    log = fake_lab.session_dir / "agents" / "worker-1.log"
    log.write_text(
        '{"type":"hello","role":"worker","backend":"claude-code","model":"x","protocol":1}\n'
        '{"type":"tool_call","tool":"edit","input":"train.py","ok":true}\n'
    )
    app = live_app(fake_lab)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot, LIVE)
        app.open_agent("worker-1")
        await settle(pilot, 0.6)
        view = app.screen.query_one("LogView")
        assert "2 lines · follow ON (f) · readable (j)" in str(view.border_subtitle)
        shown = "".join(seg.text for seg in view.render_line(1))
        assert "⚙ edit train.py  ✓" in shown and "{" not in shown
        assert "log lines" not in plain(app.screen.query_one("#agent-info"))
        await pilot.press("f", "j")
        await pilot.pause()
        assert "follow off (f) · raw JSON (j)" in str(view.border_subtitle)
        assert '"tool_call"' in "".join(seg.text for seg in view.render_line(1))


@pytest.mark.parametrize(
    "key,body,command",
    [
        ("4", "#bench-table", "labconsole bench kernels/rmsnorm --json"),
        ("5", "#evals-content", "labconsole eval cuda-kernels"),
        ("6", "#profile-chart", "labconsole profile qwen3-tiny-decode --device cpu --json"),
    ],
)
async def test_empty_screens_teach(
    fake_lab: FakeLab, tmp_path, monkeypatch: pytest.MonkeyPatch, key: str, body: str, command: str
) -> None:
    monkeypatch.chdir(tmp_path)  # no results anywhere
    app = live_app(fake_lab)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.press(key)
        await settle(pilot, LIVE)
        shown = plain(app.screen.query_one(body), width=160)
        assert "This screen shows" in shown and "It looks in" in shown and f"$ {command}" in shown, shown
        title = plain(app.screen.query_one(f"#{body[1:].split('-')[0]}-title"), width=160)
        assert title.startswith(" No ") and command in title
