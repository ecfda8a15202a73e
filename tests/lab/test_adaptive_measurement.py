"""The measuring loop against a simulated objective: adaptive repeats, the session's noise floor from the log,
the best's confirmation re-measure, and what the views show. No git, no subprocess: a fake Lab and executor."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from labconsole.cli.common import gate_line, leaderboard_lines
from labconsole.core.config import load_config
from labconsole.core.stats import IMPROVED, INCONCLUSIVE
from labconsole.events import kinds as K
from labconsole.events.log import Event
from labconsole.lab.evidence import floor_from_metrics
from labconsole.lab.orchestrator.measurement import Measurements
from labconsole.lab.reducer import apply, reduce
from labconsole.lab.report import render_report
from labconsole.lab.selection import session_gate
from labconsole.lab.state import LabState
from labconsole.runs.executor import ExecutedRun, RunRequest
from labconsole.runs.outcome import RunOutcome

BASE = 1.83
TOML = """[lab]
name = "sim"
[objective]
name = "val_bpb"
direction = "minimize"
command = "python train.py"
metric = "json:result.json#val_bpb"
repeats = {repeats}
max_repeats = {cap}
[search]
file = "train.py"
budget = 1
[search.space]
LR = {{ type = "float", low = 0.001, high = 0.1 }}
"""


class FakeRepo:
    def head_sha(self) -> str:
        return "main0"

    def protected_changes(self, base: str, sha: str, patterns: list[str]) -> list[str]:
        return []

    def tree(self, sha: str) -> dict[str, tuple[str, str]]:
        return {"train.py": ("100644", sha)}  # each candidate changes only the file agents edit


class FakeLab:
    """The LabPort over an in-memory log: append validates against the kinds and folds into the state."""

    def __init__(self, tmp: Path, repeats: int, cap: int) -> None:
        (tmp / "lab.toml").write_text(TOML.format(repeats=repeats, cap=cap))
        self.config = load_config(tmp / "lab.toml")
        self.repo = FakeRepo()
        self.fatal: str | None = None
        self.events: list[Event] = []
        self._state = LabState()
        self._lock = threading.RLock()
        self.append(
            K.SESSION_STARTED,
            "console",
            {"session_id": "s", "baseline_sha": "main0", "objective": {"name": "val_bpb", "direction": "minimize"}},
        )

    @property
    def state(self) -> LabState:
        return self._state

    def append(self, kind: str, actor: str, data: dict[str, Any], *, durable: bool | None = None) -> Event:
        with self._lock:
            K.KINDS[kind].check(data)
            event = Event(
                seq=len(self.events), ts=float(len(self.events)), kind=kind, actor=actor, data=data, prev="", hash=""
            )
            self.events.append(event)
            apply(self._state, event)
            return event

    def put_blob(self, data: bytes | str) -> str:
        return "blob"

    def blob(self, digest: str) -> bytes:
        raise FileNotFoundError(digest)

    def locked(self) -> threading.RLock:
        return self._lock

    def cleanup_worktree(self, hyp_id: str) -> None:
        pass

    def candidate(self, hyp_id: str, sha: str) -> None:
        for kind, data in (
            (K.HYP_PROPOSED, {"hyp_id": hyp_id, "title": hyp_id, "params": {}}),
            (K.HYP_COMMITTED, {"hyp_id": hyp_id, "sha": sha, "base_sha": "main0"}),
        ):
            self.append(kind, "console", data)


class SimExecutor:
    """metric = true value · (1 + σ·noise); the true value of each commit is given. Logs runs like the real one."""

    def __init__(self, lab: FakeLab, truth: dict[str, float], sigma: float, seed: int = 0) -> None:
        self.lab, self.truth, self.sigma = lab, truth, sigma
        self.rng = np.random.default_rng(seed)
        self.requests: list[RunRequest] = []
        self.switch: tuple[int, str, float] | None = None  # after this many runs, this commit's truth becomes

    def run(self, request: RunRequest, priority: float = 0.0) -> ExecutedRun:
        if self.switch is not None and len(self.requests) == self.switch[0]:
            self.truth[self.switch[1]] = self.switch[2]
        return self._run(request)

    def _run(self, request: RunRequest) -> ExecutedRun:
        self.requests.append(request)
        self.lab.append(
            K.RUN_STARTED,
            "console",
            {
                "run_id": request.run_id,
                "hyp_id": request.hyp_id,
                "role": request.role,
                "commit": request.sha,
                "repeat": request.repeat,
            },
        )
        metric = self.truth[request.sha] * (1 + self.sigma * self.rng.normal())
        self.lab.append(
            K.RUN_FINISHED,
            "console",
            {"run_id": request.run_id, "hyp_id": request.hyp_id, "status": "ok", "metric": metric},
        )
        return ExecutedRun(RunOutcome(request.run_id, request.role, request.repeat, "ok", metric, 0.0), "local")

    def cancel(self) -> None:
        pass

    def clean_up_after_crash(self) -> list[str]:
        return []


def measure_all(lab: FakeLab, executor: SimExecutor, hyps: list[tuple[str, str]]) -> Measurements:
    m = Measurements(lab, executor, threading.Event(), after_each=lambda: None)  # type: ignore[arg-type]
    try:
        for hyp_id, sha in hyps:
            lab.candidate(hyp_id, sha)
            m.start(hyp_id)
            m.wait(120)  # simulated runs: seconds alone, but a loaded 2-core box has taken over 30
            assert not m.measuring, f"measurement of {hyp_id} still running after 120 s"
    finally:
        m.shutdown()
    return m


def test_a_clear_win_stops_at_the_start_and_is_confirmed_against_main(tmp_path: Path) -> None:
    lab = FakeLab(tmp_path, repeats=3, cap=12)
    executor = SimExecutor(lab, {"main0": BASE, "good": BASE * 0.95}, sigma=0.005)
    measure_all(lab, executor, [("h001", "good")])
    first = [r for r in executor.requests if "-m1-" in r.run_id]
    # interleaved pairs, same seed within a pair, order flipped every repeat; a 10σ win needs no more than the start
    assert [(r.role, r.repeat) for r in first] == [
        ("baseline", 0),
        ("candidate", 0),
        ("candidate", 1),
        ("baseline", 1),
        ("baseline", 2),
        ("candidate", 2),
    ]
    h = lab.state.hypotheses["h001"]
    assert h.evidence["decision"] == IMPROVED and h.evidence["repeats_used"] == 3 and h.evidence["max_repeats"] == 12
    assert h.evidence["ci_low"] > 0 and h.evidence["noise_floor"] > 0 and len(h.evidence["metrics"]) == 6
    # it was the session's best, so it was re-measured (measurement 2) against main's head before the label
    confirmed = [e for e in lab.events if e.kind == K.EVIDENCE_CONFIRMED]
    assert len(confirmed) == 1 and confirmed[0].data["main_sha"] == "main0"
    assert confirmed[0].data["evidence_hash"] == h.evidence_hash and confirmed[0].data["label"] == IMPROVED
    assert any("-m2-" in r.run_id and r.sha == "good" for r in executor.requests)
    gate = session_gate(lab.state)
    assert gate.labels["h001"] == IMPROVED and gate.best == "h001" and gate.to_confirm is None
    line = gate_line(lab.state, gate, h)
    assert line.startswith("val_bpb 1.83") and "% better ± " in line and "(n=3, noise" in line
    assert ": improved; re-measured against main main0:" in line


def test_noise_candidates_spend_more_repeats_but_are_never_labelled_improved(tmp_path: Path) -> None:
    lab = FakeLab(tmp_path, repeats=2, cap=8)
    shas = [f"noop{i}" for i in range(12)]
    executor = SimExecutor(lab, {"main0": BASE, **{s: BASE for s in shas}}, sigma=0.01, seed=3)
    measure_all(lab, executor, [(f"h{i:03d}", s) for i, s in enumerate(shas, 1)])
    gate = session_gate(lab.state)
    assert IMPROVED not in gate.labels.values() and not gate.awaiting
    used = [h.evidence["repeats_used"] for h in lab.state.hypotheses.values()]
    assert all(2 <= n <= 8 for n in used) and max(used) > 2  # a candidate ahead by chance was measured on
    # the session's floor is every measurement's baseline repeats, and replaying the log rebuilds it exactly
    rows = [row for h in lab.state.hypotheses.values() for row in h.evidence["metrics"]]
    assert lab.state.noise_floor.rel_diffs == floor_from_metrics(rows).rel_diffs
    assert reduce(lab.events).noise_floor == lab.state.noise_floor
    assert lab.state.noise_floor.sigma == pytest.approx(0.01, rel=0.5)
    report = render_report(lab.state)
    assert "Session noise floor: " in report and "| repeats | decision |" in report
    assert "improved |" not in report.replace("**improved**", "")
    assert leaderboard_lines(lab.state)[0].startswith("session noise floor: ")


def test_one_repeat_is_never_improved_and_a_failed_confirmation_replaces_the_label(tmp_path: Path) -> None:
    lab = FakeLab(tmp_path, repeats=1, cap=1)
    executor = SimExecutor(lab, {"main0": BASE, "good": BASE * 0.9}, sigma=0.001)
    measure_all(lab, executor, [("h001", "good")])
    h = lab.state.hypotheses["h001"]
    assert h.evidence["repeats_used"] == 1 and h.evidence["decision"] == INCONCLUSIVE
    assert session_gate(lab.state).labels["h001"] == INCONCLUSIVE
    assert not [e for e in lab.events if e.kind == K.EVIDENCE_CONFIRMED]

    lab = FakeLab(tmp_path, repeats=3, cap=3)
    # a lucky first measurement: when re-measured, the candidate's commit is as good as main
    executor = SimExecutor(lab, {"main0": BASE, "lucky": BASE * 0.95}, sigma=0.005)
    executor.switch = (6, "lucky", BASE)
    measure_all(lab, executor, [("h001", "lucky")])
    assert lab.state.hypotheses["h001"].evidence["decision"] == IMPROVED
    confirmed = [e for e in lab.events if e.kind == K.EVIDENCE_CONFIRMED]
    assert len(confirmed) == 1 and confirmed[0].data["label"] != IMPROVED
    gate = session_gate(lab.state)
    assert gate.labels["h001"] == confirmed[0].data["label"] and gate.best is None and not gate.awaiting


def test_an_old_summary_without_a_comparison_is_shown_without_an_interval(tmp_path: Path) -> None:
    lab = FakeLab(tmp_path, repeats=2, cap=2)
    lab.candidate("h001", "c1")
    lab.append(
        K.EVIDENCE_RECORDED,
        "console",
        {
            "hyp_id": "h001",
            "evidence_hash": "e",
            "summary": {
                "sha": "c1",
                "candidate_median": 1.8,
                "baseline_median": 1.83,
                "effect": 0.016,
                "significant": True,
            },
        },
    )
    gate = session_gate(lab.state)
    assert "h001" not in gate.labels and gate.label("h001") == "-"
    assert gate_line(lab.state, gate, lab.state.hypotheses["h001"]) == "val_bpb 1.8300 → 1.8000 (no interval recorded)"
    assert lab.state.noise_floor.sigma is None
    assert leaderboard_lines(lab.state)[0] == "session noise floor: not measured yet"


class SlowConfirmations(SimExecutor):
    """Confirmation runs (measurement 2) take a while, as real runs do."""

    def run(self, request: RunRequest, priority: float = 0.0) -> ExecutedRun:
        if "-m2-" in request.run_id:
            time.sleep(0.05)
        return super().run(request, priority)


def test_the_session_is_not_settled_while_the_best_is_being_confirmed(tmp_path: Path) -> None:
    """The best candidate's own measurement ending starts its confirmation in the same step: `measuring` never
    empties in between (a headless run used to stop there and kill the confirmation's first run)."""
    lab = FakeLab(tmp_path, repeats=3, cap=12)
    executor = SlowConfirmations(lab, {"main0": BASE, "good": BASE * 0.95}, sigma=0.005)
    m = Measurements(lab, executor, threading.Event(), after_each=lambda: None)  # type: ignore[arg-type]
    try:
        lab.candidate("h001", "good")
        m.start("h001")
        m.wait(30)  # returns once nothing is measuring
        assert [e for e in lab.events if e.kind == K.EVIDENCE_CONFIRMED]  # so the confirmation is done by then
    finally:
        m.shutdown()


def test_waiting_never_ends_between_a_measurement_and_its_confirmation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hand-over to the confirmation re-measure is one locked step; ``wait`` (used by `review remeasure`
    without a live console) read the set unlocked and could return in the middle, and the stop that follows
    cancelled the confirmation. The gate's computation is stretched here so the window is always there."""
    import labconsole.lab.orchestrator.measurement as measurement

    real = measurement.session_gate

    def slow_gate(state: LabState) -> Any:
        time.sleep(0.2)
        return real(state)

    monkeypatch.setattr(measurement, "session_gate", slow_gate)
    lab = FakeLab(tmp_path, repeats=3, cap=3)
    executor = SimExecutor(lab, {"main0": BASE, "good": BASE * 0.95}, sigma=0.005)
    measure_all(lab, executor, [("h001", "good")])
    assert [e for e in lab.events if e.kind == K.EVIDENCE_CONFIRMED], "the confirmation was cut off"
