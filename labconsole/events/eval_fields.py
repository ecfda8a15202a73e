"""The data fields of the eval results log's kinds (``<out>/events.jsonl``); registered in ``kinds.py``.

Kept apart only to keep ``kinds.py`` short: the kind strings, versions and flags are there, in the one table.
"""

# Annotations stay evaluated (no __future__ import), as in agent_fields.py: TypedDict needs them to see NotRequired.
from typing import Any, NotRequired, TypedDict

from labconsole.events.agent_fields import UsageFields


class EvalProvenance(TypedDict):
    """What an eval's results were measured against (a field group, like UsageFields in agent_fields.py)."""

    repo_commit: NotRequired[str]
    skill_hash: NotRequired[str]
    harness: NotRequired[str]


class EvalStarted(EvalProvenance):
    skill: NotRequired[str]
    models: NotRequired[list[str]]
    cases: NotRequired[list[str]]
    repeats: NotRequired[int]
    concurrency: NotRequired[int]
    gpu: NotRequired[bool]
    resumed: NotRequired[int]
    planned: NotRequired[int]
    to_run: NotRequired[int]
    case_hashes: NotRequired[dict[str, str]]


class _AttemptFields(TypedDict):
    """What every eval.attempt.* kind carries first (the kinds that inherit it)."""

    attempt_id: str


class EvalAttemptStarted(_AttemptFields):
    case: NotRequired[str]
    model: NotRequired[str]
    with_skill: NotRequired[bool]
    repeat: NotRequired[int]


class EvalAttempt(_AttemptFields, UsageFields, EvalProvenance):
    """The whole ``AttemptRecord`` (labconsole/evals/summary.py); a test keeps the two in step."""

    case: str
    model: str
    with_skill: bool
    repeat: int
    status: str  # pass | fail | error (infrastructure) | not-run ("incomplete" in older logs)
    checks: NotRequired[list[dict[str, Any]]]
    agent_ok: NotRequired[bool]
    agent_error: NotRequired[str]
    infra_error: NotRequired[bool]
    wall_s: NotRequired[float]
    checks_s: NotRequired[float]
    transcript: NotRequired[str]
    transcript_sha256: NotRequired[str]
    protected_touched: NotRequired[list[str]]
    backend: NotRequired[str]
    case_hash: NotRequired[str]


class EvalAttemptInterrupted(_AttemptFields):
    """Started in an earlier, killed run."""

    reason: NotRequired[str]


class EvalAttemptTracked(_AttemptFields):
    """The attempt's Trackio run is written."""

    project: NotRequired[str]


class EvalFinished(TypedDict):
    planned: NotRequired[int]
    ran: NotRequired[int]
    skipped: NotRequired[int]
    attempts: NotRequired[int]
    summary: NotRequired[list[dict[str, Any]]]
