"""The sweep reporter writes the console's report of a session without importing the lab layer."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from agents.conftest import run_backend

EXAMPLE = Path(__file__).resolve().parents[2] / "sessions" / "examples" / "tui-review"


def test_sweep_reporter_writes_the_report_of_the_log(tmp_path: Path) -> None:
    session = tmp_path / "sessions" / "s1"
    shutil.copytree(EXAMPLE, session)
    out = session / "report.md"
    run = run_backend("sweep", "reporter", tmp_path, "report", {"session_dir": str(session), "out": str(out)})
    assert run.error is None, run.error
    assert run.of("report") == [{"type": "report", "path": str(out)}]
    cli = subprocess.run(
        [sys.executable, "-m", "labconsole", "report", "--lab", str(tmp_path), "--session", str(session)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    strip = lambda text: [ln for ln in text.splitlines() if not ln.startswith("Events in the log")]  # noqa: E731
    assert strip(out.read_text()) == strip(cli) and "## Leaderboard" in cli


def test_sweep_reporter_says_why_when_the_session_is_missing(tmp_path: Path) -> None:
    run = run_backend(
        "sweep", "reporter", tmp_path, "report", {"session_dir": str(tmp_path / "nope"), "out": str(tmp_path / "r.md")}
    )
    assert run.error is not None and "labconsole report failed" in str(run.error)
    assert not (tmp_path / "r.md").exists()


def test_agents_and_runs_never_import_the_lab_layer() -> None:
    root = Path(__file__).resolve().parents[2] / "labconsole"
    offenders = [
        str(p.relative_to(root))
        for pkg in ("agents", "runs")
        for p in (root / pkg).rglob("*.py")
        if "labconsole.lab" in p.read_text() or "from labconsole import lab" in p.read_text()
    ]
    assert offenders == []
