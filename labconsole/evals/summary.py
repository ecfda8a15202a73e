"""Pure summaries of eval attempts: pass rates with Wilson intervals, skill lift, cost per pass.

Everything here is a function of the attempt records alone, so the CLI table,
``--json``/``--csv`` and the TUI's eval screen all show the same numbers.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from collections.abc import Iterable
from typing import Any

from labconsole.core.usage import Usage

NOT_RUN_STATUSES = frozenset({"not-run", "incomplete"})  # "incomplete": the older name


@dataclass
class CheckRecord:
    name: str
    kind: str
    status: str  # pass | fail | not-run | error
    detail: str = ""
    value: float | None = None
    duration_s: float = 0.0
    requires_gpu: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class AttemptRecord:
    """One case x model x arm x repeat, as stored in the ``eval.attempt`` event."""

    attempt_id: str
    case: str
    model: str
    with_skill: bool
    repeat: int
    # pass | fail | error (the machinery failed: key, server, CLI — not the skill) | not-run (a GPU check
    # could not run here). "incomplete" in older results means not-run.
    status: str
    checks: list[CheckRecord] = field(default_factory=list)
    agent_ok: bool = False
    agent_error: str = ""
    infra_error: bool = False  # agent_error is the machinery's, not the agent's work
    usage: Usage = field(default_factory=Usage)  # flat in the event data, as it always was
    wall_s: float = 0.0  # the agent's time
    checks_s: float = 0.0  # the checks' time
    transcript: str = ""  # path relative to the results folder
    transcript_sha256: str = ""
    protected_touched: list[str] = field(default_factory=list)
    # What it was measured with (labconsole/evals/provenance.py).
    backend: str = ""
    repo_commit: str = ""
    skill_hash: str = ""
    case_hash: str = ""
    harness: str = ""

    @property
    def not_run(self) -> bool:
        return self.status in NOT_RUN_STATUSES

    @property
    def arm(self) -> str:
        return "with" if self.with_skill else "without"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(d.pop("usage"))
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AttemptRecord:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__ and k != "usage"}
        known["checks"] = [
            CheckRecord(**{k: v for k, v in c.items() if k in CheckRecord.__dataclass_fields__})
            for c in d.get("checks", [])
        ]
        return cls(**known, usage=Usage.from_dict(d))


def wilson(passes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (95% by default); (0, 1) when n == 0."""
    if n == 0:
        return 0.0, 1.0
    p = passes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class ArmStats(Usage):
    """Totals for one model with or without the skill: the summed usage, and these."""

    attempts: int = 0
    passes: int = 0
    fails: int = 0
    incomplete: int = 0  # not-run (a GPU check could not run here): excluded from the pass rate
    errors: int = 0  # infrastructure errors: excluded from the pass rate, listed apart
    agent_errors: int = 0
    pass_rate: float | None = None  # passes / (passes + fails)
    ci_low: float = 0.0
    ci_high: float = 1.0
    cost_per_pass: float | None = None
    mean_wall_s: float = 0.0

    @property
    def decided(self) -> int:
        return self.passes + self.fails


def arm_stats(records: Iterable[AttemptRecord]) -> ArmStats:
    rs = list(records)
    total = Usage()
    for r in rs:
        total += r.usage
    s = ArmStats(**total.as_dict())
    s.attempts = len(rs)
    s.passes = sum(r.status == "pass" for r in rs)
    s.fails = sum(r.status == "fail" for r in rs)
    s.incomplete = sum(r.not_run for r in rs)
    s.errors = sum(r.status == "error" for r in rs)
    s.agent_errors = sum(not r.agent_ok for r in rs)
    walls = [r.wall_s for r in rs]
    if s.decided:
        s.pass_rate = s.passes / s.decided
    s.ci_low, s.ci_high = wilson(s.passes, s.decided)
    s.cost_usd = round(s.cost_usd, 6)
    s.cost_per_pass = round(s.cost_usd / s.passes, 6) if s.passes else None
    s.mean_wall_s = round(sum(walls) / len(walls), 3) if walls else 0.0
    return s


@dataclass
class ModelSummary:
    model: str
    with_skill: ArmStats
    without_skill: ArmStats
    lift: float | None  # pass rate with the skill minus without; None until both arms have decided attempts


@dataclass
class CaseRow:
    """One cell of the case x model x arm grid (for a per-case table)."""

    case: str
    model: str
    arm: str
    passes: int
    decided: int
    incomplete: int
    errors: int = 0


def summarize(records: list[AttemptRecord]) -> list[ModelSummary]:
    """Per model (in first-seen order): both arms and the skill lift."""
    models = list(dict.fromkeys(r.model for r in records))
    out = []
    for m in models:
        w = arm_stats(r for r in records if r.model == m and r.with_skill)
        wo = arm_stats(r for r in records if r.model == m and not r.with_skill)
        lift = None if w.pass_rate is None or wo.pass_rate is None else round(w.pass_rate - wo.pass_rate, 6)
        out.append(ModelSummary(m, w, wo, lift))
    return out


def case_rows(records: list[AttemptRecord]) -> list[CaseRow]:
    keys = list(dict.fromkeys((r.case, r.model, r.arm) for r in records))
    rows = []
    for case, model, arm in keys:
        rs = [r for r in records if (r.case, r.model, r.arm) == (case, model, arm)]
        rows.append(
            CaseRow(
                case,
                model,
                arm,
                sum(r.status == "pass" for r in rs),
                sum(r.status in ("pass", "fail") for r in rs),
                sum(r.not_run for r in rs),
                sum(r.status == "error" for r in rs),
            )
        )
    return rows


def summary_dict(summaries: list[ModelSummary]) -> list[dict[str, Any]]:
    return [asdict(s) for s in summaries]
