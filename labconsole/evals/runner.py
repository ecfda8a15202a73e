"""The eval matrix: every case x model x {with skill, without} x repeat, within a concurrency limit."""

from __future__ import annotations

import re
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable

from labconsole.errors import LabError
from labconsole.evals.cases import EvalCase
from labconsole.evals.checks import CheckResult, attempt_status, run_checks
from labconsole.evals.executor import AgentOutcome, AttemptExecutor, AttemptRequest, ModelSpec
from labconsole.evals.provenance import Provenance, tree_hash
from labconsole.evals.rolelab import make_role_lab
from labconsole.evals.results import (
    ATTEMPT_FINISHED,
    ATTEMPT_INTERRUPTED,
    ATTEMPT_STARTED,
    ATTEMPT_TRACKED,
    EVAL_FINISHED,
    EVAL_STARTED,
    EvalResults,
    ResultStore,
    load_results,
)
from labconsole.evals.summary import AttemptRecord, summarize, summary_dict
from labconsole.evals.tracking import log_attempt
from labconsole.evals.workspace import prepare_workdir, restore_protected
from labconsole.skills.format import Skill


@dataclass(frozen=True)
class AttemptPlan:
    case: EvalCase
    model: ModelSpec
    with_skill: bool
    repeat: int

    @property
    def attempt_id(self) -> str:
        model = re.sub(r"[^A-Za-z0-9._-]+", "_", self.model.label)
        return f"{self.case.id}__{model}__{'with' if self.with_skill else 'without'}__r{self.repeat}"


@dataclass
class EvalConfig:
    skill: Skill
    cases: list[EvalCase]
    models: list[ModelSpec]
    out_dir: Path
    repeats: int | None = None  # None: each case's own repeats
    concurrency: int = 2
    resume: bool = False
    gpu: bool = False
    trackio: bool = True
    keep_workdirs: bool = True


@dataclass
class RunReport:
    planned: int
    ran: int
    skipped: int
    results: EvalResults
    warnings: list[str] = field(default_factory=list)


def outcome_status(outcome: AgentOutcome, checks: list[CheckResult]) -> str:
    """error when the machinery failed; fail when the agent did (an agent error never passes, whatever
    the checks say); else what the checks say."""
    if outcome.infra:
        return "error"
    if not outcome.ok:
        return "fail"
    return attempt_status(checks)


def plan_attempts(cfg: EvalConfig) -> list[AttemptPlan]:
    plans = []
    for case in cfg.cases:
        for model in cfg.models:
            for repeat in range(cfg.repeats or case.repeats):
                for with_skill in (True, False):
                    plans.append(AttemptPlan(case, model, with_skill, repeat))
    return plans


class EvalRunner:
    def __init__(
        self, cfg: EvalConfig, executor: AttemptExecutor, on_attempt: Callable[[AttemptRecord], None] | None = None
    ) -> None:
        if cfg.concurrency < 1:
            raise LabError("--concurrency must be at least 1")
        cfg.out_dir = Path(cfg.out_dir).resolve()  # agents get absolute worktree paths
        self.cfg = cfg
        self.executor = executor
        self.on_attempt = on_attempt
        self.warnings: list[str] = []
        self._warn_lock = threading.Lock()
        self.provenance = Provenance.of(cfg.skill.path, Path.cwd())
        self.case_hashes = {c.id: tree_hash(c.case_dir, *c.extra_files) for c in cfg.cases}

    def run(self) -> RunReport:
        cfg = self.cfg
        plans = plan_attempts(cfg)
        existing = load_results(cfg.out_dir)
        if existing.records and not cfg.resume:
            raise LabError(
                f"{cfg.out_dir} already holds {len(existing.records)} attempts; "
                "pass --resume to continue it or choose another --out"
            )
        store = ResultStore(cfg.out_dir)
        try:
            for attempt_id in store.unfinished:
                store.append(ATTEMPT_INTERRUPTED, {"attempt_id": attempt_id, "reason": "runner stopped mid-attempt"})
            if cfg.trackio:  # a kill between an attempt's event and its Trackio run: write the run now
                for rec in store.prior.records:
                    if rec.attempt_id not in store.prior.tracked:
                        self._track(store, rec)
            todo = [p for p in plans if p.attempt_id not in store.done]
            store.append(
                EVAL_STARTED,
                {
                    "skill": cfg.skill.name,
                    "models": [m.label for m in cfg.models],
                    "cases": [c.id for c in cfg.cases],
                    "repeats": cfg.repeats,
                    "concurrency": cfg.concurrency,
                    "gpu": cfg.gpu,
                    "resumed": cfg.resume,
                    "planned": len(plans),
                    "to_run": len(todo),
                    "repo_commit": self.provenance.repo_commit,
                    "skill_hash": self.provenance.skill_hash,
                    "case_hashes": self.case_hashes,
                    "harness": self.provenance.harness,
                },
            )
            with ThreadPoolExecutor(max_workers=cfg.concurrency, thread_name_prefix="eval") as pool:
                for fut in [pool.submit(self._attempt, store, p) for p in todo]:
                    fut.result()  # re-raise a bug in the runner itself
            results = load_results(cfg.out_dir)
            store.append(
                EVAL_FINISHED,
                {
                    "planned": len(plans),
                    "ran": len(todo),
                    "skipped": len(plans) - len(todo),
                    "summary": summary_dict(summarize(results.records)),
                },
            )
        finally:
            store.close()
        return RunReport(len(plans), len(todo), len(plans) - len(todo), load_results(cfg.out_dir), self.warnings)

    def _track(self, store: ResultStore, rec: AttemptRecord) -> None:
        project = f"labconsole-eval-{self.cfg.skill.name}"
        err = log_attempt(project, rec, result_set=self.cfg.out_dir.name)
        if err:
            self._warn(err)
        else:
            store.append(ATTEMPT_TRACKED, {"attempt_id": rec.attempt_id, "project": project})

    def _warn(self, text: str) -> None:
        with self._warn_lock:
            self.warnings.append(text)

    def _attempt(self, store: ResultStore, plan: AttemptPlan) -> AttemptRecord:
        cfg = self.cfg
        aid = plan.attempt_id
        store.append(
            ATTEMPT_STARTED,
            {
                "attempt_id": aid,
                "case": plan.case.id,
                "model": plan.model.label,
                "with_skill": plan.with_skill,
                "repeat": plan.repeat,
            },
        )
        workdir = cfg.out_dir / "work" / aid
        transcript = cfg.out_dir / "transcripts" / f"{aid}.jsonl"
        base = prepare_workdir(plan.case, workdir)
        lab_root = make_role_lab(cfg.out_dir / "labs" / aid, cfg.skill, plan.with_skill)
        req = AttemptRequest(plan.case, plan.model, plan.with_skill, cfg.skill, workdir, transcript, aid, lab_root)
        try:
            outcome = self.executor.run(req)
        except Exception as exc:  # an executor crash is that attempt's error, not the whole eval's
            outcome = AgentOutcome(ok=False, error=f"the eval harness failed: {type(exc).__name__}: {exc}", infra=True)
        t0 = time.monotonic()
        touched = restore_protected(workdir, base, plan.case.protected) if plan.case.protected else []
        checks: list[CheckResult] = []
        if not outcome.infra:  # nothing was measured when the machinery failed: no verdict on the work
            if plan.case.protected:
                checks.append(
                    CheckResult(
                        "protected-files",
                        "diff",
                        "fail" if touched else "pass",
                        f"edited protected files: {', '.join(touched)}" if touched else "protected files untouched",
                    )
                )
            checks += run_checks(plan.case, workdir, base, cfg.gpu)
        checks_s = round(time.monotonic() - t0, 3)
        sha = ""
        if transcript.exists():
            sha = store.put_blob(transcript.read_bytes())
        rec = AttemptRecord(
            attempt_id=aid,
            case=plan.case.id,
            model=plan.model.label,
            with_skill=plan.with_skill,
            repeat=plan.repeat,
            status=outcome_status(outcome, checks),
            checks=checks,
            agent_ok=outcome.ok,
            agent_error=outcome.error,
            infra_error=outcome.infra,
            usage=outcome.usage,
            wall_s=outcome.wall_s,
            checks_s=checks_s,
            transcript=str(transcript.relative_to(cfg.out_dir)) if transcript.exists() else "",
            transcript_sha256=sha,
            protected_touched=touched,
            backend=plan.model.backend,
            repo_commit=self.provenance.repo_commit,
            skill_hash=self.provenance.skill_hash,
            case_hash=self.case_hashes[plan.case.id],
            harness=self.provenance.harness,
        )
        store.append(ATTEMPT_FINISHED, rec.to_dict())
        if not cfg.keep_workdirs:
            shutil.rmtree(workdir, ignore_errors=True)
        if cfg.trackio:
            self._track(store, rec)
        if self.on_attempt:
            self.on_attempt(rec)
        return rec
