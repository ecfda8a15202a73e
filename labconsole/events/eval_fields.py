"""The data fields of the eval results log's kinds (``<out>/events.jsonl``); registered in ``kinds.py``.

Kept apart only to keep ``kinds.py`` short: the kind strings, versions and flags are there, in the one table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from labconsole.events.agent_fields import UsageFields


@dataclass(frozen=True, kw_only=True)
class EvalProvenance:
    """What an eval's results were measured against (keyword-only, like UsageFields in agent_fields.py)."""

    repo_commit: str | None = None
    skill_hash: str | None = None
    harness: str | None = None


@dataclass(frozen=True)
class EvalStarted(EvalProvenance):
    skill: str | None = None
    models: list[str] | None = None
    cases: list[str] | None = None
    repeats: int | None = None
    concurrency: int | None = None
    gpu: bool | None = None
    resumed: int | None = None
    planned: int | None = None
    to_run: int | None = None
    case_hashes: dict[str, str] | None = None


@dataclass(frozen=True)
class _AttemptFields:
    """What every eval.attempt.* kind carries first (the kinds that inherit it)."""

    attempt_id: str


@dataclass(frozen=True)
class EvalAttemptStarted(_AttemptFields):
    case: str | None = None
    model: str | None = None
    with_skill: bool | None = None
    repeat: int | None = None


@dataclass(frozen=True)
class EvalAttempt(_AttemptFields, UsageFields, EvalProvenance):
    """The whole ``AttemptRecord`` (labconsole/evals/summary.py); a test keeps the two in step."""

    case: str
    model: str
    with_skill: bool
    repeat: int
    status: str  # pass | fail | error (infrastructure) | not-run ("incomplete" in older logs)
    checks: list[dict[str, Any]] | None = None
    agent_ok: bool | None = None
    agent_error: str | None = None
    infra_error: bool | None = None
    wall_s: float | None = None
    checks_s: float | None = None
    transcript: str | None = None
    transcript_sha256: str | None = None
    protected_touched: list[str] | None = None
    backend: str | None = None
    case_hash: str | None = None


@dataclass(frozen=True)
class EvalAttemptInterrupted(_AttemptFields):
    """Started in an earlier, killed run."""

    reason: str | None = None


@dataclass(frozen=True)
class EvalAttemptTracked(_AttemptFields):
    """The attempt's Trackio run is written."""

    project: str | None = None


@dataclass(frozen=True)
class EvalFinished:
    planned: int | None = None
    ran: int | None = None
    skipped: int | None = None
    attempts: int | None = None
    summary: list[dict[str, Any]] | None = None
