"""The signer's identity, checked, in the report and the replay summary: "approved by alice (ed25519 ab12…)"."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from labconsole.cli import main
from labconsole.lab.report import write_report

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "events"))
from test_audit_seal import lab, run_session  # noqa: E402,F401  (the sealed-session writer and its lab fixture)


def test_report_and_replay_name_the_signer(lab: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    s = run_session(lab)
    me = s["signer"].public_hex[:8]
    report = write_report(s["session"], s["session"] / "report.md").read_text()
    line = next(ln for ln in report.splitlines() if ln.startswith("- h1: approved by "))
    assert f"(ed25519 {me}…)" in line
    assert main(["replay", str(s["session"]), "--summary"]) == 0
    out = capsys.readouterr().out
    assert "approved by " in out and f"(ed25519 {me}…)" in out


def test_an_edited_signed_decision_is_shown_as_such(lab: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    s = run_session(lab)
    path = s["session"] / "events.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    i = next(i for i, ln in enumerate(lines) if '"kind":"decision.approved"' in ln)
    lines[i] = lines[i].replace('"who":"ann"', '"who":"eve"')
    path.write_text("".join(lines))
    assert main(["replay", str(s["session"]), "--summary"]) == 0
    assert "SIGNATURE INVALID" in capsys.readouterr().out
