"""The virtual log view, the keymap overrides, the command palette provider, diff parsing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.app import App, ComposeResult

from labconsole.tui import diffs, keymap
from labconsole.tui.app import LabConsoleApp, make_replay_app
from labconsole.tui.palette import LabCommands
from labconsole.tui.screens.review import ReviewScreen
from labconsole.tui.widgets.log_view import LogView, newline_offsets

from labconsole.tui.source import ReplaySource

from .helpers import plain, settle

pytestmark = pytest.mark.anyio


class LogApp(App[None]):
    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def compose(self) -> ComposeResult:
        yield LogView()

    def on_mount(self) -> None:
        self.query_one(LogView).open(self.path)


def test_newline_offsets() -> None:
    assert list(newline_offsets(b"a\nbb\n\nc", 100)) == [102, 105, 106]


async def test_log_view_indexes_lazily_and_follows(tmp_path: Path) -> None:
    path = tmp_path / "agent.log"
    path.write_bytes(b"".join(b"line %d\n" % i for i in range(200_000)))
    app = LogApp(path)
    async with app.run_test(size=(80, 20)) as pilot:
        await settle(pilot)
        view = app.query_one(LogView)
        assert view.line_count == 200_000
        assert view.scroll_offset.y == view.max_scroll_y  # follows the tail
        assert len(view._cache) < 100  # only visible lines were read
        with path.open("ab") as f:
            f.write(b"appended\npartial")  # an unfinished last line is not shown yet
        view.poll()
        await settle(pilot)
        assert view.line_count == 200_001
        assert view._line(200_000) == "appended"


def test_keymap_overrides_from_user_file_and_lab(tmp_path: Path) -> None:
    user = tmp_path / "keymap.toml"
    user.write_text('[keymap]\n"review.approve" = "A"\n"nope.unknown" = "z"\n')
    lab = tmp_path / "lab"
    lab.mkdir()
    (lab / "lab.toml").write_text('[tui.keymap]\n"review.merge" = "M"\n')
    mapping, problems = keymap.load_keymap(lab, user)
    assert mapping == {"review.approve": "A", "review.merge": "M"}
    assert any("nope.unknown" in p for p in problems)
    shown = dict((d, k) for k, d in keymap.effective_keys(mapping)["review"])
    assert shown["Approve"] == "A"


async def test_keymap_rebinds_in_the_app(
    example_session: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    user = tmp_path / "keymap.toml"
    user.write_text('"review.next" = "j"\n')
    monkeypatch.setenv("LABCONSOLE_KEYMAP", str(user))
    app = make_replay_app(example_session)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        assert isinstance(app.screen, ReviewScreen) and app.screen.current == "h003"
        await pilot.press("j")
        await settle(pilot)
        assert app.screen.current == "h004"


async def test_palette_commands_come_from_state(example_session: Path) -> None:
    app = make_replay_app(example_session)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        provider = LabCommands(app.screen)
        names = [name for name, _, _ in provider._commands()]
        assert "Review h003: Higher learning rate with gradient clipping" in names
        assert "Open agent worker-1" in names
        assert "Replay: jump to start" in names
        assert not any(n.startswith(("Pause", "Merge")) for n in names)  # replay is read-only
        hits = [hit async for hit in provider.search("review h004")]
        assert hits and "h004" in str(hits[0].text)


def test_diff_parse_counts_and_protected() -> None:
    diff = (
        "diff --git a/prepare.py b/prepare.py\n--- a/prepare.py\n+++ b/prepare.py\n@@ -1 +1 @@\n-a\n+b\n"
        "diff --git a/train.py b/train.py\n--- a/train.py\n+++ b/train.py\n@@ -1,2 +1,3 @@\n x\n+y\n+z\n"
    )
    files = diffs.parse(diff, ["prepare.py"])
    assert [(f.path, f.additions, f.deletions, f.hunks, f.protected) for f in files] == [
        ("prepare.py", 1, 1, 1, True),
        ("train.py", 2, 0, 1, False),
    ]
    text, truncated = diffs.render(files, {"success": "#00ff00", "error": "#ff0000", "accent": "#ffaa00"}, 3)
    assert truncated and "PROTECTED FILE CHANGED" in text.plain


async def test_bench_screen_table_and_chart(
    example_session: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from labconsole.tui.screens.bench import BenchScreen

    results = tmp_path / "lab" / "benchmarks" / "results"
    results.mkdir(parents=True)
    cand = lambda gbs: {"median_us": 5.0, "gb_s": gbs, "pct_of_copy": gbs / 30}  # noqa: E731
    (results / "k.json").write_text(
        json.dumps(
            {
                "provenance": {"device": "TestGPU"},
                "rms": {
                    "1": {"candidates": {"copy": cand(3.0), "cuda": cand(2.5)}},
                    "4096": {"candidates": {"copy": cand(2900.0), "cuda": cand(2800.0)}},
                },
                "fused": {"1": {"candidates": {"cuda_fused": cand(5.0)}}},
            }
        )
    )
    monkeypatch.chdir(tmp_path)  # no results under the cwd but the lab's
    app = LabConsoleApp(ReplaySource(example_session, tmp_path / "lab"))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("4")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, BenchScreen)
        assert "2800" in plain(screen.query_one("#bench-table")) and "TestGPU" in plain(
            screen.query_one("#bench-title")
        )
        assert "GB/s vs shape" in plain(screen.query_one("#bench-chart"))
        await pilot.press("full_stop")
        await settle(pilot)
        assert "cuda_fused" in plain(screen.query_one("#bench-table"))


async def test_evals_screen_summarizes_runs(
    example_session: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from labconsole.core.usage import Usage
    from labconsole.evals.results import ATTEMPT_FINISHED, EVAL_FINISHED, EVAL_STARTED
    from labconsole.evals.summary import AttemptRecord
    from labconsole.events.log import EventLog
    from labconsole.tui.screens.evals import EvalsScreen

    lab = tmp_path / "lab"
    with EventLog.open(lab / "sessions" / "eval-1") as log:
        log.append(EVAL_STARTED, "console", {"skill": "cuda-kernels", "models": ["m1"], "cases": ["c1", "c2"]})
        for i, (case, with_skill, status) in enumerate(
            [("c1", True, "pass"), ("c2", True, "pass"), ("c1", False, "fail"), ("c2", False, "pass")]
        ):
            rec = AttemptRecord(
                f"a{i}",
                case,
                "m1",
                with_skill,
                0,
                status,
                agent_ok=True,
                usage=Usage(cost_usd=0.01, input_tokens=100, output_tokens=10, tool_calls=2),
            )
            log.append(ATTEMPT_FINISHED, "console", rec.to_dict())
        log.append(EVAL_FINISHED, "console", {"attempts": 4})
    monkeypatch.chdir(tmp_path)
    app = LabConsoleApp(ReplaySource(example_session, lab))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("5")
        await settle(pilot)
        assert isinstance(app.screen, EvalsScreen)
        content = plain(app.screen.query_one("#evals-content"))
        assert "100% (2/2)" in content and "50% (1/2)" in content and "+50%" in content
        assert "cuda-kernels" in plain(app.screen.query_one("#evals-title"))


class PanelApp(App[None]):
    def compose(self) -> ComposeResult:
        from labconsole.tui.widgets.status import GpuPanel

        yield GpuPanel()


async def test_gpu_panel_live_snapshot_and_no_gpu_state() -> None:
    from labconsole.gpu.telemetry import GpuProcess, GpuSample, GpuSnapshot
    from labconsole.lab.state import LabState
    from labconsole.tui.widgets.status import GpuPanel

    app = PanelApp()
    async with app.run_test(size=(80, 10)) as pilot:
        panel = app.query_one(GpuPanel)
        panel.show(LabState(), None)
        assert "no GPU data" in plain(panel)
        panel.show(LabState(), GpuSnapshot(ts=1.0, available=False, reason="no GPU: NVML missing"))
        assert "NVML missing" in plain(panel)
        snap = GpuSnapshot(
            ts=2.0,
            available=True,
            gpus=[
                GpuSample(
                    index=0,
                    name="H100",
                    util_pct=73.0,
                    mem_used_bytes=10**10,
                    mem_total_bytes=8 * 10**10,
                    power_w=350.0,
                    temperature_c=61,
                    processes=[GpuProcess(pid=42, used_mem_bytes=None, owner="run:h003-c0")],
                )
            ],
        )
        panel.show(LabState(), snap)
        await pilot.pause()
        text = plain(panel)
        assert "73%" in text and "run:h003-c0" in text and "350W" in text
