"""A real lab session (the demo lab, sweep backend, real git and runs) whose only candidates change nothing:
the gate must not label any of them improved, and review list/show and the report say why."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from labconsole.cli import main
from labconsole.core.stats import IMPROVED
from labconsole.events.audit import verify_session
from labconsole.lab import state as S
from labconsole.lab.selection import session_gate

from conftest import headless_session, make_demo_lab  # type: ignore[import-not-found]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

# Run-to-run noise that the seed does not pair away (as nondeterministic kernels give): 1% of the metric.
JITTER = """import json, random
d = json.load(open("result.json"))
d["val_bpb"] *= 1 + random.gauss(0, 0.01)
json.dump(d, open("result.json", "w"))
"""


def noop_lab(dest: Path) -> Path:
    """The demo lab whose search space is one variable nothing reads: every candidate is pure noise."""
    lab = make_demo_lab(dest, budget=2, repeats=2, workers=1, max_repeats=4)
    train = lab / "train.py"
    text = re.sub(r"(?m)^STEPS = \d+", "STEPS = 150", train.read_text())  # shorter runs: the test's time
    train.write_text(text.replace("LEARNING_RATE = 0.001", "UNUSED_KNOB = 0\nLEARNING_RATE = 0.001", 1))
    (lab / "jitter.py").write_text(JITTER)
    toml = lab / "lab.toml"
    text = toml.read_text().replace('command = "python train.py"', 'command = "python train.py && python jitter.py"')
    space = text.index("[search.space]")
    end = text.index("[budget]")
    text = text[:space] + '[search.space]\nUNUSED_KNOB = { type = "int", low = 1, high = 9 }\n\n' + text[end:]
    toml.write_text(text)
    subprocess.run(["git", "add", "jitter.py"], cwd=lab, check=True)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "a no-op search space"],
        cwd=lab,
        check=True,
    )
    return lab


def test_noise_only_candidates_are_not_labelled_improved(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lab_dir = noop_lab(tmp_path / "lab")
    state, session_dir = headless_session(lab_dir, timeout_s=400)
    measured = [h for h in state.hypotheses.values() if h.evidence.get("comparison")]
    assert measured, [(h.hyp_id, h.status, h.failure) for h in state.hypotheses.values()]
    assert all(set(h.params) == {"UNUSED_KNOB"} for h in measured)
    gate = session_gate(state)
    assert IMPROVED not in gate.labels.values() and not gate.awaiting
    for h in measured:
        ev = h.evidence
        assert 2 <= ev["repeats_used"] <= 4 and ev["max_repeats"] == 4
        assert ev["noise_floor"] is not None and ev["ci_low"] < ev["ci_high"]
    assert state.noise_floor.groups >= len(measured)
    assert all(h.status in (S.AWAITING_HUMAN, S.FAILED, S.DUPLICATE) for h in state.hypotheses.values())
    assert verify_session(session_dir).ok

    capsys.readouterr()
    assert main(["review", "list", "--lab", str(lab_dir), "--all"]) == 0
    out = capsys.readouterr().out
    assert "session noise floor: " in out and "effect (better)" in out
    h = measured[0]
    assert main(["review", "show", h.hyp_id, "--lab", str(lab_dir)]) == 0
    shown = capsys.readouterr().out
    assert re.search(r"val_bpb \d\.\d+ → \d\.\d+, \d+\.\d% (better|worse)", shown)
    assert f"repeats used {h.evidence['repeats_used']} of at most 4" in shown
    report = (session_dir / "report.md").read_text()
    assert "Session noise floor: " in report and f"| {h.hyp_id} |" in report
