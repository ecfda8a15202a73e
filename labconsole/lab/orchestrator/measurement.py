"""Measurement of candidates: a commit on a hypothesis branch is measured on that exact commit (with the
baseline), the evidence bundle is hashed into the log, and a candidate can be re-measured on a newer main."""

from __future__ import annotations

import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from collections.abc import Callable

from labconsole.events import kinds as K
from labconsole.lab import change_checks
from labconsole.lab.evidence import build_bundle, canonical, evidence_hash
from labconsole.lab.orchestrator.port import LabPort
from labconsole.lab.state import HypothesisState
from labconsole.runs.local import LocalExecutor

# The evidence fields copied into the log event (the whole bundle goes to a blob).
SUMMARY_FIELDS = ("sha", "base_sha", "candidate_median", "baseline_median", "candidate_spread", "baseline_spread",
                  "effect", "significant", "candidate_ok", "candidate_runs", "baseline_ok", "baseline_runs", "stale",
                  "protected_changes", "run_tampering", "flags", "rules_diff", "measured")


class Measurements:
    """Measures candidates on a worker pool. ``after_each`` runs under the lab lock once a measurement ends
    (runs spend GPU-hours, so the budget is checked then)."""

    def __init__(self, lab: LabPort, executor: LocalExecutor, stopping: threading.Event,
                 after_each: Callable[[], None]) -> None:
        self.lab = lab
        self.executor = executor
        self._stopping = stopping
        self._after_each = after_each
        self.measuring: set[str] = set()
        self.pool = ThreadPoolExecutor(max_workers=max(1, lab.config.resources.max_parallel_runs),
                                       thread_name_prefix="measure")

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    def record_commit(self, h: HypothesisState, message: str, base_sha: str | None = None) -> None:
        """Trust git, not the agent: the candidate is whatever the branch head is now."""
        repo = self.lab.repo
        sha = repo.branch_head(h.branch) if h.branch else None
        base = base_sha or h.base_sha
        if not sha or sha == base:
            self.lab.append(K.HYP_FAILED, "console", {"hyp_id": h.hyp_id, "step": "implement",
                                                      "reason": "no commit on the branch"})
            return
        assert base is not None  # a claimed hypothesis has its worktree's base
        diff = repo.diff(base, sha)
        stats = repo.diff_stats(base, sha)
        self.lab.append(K.HYP_COMMITTED, "console", {
            "hyp_id": h.hyp_id, "sha": sha, "branch": h.branch, "message": message[:500], "base_sha": base,
            "diff_blob": self.lab.put_blob(diff), "files": stats.files, "additions": stats.additions,
            "deletions": stats.deletions})
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
            measured = lab.config.objective.measure_outside_editable or not any(
                f.flag == change_checks.OUTSIDE_EDITABLE for f in flags)
            if measured:
                runs, tampering = self.executor.measure(hyp_id, sha, base, params, n, priority)
            else:
                runs, tampering = [], []
                outside = [p for f in flags if f.flag == change_checks.OUTSIDE_EDITABLE for p in f.paths]
                lab.append(K.NOTE, "console", {"text": f"{hyp_id} is not measured: it changes files outside "
                                               f"[objective] editable ({', '.join(outside)}); set "
                                               f"measure_outside_editable = true in lab.toml to measure such candidates"})
            if tampering:
                flags.append(change_checks.ChangeFlag(change_checks.RUN_TAMPERING, tuple(tampering),
                                                      "a measured run modified protected files"))
            if self._stopping.is_set():
                return
            with lab.locked():
                if lab.state.hypotheses[hyp_id].sha != sha:
                    return  # superseded by a newer commit, which gets its own measurement
            diff_sha = lab.state.hypotheses[hyp_id].diff_blob or ""
            bundle = build_bundle(
                hyp_id=hyp_id, sha=sha, base_sha=base, main_sha=lab.repo.head_sha(), diff_sha256=diff_sha,
                protected_changes=protected, run_tampering=tampering, runs=runs,
                objective=dict(lab.state.objective), min_effect=lab.config.objective.min_effect, params=params,
                flags=[f.to_dict() for f in flags], rules_diff=rules_diff, measured=measured)
            digest = evidence_hash(bundle)
            blob = lab.put_blob(canonical(bundle))
            summary = {k: bundle[k] for k in SUMMARY_FIELDS}
            summary["metrics"] = [{"run_id": r.run_id, "role": r.role, "repeat": r.repeat, "status": r.status,
                                   "metric": r.metric} for r in runs]
            lab.append(K.EVIDENCE_RECORDED, "console", {"hyp_id": hyp_id, "evidence_hash": digest,
                                                        "blob": blob, "summary": summary})
            if bundle["candidate_ok"] == 0 and measured:
                lab.append(K.HYP_FAILED, "console", {"hyp_id": hyp_id, "step": "measure",
                                                     "reason": "no candidate run succeeded (logs kept on the runs)"})
                lab.cleanup_worktree(hyp_id)
        except Exception as exc:
            if not self._stopping.is_set() and not lab.fatal:
                lab.append(K.HYP_FAILED, "console", {"hyp_id": hyp_id, "step": "measure",
                                                     "reason": f"{type(exc).__name__}: {exc}"})
        finally:
            self.measuring.discard(hyp_id)
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
        while self.measuring and (deadline is None or time.monotonic() < deadline):
            time.sleep(0.05)
