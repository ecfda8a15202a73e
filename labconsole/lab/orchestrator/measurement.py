"""Measurement of candidates: a commit on a hypothesis branch is measured on that exact commit (with the
baseline), the evidence bundle is hashed into the log, and a candidate can be re-measured on a newer main.

Repeats are adaptive (core/stats.py ``SequentialPlan``): candidate and baseline runs alternate in pairs on
the same executor, the lab's ``repeats`` pairs first, then more while the gate is undecided and the
candidate is ahead, up to ``max_repeats``. A candidate about to be shown as the session's best is
re-measured against the current main before it is labelled improved (lab/selection.py)."""

from __future__ import annotations

import dataclasses
import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from collections.abc import Callable

from labconsole.core.stats import (
    IMPROVED,
    WORSE,
    NoiseFloor,
    SequentialPlan,
    confirm,
    default_cap,
    would_be_selected,
)
from labconsole.events import kinds as K
from labconsole.lab import change_checks
from labconsole.lab.evidence import (
    GATE_FIELDS,
    baseline_groups,
    build_bundle,
    canonical,
    compare_runs,
    evidence_hash,
    metric_rows,
    summarize,
)
from labconsole.lab.orchestrator.port import LabPort
from labconsole.lab.selection import session_gate, session_pvalues
from labconsole.lab.state import HypothesisState
from labconsole.runs.executor import Executor, RunCancelled, RunRequest
from labconsole.runs.outcome import RunOutcome

# The evidence fields copied into the log event (the whole bundle goes to a blob), the gate's among them.
SUMMARY_FIELDS = (
    "sha",
    "base_sha",
    "candidate_median",
    "baseline_median",
    "candidate_spread",
    "baseline_spread",
    "candidate_ok",
    "candidate_runs",
    "baseline_ok",
    "baseline_runs",
    "stale",
    "protected_changes",
    "run_tampering",
    *GATE_FIELDS,
    "flags",
    "rules_diff",
    "measured",
)
# Pairs attempted per measurement stop at this multiple of the cap, however many runs fail.
_ATTEMPTS_PER_CAP = 2


@dataclasses.dataclass
class Measured:
    """One adaptive measurement: its runs, what they tampered with, and what the gate judged them with."""

    runs: list[RunOutcome]
    tampering: list[str]
    floor: NoiseFloor  # the session's floor with this measurement's baseline repeats added
    plan: SequentialPlan
    cancelled: bool


@dataclasses.dataclass(frozen=True)
class Subject:
    """What one measurement runs: the candidate commit against its base, its parameters, the measurement's
    number (run ids carry it) and the priority its runs queue at."""

    hyp_id: str
    sha: str
    base: str
    params: dict[str, Any]
    number: int
    priority: float

    def request(self, role: str, repeat: int) -> RunRequest:
        """The run of one side of a pair; only the candidate gets the hypothesis' parameters."""
        commit, params = (self.sha, self.params) if role == "candidate" else (self.base, {})
        return RunRequest(f"{self.hyp_id}-m{self.number}-{role[0]}{repeat}", self.hyp_id, role, commit, repeat, params)


class Measurements:
    """Measures candidates on a worker pool. ``after_each`` runs under the lab lock once a measurement ends
    (runs spend GPU-hours, so the budget is checked then)."""

    def __init__(
        self,
        lab: LabPort,
        executor: Executor,
        stopping: threading.Event,
        after_each: Callable[[], None],
        on_baseline_broken: Callable[[str, str], None] | None = None,
    ) -> None:
        self.lab = lab
        self.executor = executor
        self._stopping = stopping
        self._after_each = after_each
        self._on_baseline_broken = on_baseline_broken  # (base sha, why): every baseline run failed
        self.measuring: set[str] = set()
        self._unconfirmable: set[tuple[str, str | None]] = set()  # (hyp_id, evidence hash) whose re-measure failed
        self.pool = ThreadPoolExecutor(
            max_workers=max(1, lab.config.resources.max_parallel_runs), thread_name_prefix="measure"
        )

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    def record_commit(self, h: HypothesisState, message: str, base_sha: str | None = None) -> None:
        """Trust git, not the agent: the candidate is whatever the branch head is now."""
        repo = self.lab.repo
        sha = repo.branch_head(h.branch) if h.branch else None
        base = base_sha or h.base_sha
        if not sha or sha == base:
            self.lab.append(
                K.HYP_FAILED, "console", {"hyp_id": h.hyp_id, "step": "implement", "reason": "no commit on the branch"}
            )
            return
        assert base is not None  # a claimed hypothesis has its worktree's base
        diff = repo.diff(base, sha)
        stats = repo.diff_stats(base, sha)
        self.lab.append(
            K.HYP_COMMITTED,
            "console",
            {
                "hyp_id": h.hyp_id,
                "sha": sha,
                "branch": h.branch,
                "message": message[:500],
                "base_sha": base,
                "diff_blob": self.lab.put_blob(diff),
                "files": stats.files,
                "additions": stats.additions,
                "deletions": stats.deletions,
            },
        )
        self.start(h.hyp_id)

    def start(self, hyp_id: str) -> None:
        if hyp_id in self.measuring:
            return
        self.measuring.add(hyp_id)
        self.pool.submit(self._measure, hyp_id, self._next_number(hyp_id))

    def _next_number(self, hyp_id: str) -> int:
        """Measurement numbers come from the log, so run ids stay unique across console restarts."""
        runs = self.lab.state.hypotheses[hyp_id].run_ids
        done = [int(m.group(1)) for r in runs if (m := re.search(r"-m(\d+)-", r))]
        return max(done, default=0) + 1

    def _measure(self, hyp_id: str, n: int) -> None:
        lab = self.lab
        try:
            with lab.locked():
                h = lab.state.hypotheses[hyp_id]
                sha, base, params, priority = h.sha, h.base_sha, dict(h.params), h.priority
            assert sha is not None and base is not None  # measured hypotheses have a commit and its base
            protected = lab.repo.protected_changes(base, sha, list(lab.config.objective.protected))
            flags, rules_diff = self.change_flags(base, sha)
            is_measured = lab.config.objective.measure_outside_editable or not any(
                f.flag == change_checks.OUTSIDE_EDITABLE for f in flags
            )
            if is_measured:
                measured = self._adaptive(Subject(hyp_id, sha, base, params, n, priority), selection=True)
            else:
                measured = Measured([], [], NoiseFloor(), self.plan(), False)
                outside = [p for f in flags if f.flag == change_checks.OUTSIDE_EDITABLE for p in f.paths]
                lab.append(
                    K.NOTE,
                    "console",
                    {
                        "text": f"{hyp_id} is not measured: it changes files outside "
                        f"[objective] editable ({', '.join(outside)}); set "
                        f"measure_outside_editable = true in lab.toml to measure such candidates"
                    },
                )
            runs, tampering = measured.runs, measured.tampering
            if tampering:
                flags.append(
                    change_checks.ChangeFlag(
                        change_checks.RUN_TAMPERING, tuple(tampering), "a measured run modified protected files"
                    )
                )
            if (unsandboxed := change_checks.sandbox_flag(runs)) is not None:
                flags.append(unsandboxed)
            if self._stopping.is_set() or measured.cancelled:
                return
            with lab.locked():
                if lab.state.hypotheses[hyp_id].sha != sha:
                    return  # superseded by a newer commit, which gets its own measurement
            diff_sha = lab.state.hypotheses[hyp_id].diff_blob or ""
            bundle = build_bundle(
                hyp_id=hyp_id,
                sha=sha,
                base_sha=base,
                main_sha=lab.repo.head_sha(),
                diff_sha256=diff_sha,
                protected_changes=protected,
                run_tampering=tampering,
                runs=runs,
                objective=dict(lab.state.objective),
                min_effect=lab.config.objective.min_effect,
                params=params,
                floor=measured.floor,
                looks=measured.plan.looks,
                flags=[f.to_dict() for f in flags],
                rules_diff=rules_diff,
                measured=is_measured,
            )
            digest = evidence_hash(bundle)
            blob = lab.put_blob(canonical(bundle))
            summary = {k: bundle[k] for k in SUMMARY_FIELDS}
            summary["max_repeats"] = measured.plan.cap
            summary["metrics"] = metric_rows(runs)
            lab.append(
                K.EVIDENCE_RECORDED,
                "console",
                {"hyp_id": hyp_id, "evidence_hash": digest, "blob": blob, "summary": summary},
            )
            baseline_runs = [r for r in runs if r.role == "baseline"]
            if baseline_runs and bundle["baseline_ok"] == 0 and self._on_baseline_broken is not None:
                self._on_baseline_broken(base, baseline_runs[-1].error or baseline_runs[-1].status)
            if bundle["candidate_ok"] == 0 and is_measured:
                lab.append(
                    K.HYP_FAILED,
                    "console",
                    {
                        "hyp_id": hyp_id,
                        "step": "measure",
                        "reason": "no candidate run succeeded (logs kept on the runs)",
                    },
                )
                lab.cleanup_worktree(hyp_id)
        except Exception as exc:
            if not self._stopping.is_set() and not lab.fatal:
                lab.append(
                    K.HYP_FAILED,
                    "console",
                    {"hyp_id": hyp_id, "step": "measure", "reason": f"{type(exc).__name__}: {exc}"},
                )
        finally:
            self._leave_measuring(hyp_id)
            if not lab.fatal and not self._stopping.is_set():
                with lab.locked():
                    self._after_each()

    def change_flags(self, base: str, sha: str) -> tuple[list[change_checks.ChangeFlag], list[str]]:
        """The change checks on the candidate's tree against its base, and — when it touches the lab's
        rules — what would change in them (the console keeps measuring with main's lab.toml)."""
        repo = self.lab.repo
        rules = change_checks.TrustRules.from_config(self.lab.config)
        flags = change_checks.check_changes(rules, repo.tree(base), repo.tree(sha))
        diff: list[str] = []
        touched = next((f.paths for f in flags if f.flag == change_checks.LAB_RULES), ())
        for path in touched:
            if path == "lab.toml":
                try:
                    new: str | None = repo.show_file(sha, path)
                except Exception:
                    new = None  # deleted in the candidate
                diff += change_checks.rules_diff_of_texts(repo.show_file(base, path), new)
            else:
                diff.append(f"{path} changed (read by the console as the lab's rules)")
        return flags, diff

    # --- adaptive repeats -------------------------------------------------------------------------

    def plan(self) -> SequentialPlan:
        obj = self.lab.config.objective
        return SequentialPlan(obj.repeats, obj.max_repeats or default_cap(obj.repeats))

    def _adaptive(self, subject: Subject, *, selection: bool) -> Measured:
        """Measure pairs until the plan stops (core/stats.py ``SequentialPlan``), judging after each batch.

        The noise floor judged against is the session's (from the log) plus this measurement's own baseline
        repeats. ``selection``: whether an ``improved`` must also survive the session's Benjamini–Hochberg
        now to stop early (a first measurement); a confirmation re-measure is judged on its own.
        """
        obj, hyp_id = self.lab.config.objective, subject.hyp_id
        plan = self.plan()
        runs: list[RunOutcome] = []
        tampering: set[str] = set()
        first, more = 0, plan.start
        floor = NoiseFloor()
        while more:
            new, touched, cancelled = self._pairs(subject, first, more)
            runs += new
            tampering |= touched
            first += more
            with self.lab.locked():
                floor = NoiseFloor(list(self.lab.state.noise_floor.rel_diffs), self.lab.state.noise_floor.groups)
                session = session_pvalues(self.lab.state, exclude=hyp_id)
            for group in baseline_groups(runs):
                floor.add(group)
            if cancelled or self._stopping.is_set():
                return Measured(runs, sorted(tampering), floor, plan, True)
            if tampering:
                break  # the evidence is rejected whatever the numbers say: spend no more runs on it
            cmp = compare_runs(runs, obj.direction, obj.min_effect, floor=floor, looks=plan.looks)
            selected = would_be_selected(hyp_id, cmp.p_value, session) if selection else True
            more = min(plan.more(cmp, selected), plan.cap * _ATTEMPTS_PER_CAP - first)
        return Measured(runs, sorted(tampering), floor, plan, False)

    def _pairs(self, subject: Subject, first: int, count: int) -> tuple[list[RunOutcome], set[str], bool]:
        """``count`` interleaved pairs from repeat ``first`` on: (outcomes, protected files touched, cancelled).

        The same seed (the repeat) within a pair; who goes first alternates every repeat, so drift on the
        machine hits both alike.
        """
        outcomes: list[RunOutcome] = []
        touched: set[str] = set()
        for repeat in range(first, first + count):
            roles = ["baseline", "candidate"] if repeat % 2 == 0 else ["candidate", "baseline"]
            for role in roles:
                if self._stopping.is_set():
                    return outcomes, touched, True
                try:
                    done = self.executor.run(subject.request(role, repeat), subject.priority)
                except RunCancelled:
                    return outcomes, touched, True
                outcomes.append(done.outcome)
                touched.update(done.tampering)
        return outcomes, touched, False

    # --- confirming the session's best ------------------------------------------------------------

    def _leave_measuring(self, hyp_id: str) -> None:
        """A measurement of ``hyp_id`` ends; the next confirmation re-measure (of this very candidate, when it
        is now the session's best) starts in the same locked step, so the session never looks settled (and a
        headless run never stops) between the two."""
        lab = self.lab
        with lab.locked():
            self.measuring.discard(hyp_id)
            if not lab.fatal and not self._stopping.is_set():
                self.confirm_next()

    def confirm_next(self, finishing: str = "") -> None:
        """Under the lab lock: start the re-measure of the candidate awaiting confirmation, if one is and
        it is not being measured now (``finishing``: the measurement calling this, about to end)."""
        hyp_id = session_gate(self.lab.state).to_confirm
        if hyp_id is None or (hyp_id in self.measuring and hyp_id != finishing) or self._stopping.is_set():
            return
        if (hyp_id, self.lab.state.hypotheses[hyp_id].evidence_hash) in self._unconfirmable:
            return  # its re-measure failed in this process (a note says why); a person can re-measure it
        self.measuring.add(hyp_id)
        self.pool.submit(self._confirm, hyp_id)

    def _confirm(self, hyp_id: str) -> None:
        """Re-measure the candidate's commit against main's head now; log the fresh comparison and its label."""
        lab = self.lab
        try:
            with lab.locked():
                h = lab.state.hypotheses[hyp_id]
                sha, digest, params, priority = h.sha, h.evidence_hash, dict(h.params), h.priority
                n = self._next_number(hyp_id)
            assert sha is not None  # it has evidence, so it has a commit
            main = lab.repo.head_sha()
            measured = self._adaptive(Subject(hyp_id, sha, main, params, n, priority), selection=False)
            if self._stopping.is_set() or measured.cancelled:
                return
            obj = lab.config.objective
            summary = summarize(
                measured.runs, obj.direction, obj.min_effect, floor=measured.floor, looks=measured.plan.looks
            )
            fields = ("candidate_median", "baseline_median", "candidate_ok", "baseline_ok", *GATE_FIELDS)
            logged = {k: summary[k] for k in fields}
            logged.update(
                run_tampering=measured.tampering, max_repeats=measured.plan.cap, metrics=metric_rows(measured.runs)
            )
            with lab.locked():
                if lab.state.hypotheses[hyp_id].evidence_hash != digest:
                    return  # measured again meanwhile: that evidence gets its own confirmation
                fresh = compare_runs(
                    measured.runs, obj.direction, obj.min_effect, floor=measured.floor, looks=measured.plan.looks
                )
                if measured.tampering:
                    fresh = dataclasses.replace(fresh, decision=WORSE)  # a run that games the metric loses
                # It is re-measured because its decision after selection was improved (lab/selection.py).
                selected = dataclasses.replace(session_gate(lab.state).comparisons[hyp_id], decision=IMPROVED)
                label = confirm(selected, fresh)
                lab.append(
                    K.EVIDENCE_CONFIRMED,
                    "console",
                    {
                        "hyp_id": hyp_id,
                        "sha": sha,
                        "main_sha": main,
                        "evidence_hash": digest,
                        "label": label,
                        "summary": logged,
                    },
                )
        except Exception as exc:
            self._unconfirmable.add((hyp_id, digest))  # logged once; not retried until it is measured again
            if not self._stopping.is_set() and not lab.fatal:
                lab.append(
                    K.NOTE,
                    "console",
                    {"text": f"{hyp_id}: confirmation re-measure failed: {type(exc).__name__}: {exc}"},
                )
        finally:
            self._leave_measuring(hyp_id)

    def evidence_of(self, h: HypothesisState) -> dict[str, Any]:
        """The full evidence bundle from its blob; the logged summary if the blob cannot be read."""
        if h.evidence_blob:
            try:
                bundle: dict[str, Any] = json.loads(self.lab.blob(h.evidence_blob))
                return bundle
            except Exception:
                pass
        return dict(h.evidence)

    def remeasure(self, hyp_id: str) -> None:
        """Bring a candidate onto the current main (merge main into its branch) and measure it again."""
        h = self.lab.state.hypotheses[hyp_id]
        main = self.lab.repo.head_sha()
        try:
            self.lab.repo.update_branch(hyp_id, main)
        except Exception as exc:
            self.lab.append(K.HYP_FAILED, "console", {"hyp_id": hyp_id, "step": "remeasure", "reason": str(exc)})
            self.lab.cleanup_worktree(hyp_id)
            return
        self.record_commit(h, f"re-measure on main {main[:12]}", base_sha=main)

    def wait(self, timeout_s: float | None = None) -> None:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while deadline is None or time.monotonic() < deadline:
            # Read under the lab lock: a measurement that ends hands over to its confirmation inside one
            # locked step (_leave_measuring), and unlocked, the set looked empty in between.
            with self.lab.locked():
                if not self.measuring:
                    return
            time.sleep(0.05)
