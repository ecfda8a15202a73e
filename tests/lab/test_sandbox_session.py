"""A whole session on a machine without a working bubblewrap, as a person meets it: one line at session start,
``sandbox: degraded`` on every run in ``review show`` and in the report, the candidates flagged; the variables
the lab passes by name recorded and shown; and ``require_sandbox = true`` refusing in one line, before any
agent starts."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from labconsole.cli import main
from labconsole.events.log import read_events
from labconsole.lab.session import sessions_dir
from labconsole.runs import run_sandbox
from tests.integration.conftest import make_demo_lab

pytestmark = pytest.mark.slow

REASON = "bubblewrap (bwrap) is not installed: install it (Debian/Ubuntu: apt-get install bubblewrap)"
PASSED = ("LABTEST_MODE", "LABTEST_API_TOKEN")  # the second looks secret: passed only because the lab names it


@pytest.fixture
def no_bwrap(monkeypatch: pytest.MonkeyPatch) -> None:
    # What SandboxStatus.here() finds on a machine without bubblewrap (core/sandbox.py probes `bwrap` on PATH).
    monkeypatch.setattr(run_sandbox.SandboxStatus, "here", classmethod(lambda cls: cls("degraded", REASON)))


def set_objective(lab: Path, extra: str) -> None:
    toml = lab / "lab.toml"
    toml.write_text(re.sub(r"(?m)^(repeats\s*=.*)$", lambda m: f"{m.group(1)}\n{extra}", toml.read_text(), count=1))
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "sandbox settings"], cwd=lab, check=True
    )


def newest_session(lab: Path) -> Path:
    return max(sessions_dir(lab).iterdir(), key=lambda p: p.stat().st_mtime)


def test_degraded_session_says_so_everywhere(
    tmp_path: Path, no_bwrap: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = make_demo_lab(tmp_path / "lab", budget=1, repeats=2, workers=1)
    set_objective(lab, f"env = {list(PASSED)!r}".replace("'", '"'))
    for name in PASSED:
        monkeypatch.setenv(name, "value-of-" + name)
    assert main(["run", "--headless", "--lab", str(lab), "--timeout", "240"]) == 0
    out = capsys.readouterr().out.splitlines()
    # One clear line at session start, before any hypothesis, naming what to install.
    start = [i for i, line in enumerate(out) if "sandbox: degraded" in line and "apt-get install bubblewrap" in line]
    first_hyp = next(i for i, line in enumerate(out) if " proposed: " in line)
    assert len(start) == 1 and start[0] < first_hyp
    run_lines = [line for line in out if re.search(r"\] run \S+ (ok|failed|crashed|timeout|invalid) ", line)]
    assert run_lines and all(line.endswith("[sandbox: degraded]") for line in run_lines)

    session = newest_session(lab)
    events = list(read_events(session))
    status = next(e.data for e in events if e.kind == "sandbox.status")
    assert status["mode"] == "degraded" and status["env"] == list(PASSED)
    started = [e.data for e in events if e.kind == "run.started"]
    assert started and all(set(PASSED) <= set(d["env_names"]) and d["sandbox"] == "degraded" for d in started)

    measured = next(e.data for e in events if e.kind == "evidence.recorded")
    hyp = measured["hyp_id"]
    assert "sandbox-degraded" in [f["flag"] for f in measured["summary"]["flags"]]
    assert main(["review", "show", hyp, "--lab", str(lab)]) == 0
    shown = capsys.readouterr().out.splitlines()
    rows = [line for line in shown if re.match(rf"\s+{hyp}-m\d+-[cb]\d+ ", line)]
    assert len(rows) == len(measured["summary"]["metrics"]) > 0
    marks = [re.search(r"\[sandbox: degraded; env: ([^\]]*)\]$", row) for row in rows]
    assert all(m is not None and set(m.group(1).split(", ")) == set(PASSED) for m in marks), rows
    assert any(line.strip().startswith("sandbox: degraded") and "ran without one" in line for line in shown)
    assert any(line.strip().startswith("FLAGGED sandbox-degraded:") for line in shown)
    verdict = next(e.data for e in events if e.kind == "review.verdict" and e.data["hyp_id"] == hyp)
    assert verdict["verdict"] != "pass" and any("sandbox-degraded" in r for r in verdict["reasons"])

    report = (session / "report.md").read_text()
    assert re.search(r"(?m)^Sandbox: \*\*degraded — .*apt-get install bubblewrap", report)
    assert f"| {hyp} | " in report and "*(sandbox: degraded)*" in report.split(f"| {hyp} | ", 1)[1].split("\n", 1)[0]


def test_require_sandbox_refuses_in_one_line_before_any_agent(
    tmp_path: Path, no_bwrap: None, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = make_demo_lab(tmp_path / "lab", budget=1, repeats=2, workers=1)
    set_objective(lab, "require_sandbox = true")
    rc = main(["run", "--headless", "--lab", str(lab), "--timeout", "60"])
    err = capsys.readouterr().err.strip()
    assert rc != 0
    assert len(err.splitlines()) == 1 and "require_sandbox = true but bubblewrap (bwrap) is not installed" in err
    kinds = [e.kind for e in read_events(newest_session(lab))]
    assert "agent.started" not in kinds and "run.started" not in kinds
