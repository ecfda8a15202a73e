"""Skill evals: cases as files, a models x {with skill, without} matrix, measured results.

API for views (TUI eval screen, CLI): ``load_results(out_dir) -> EvalResults``
holding ``records`` (``AttemptRecord``), ``summaries`` (``ModelSummary`` with
``with_skill``/``without_skill`` ``ArmStats`` and ``lift``) and ``case_rows``.
"""

from labconsole.evals.cases import Check, EvalCase, load_case, load_cases
from labconsole.evals.executor import AgentOutcome, AgentProcessExecutor, AttemptExecutor, AttemptRequest, ModelSpec
from labconsole.evals.results import EvalResults, list_eval_runs, load_results
from labconsole.evals.runner import EvalConfig, EvalRunner, plan_attempts
from labconsole.evals.summary import (
    ArmStats,
    AttemptRecord,
    CaseRow,
    CheckRecord,
    ModelSummary,
    arm_stats,
    case_rows,
    summarize,
    wilson,
)

__all__ = [
    "AgentOutcome",
    "AgentProcessExecutor",
    "ArmStats",
    "AttemptExecutor",
    "AttemptRecord",
    "AttemptRequest",
    "CaseRow",
    "Check",
    "CheckRecord",
    "EvalCase",
    "EvalConfig",
    "EvalResults",
    "EvalRunner",
    "ModelSpec",
    "ModelSummary",
    "arm_stats",
    "case_rows",
    "list_eval_runs",
    "load_case",
    "load_cases",
    "load_results",
    "plan_attempts",
    "summarize",
    "wilson",
]
