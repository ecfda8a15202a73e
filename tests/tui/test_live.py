"""Live console over a (fake) Lab: decision keys, confirmation, typed reasons, agent controls, quitting."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from textual.pilot import Pilot

from labconsole.tui.app import LabConsoleApp
from labconsole.tui.messages import CommandDone, StateUpdated
from labconsole.tui.screens.agent import AgentScreen
from labconsole.tui.screens.dialogs import ConfirmDialog, PromptDialog, QuitDialog
from labconsole.tui.screens.review import ReviewScreen
from labconsole.tui.source import LiveSource, ReadOnlyError

from .conftest import FakeLab
from .helpers import Recorder, plain, press_settled, settle

pytestmark = pytest.mark.anyio
LIVE = 0.15  # a tick or two of the 10 Hz refresh


def live_app(lab: FakeLab, **kwargs: object) -> LabConsoleApp:
    readonly = bool(kwargs.pop("readonly", False))
    return LabConsoleApp(LiveSource(lab, readonly=readonly), **kwargs)  # type: ignore[arg-type]


@asynccontextmanager
async def live(
    lab: FakeLab, rec: Recorder | None = None, **kwargs: object
) -> AsyncIterator[tuple[LabConsoleApp, Pilot]]:
    """The live console over ``lab`` at the tests' terminal size, once its first refresh ticks have run."""
    app = live_app(lab, **kwargs)
    async with app.run_test(size=(120, 36), message_hook=rec) as pilot:
        await settle(pilot, LIVE)
        yield app, pilot


async def test_live_updates_are_coalesced(fake_lab: FakeLab) -> None:
    rec = Recorder()
    async with live(fake_lab, rec) as (app, pilot):
        rec.clear()
        for i in range(500):  # a burst from the lab's thread side
            fake_lab.append("note", "console", {"text": f"burst {i}"})
        await settle(pilot, LIVE)
        updates = rec.of(StateUpdated)
        assert 1 <= len(updates) <= 4, len(updates)
        assert app.lab_state.last_seq == fake_lab._state.last_seq
        assert "LIVE" in plain(app.screen.query_one("LabHeader"))


async def test_approve_then_merge(fake_lab: FakeLab) -> None:
    rec = Recorder()
    async with live(fake_lab, rec) as (app, pilot):
        await press_settled(pilot, "2", ticks=LIVE)
        assert isinstance(app.screen, ReviewScreen) and app.screen.current == "h003"
        await pilot.press("a")  # h003: reviewer passed, so no confirmation
        await settle(pilot, LIVE)
        assert ("approve", "h003", False) in fake_lab.calls
        assert [m.ok for m in rec.of(CommandDone)] == [True]
        assert app.lab_state.hypotheses["h003"].status == "approved"
        await pilot.press("m")  # irreversible: asks first, naming the commit and main's head
        await settle(pilot, LIVE)
        assert isinstance(app.screen, ConfirmDialog)
        h = app.lab_state.hypotheses["h003"]
        assert app.screen.question.startswith(
            f"Merge h003 ({h.sha[:8]}) into main at {app.lab_state.baseline_sha[:8]}?"
        )
        assert not any(c[0] == "merge" for c in fake_lab.calls)
        await pilot.press("y")
        await settle(pilot, LIVE)
        assert ("merge", "h003") in fake_lab.calls
        assert app.lab_state.hypotheses["h003"].status == "merged"


async def test_flagged_approval_asks_for_an_override_reason(fake_lab: FakeLab) -> None:
    # h004 edits the protected prepare.py: approving it is an override, which needs a reason for the log.
    async with live(fake_lab) as (app, pilot):
        app.open_review("h004")
        await settle(pilot, LIVE)
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(app.screen, PromptDialog)
        await pilot.press("escape")  # cancel: nothing happens
        await settle(pilot, LIVE)
        assert not fake_lab.calls
        await pilot.press("a")
        await pilot.pause()
        await pilot.press(*"ok", "enter")
        await settle(pilot, LIVE)
        assert fake_lab.calls == [("approve", "h004", True)]


async def test_reject_needs_a_typed_reason(fake_lab: FakeLab) -> None:
    async with live(fake_lab) as (app, pilot):
        await press_settled(pilot, "2", ticks=LIVE)
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, PromptDialog)
        await pilot.press("enter")  # empty: refused, dialog stays
        await pilot.pause()
        assert isinstance(app.screen, PromptDialog)
        await pilot.press(*"too noisy", "enter")
        await settle(pilot, LIVE)
        assert fake_lab.calls == [("reject", "h003", "too noisy")]
        assert app.lab_state.hypotheses["h003"].status == "rejected"


async def test_gate_errors_are_notifications_not_crashes(fake_lab: FakeLab) -> None:
    rec = Recorder()
    async with live(fake_lab, rec) as (app, pilot):
        await press_settled(pilot, "2", ticks=LIVE)
        await pilot.press("m", "y")  # not approved yet: the lab refuses after the confirmation
        await settle(pilot, LIVE)
        done = rec.of(CommandDone)
        assert len(done) == 1 and not done[0].ok and "approve it first" in done[0].text
        assert app.is_running


async def test_readonly_hides_decisions_and_says_why(fake_lab: FakeLab) -> None:
    rec = Recorder()
    async with live(fake_lab, rec, readonly=True) as (app, pilot):
        assert "READ-ONLY" in plain(app.screen.query_one("LabHeader"))
        await pilot.press("2")
        await settle(pilot, LIVE)
        assert "Approve" not in plain(app.screen.query_one("KeyBar"))
        await pilot.press("a", "r", "m")
        await settle(pilot, LIVE)
        assert not fake_lab.calls and not rec.of(CommandDone)
        said = [n.message for n in app._notifications]
        assert sum("ignored, this console is read-only (--readonly)" in m for m in said) == 3, said
        with pytest.raises(ReadOnlyError):
            app.source.approve("h003", "x", True)


async def test_agent_controls_and_message(fake_lab: FakeLab) -> None:
    async with live(fake_lab) as (app, pilot):
        app.open_agent("worker-1")
        await settle(pilot, LIVE)
        assert isinstance(app.screen, AgentScreen)
        await pilot.press("p")
        await settle(pilot, LIVE)
        await pilot.press("u")
        await settle(pilot, LIVE)
        await pilot.press("x")  # stop asks first
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("y")
        await settle(pilot, LIVE)
        await pilot.press("s")
        await pilot.pause()
        await pilot.press(*"try lr 0.01", "enter")
        await settle(pilot, LIVE)
        assert fake_lab.calls == [
            ("control", "worker-1", "pause"),
            ("control", "worker-1", "resume"),
            ("control", "worker-1", "stop"),
            ("message", "worker-1", "try lr 0.01"),
        ]


async def test_quit_owned_session_asks_to_stop_agents(fake_lab: FakeLab) -> None:
    async with live(fake_lab) as (app, pilot):
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, QuitDialog)
        await pilot.press("c")  # cancel
        await pilot.pause()
        assert app.is_running and not isinstance(app.screen, QuitDialog)
        await pilot.press("q")
        await pilot.pause()
        await pilot.press("s")
        await pilot.pause()
    assert app.stop_agents is True


async def test_quit_attached_never_stops(fake_lab: FakeLab) -> None:
    async with live(fake_lab, attached=True) as (app, pilot):
        assert "ATTACHED" in plain(app.screen.query_one("LabHeader"))
        await pilot.press("q")
        await pilot.pause()
    assert app.stop_agents is False and app.return_value == 0


def test_sampler_comes_from_the_labs_telemetry_port(fake_lab: FakeLab) -> None:
    import labconsole.tui as tui
    from labconsole.gpu.telemetry import GpuTelemetry, TelemetrySampler

    sampler = TelemetrySampler(GpuTelemetry(nvml=object()))
    fake_lab.telemetry = sampler  # type: ignore[attr-defined]
    assert tui._sampler_for(fake_lab) == (sampler, False)  # type: ignore[arg-type]
    fake_lab.telemetry = None  # type: ignore[attr-defined]
    own, is_own = tui._sampler_for(fake_lab)  # type: ignore[arg-type]
    assert is_own and own is not None and own is not sampler


def test_run_app_stops_only_when_asked(fake_lab: FakeLab, monkeypatch: pytest.MonkeyPatch) -> None:
    import labconsole.tui as tui

    choice = {"value": "stop"}

    def fake_run(self: LabConsoleApp) -> int:
        self.quit_choice = choice["value"]
        self.stop_agents = choice["value"] == "stop"
        return 0

    monkeypatch.setattr(LabConsoleApp, "run", fake_run)
    monkeypatch.setattr(tui, "_sampler_for", lambda lab: (None, False))
    assert tui.run_app(fake_lab, attached=True) == 0
    assert tui.run_app(fake_lab, readonly=True) == 0
    assert fake_lab.stopped == []  # attached or watching: never stopped
    assert tui.run_app(fake_lab) == 0
    assert fake_lab.stopped == [True]

    class Idle:
        def idle(self) -> bool:
            return True

    fake_lab.orchestrator = Idle()
    choice["value"] = "leave"  # agents finish headless, then the session stops
    assert tui.run_app(fake_lab) == 0
    assert fake_lab.stopped == [True, True]


async def test_restart_follow_and_budget_resume(fake_lab: FakeLab) -> None:
    rec = Recorder()
    async with live(fake_lab, rec) as (app, pilot):
        app.open_agent("worker-2")
        await settle(pilot, LIVE)
        await pilot.press("R")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("y")
        await settle(pilot, LIVE)
        assert ("control", "worker-2", "restart") in fake_lab.calls
        log = app.screen.query_one("LogView")
        assert log.follow is True
        await pilot.press("f")
        assert log.follow is False
        await pilot.press("B")  # nothing paused: says so, resumes nothing
        await settle(pilot, LIVE)
        assert ("resume_budget",) not in fake_lab.calls
        assert any("nothing to resume" in n.message for n in app._notifications)
        fake_lab.append("budget.exhausted", "console", {"scope": "session", "resource": "usd"})
        await settle(pilot, LIVE)
        await pilot.press("B")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog) and "past the budget" in app.screen.question
        await pilot.press("y")
        await settle(pilot, LIVE)
        assert ("resume_budget",) in fake_lab.calls
        assert [m.action for m in rec.of(CommandDone)] == ["restart", "resume"]
