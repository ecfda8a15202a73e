"""The profile screen: profiles found and tabled, the chart's verdict colours, and `h` proposing into a session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from textual.widgets import DataTable, Static

from labconsole.tui import profiledata
from labconsole.tui.app import LabConsoleApp, make_replay_app
from labconsole.tui.screens.profile import ProfileScreen, bar
from labconsole.tui.source import LiveSource

from .helpers import Recorder, plain, settle

FIXTURE = Path(__file__).parent / "fixtures" / "profile_qwen3_tiny_decode.json"
pytestmark = pytest.mark.anyio


def test_profiledata_finds_profiles_and_skips_other_json(tmp_path: Path) -> None:
    (tmp_path / "profiles").mkdir()
    shutil.copy(FIXTURE, tmp_path / "profiles" / "tiny.json")
    results = tmp_path / "repo" / "benchmarks" / "results"
    results.mkdir(parents=True)
    (results / "kernels.json").write_text('{"rmsnorm": {}}')
    (results / "broken.json").write_text("{not json")
    files = profiledata.load_all(tmp_path, tmp_path / "repo")
    assert [f.path.name for f in files] == ["tiny.json"]
    f = files[0]
    assert f.target == "qwen3-tiny-decode" and f.label == "qwen3-tiny-decode (eager)"
    assert len(f.operators) == 80 and f.operators[0].rank == 1
    assert {r.verdict for r in f.operators} <= set(profiledata.VERDICTS)


def test_bar_uses_eighths() -> None:
    assert bar(1.0, 4) == "████" and bar(0.0, 4) == "" and bar(0.5 / 4, 4) == "▌"


async def test_profile_screen_table_and_propose(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from labconsole.demo import create_demo_lab
    from labconsole.lab.service import Lab

    monkeypatch.chdir(tmp_path)  # no repo benchmarks/results: only the lab's profile
    lab_dir = create_demo_lab(tmp_path / "lab")
    lab = Lab.start_session(lab_dir)  # this console holds the session: propose_hypotheses would hit its lock
    try:
        (lab_dir / "profiles").mkdir()
        shutil.copy(FIXTURE, lab_dir / "profiles" / "tiny.json")
        rec = Recorder()
        app = LabConsoleApp(LiveSource(lab))
        async with app.run_test(size=(140, 40), message_hook=rec) as pilot:
            await pilot.press("6")
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, ProfileScreen)
            table = screen.query_one("#profile-table", DataTable)
            assert table.row_count == 80
            first = table.get_row_at(0)
            assert first[0] == "1" and first[1].startswith("aten::_scaled_dot_product_flash_attention_for_cpu")
            assert str(first[3]) == "overhead-bound"
            assert "qwen3-tiny-decode (eager)" in plain(screen.query_one("#profile-title", Static))
            assert "share of the step" in plain(screen.query_one("#profile-chart", Static))

            before = set(lab.snapshot().hypotheses)
            await pilot.press("h")
            await settle(pilot)
            done = list({id(m): m for m in rec.of(ProfileScreen.Proposed)}.values())  # bubbled: seen twice
            assert len(done) == 1 and not done[0].error, done[0].error
            ids = done[0].ids
            assert ids and len(ids) <= 3
            state = lab.snapshot()
            assert set(state.hypotheses) - before == set(ids)
            assert all(state.hypotheses[i].title.startswith("fuse ") for i in ids)
    finally:
        lab.close()


async def test_replay_hides_propose(example_session: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    results = tmp_path / "benchmarks" / "results"
    results.mkdir(parents=True)
    shutil.copy(FIXTURE, results / "tiny.json")
    monkeypatch.chdir(tmp_path)
    rec = Recorder()
    app = make_replay_app(example_session)
    async with app.run_test(size=(140, 40), message_hook=rec) as pilot:
        await pilot.press("6")
        await settle(pilot)
        assert isinstance(app.screen, ProfileScreen)
        assert app.screen.query_one("#profile-table", DataTable).row_count == 80
        await pilot.press("h")
        await settle(pilot)
        assert not rec.of(ProfileScreen.Proposed)
        assert any("ignored, this is a replay" in n.message for n in app._notifications)


async def test_h_on_an_empty_profile_says_why(fake_lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no profiles anywhere
    app = LabConsoleApp(LiveSource(fake_lab))
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("6")
        await settle(pilot)
        await pilot.press("h")
        await settle(pilot)
        said = [n.message for n in app._notifications]
        assert any("no profile to propose from" in m and "labconsole profile" in m for m in said), said


def test_profile_snapshot(snap_compare, example_session: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    results = tmp_path / "benchmarks" / "results"
    results.mkdir(parents=True)
    shutil.copy(FIXTURE, results / "profile_qwen3_tiny_decode.json")
    monkeypatch.chdir(tmp_path)  # the repo's own results would change the picture

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        await pilot.press("6")
        await settle(pilot)
        await settle(pilot)

    assert snap_compare(make_replay_app(example_session), terminal_size=(140, 40), run_before=run_before)


async def test_a_profile_written_later_shows_when_the_screen_is_shown_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo profiles its model in the background: an empty Profile screen looks again when shown."""
    from labconsole.demo import create_demo_lab
    from labconsole.lab.service import Lab

    monkeypatch.chdir(tmp_path)
    lab_dir = create_demo_lab(tmp_path / "lab")
    assert "profiles/" in (lab_dir / ".gitignore").read_text()  # the background profile leaves git clean
    lab = Lab.start_session(lab_dir)
    try:
        app = LabConsoleApp(LiveSource(lab))
        async with app.run_test(size=(140, 40)) as pilot:
            await pilot.press("6")
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, ProfileScreen) and screen.files == []
            assert "No profiles yet" in plain(screen.query_one("#profile-title", Static))
            (lab_dir / "profiles").mkdir()
            shutil.copy(FIXTURE, lab_dir / "profiles" / "qwen3-tiny-decode-cpu.json")
            await pilot.press("1")
            await pilot.press("6")
            await settle(pilot)
            assert screen.files and screen.query_one("#profile-table", DataTable).row_count == 80
    finally:
        lab.close()


def test_demo_profiles_in_the_background_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    from labconsole.cli import cmd_demo

    started: list[list[str]] = []
    monkeypatch.setattr(subprocess, "Popen", lambda args, **kw: started.append(args))
    cmd_demo.profile_in_background(tmp_path)
    out = tmp_path / "profiles" / "qwen3-tiny-decode-cpu.json"
    assert len(started) == 1 and started[0][-2:] == ["--json", str(out)]
    assert started[0][2:6] == ["labconsole", "profile", "qwen3-tiny-decode", "--device"]
    out.write_text("{}")
    cmd_demo.profile_in_background(tmp_path)  # a demo re-run in the same lab keeps its profile
    assert len(started) == 1
