"""Scheduling: from the current state, hand the next task to an idle agent of each role —
propose (researcher), plan (planner, or the dedupe rule), implement (worker, in its own worktree),
review (reviewer, or the rules) and report (reporter, or the console) — and take in proposals and plans."""

from __future__ import annotations

from typing import Any

from labconsole.core.params import read_params
from labconsole.events import kinds as K
from labconsole.lab import state as S
from labconsole.lab.orchestrator.agents import AgentPool
from labconsole.lab.orchestrator.decisions import GateFlow
from labconsole.lab.orchestrator.measurement import Measurements
from labconsole.lab.orchestrator.port import LabPort
from labconsole.lab.state import HypothesisState, next_hyp_id

# Planned-but-not-started hypotheses the researcher may have ahead of the workers.
QUEUE_AHEAD = 1
# A task an agent finishes without its result is asked again at most this many times.
MAX_ATTEMPTS = 3


class Scheduler:
    """Callers hold the lab lock: every method reads the live state."""

    def __init__(self, lab: LabPort, agents: AgentPool, measurements: Measurements, gate: GateFlow) -> None:
        self.lab = lab
        self.agents = agents
        self.measurements = measurements
        self.gate = gate
        self._proposals_exhausted = False
        self._earlier: list[dict[str, Any]] | None = None  # earlier sessions' hypotheses, read once

    def settled(self, st: S.LabState) -> bool:
        """No work left that the lab can do without a person."""
        active = set(S.ACTIVE_STATUSES)
        if not self.agents.role_alive("worker"):
            active.discard(S.QUEUED)  # nobody left to implement it; it stays visible as queued
        return (
            self.proposals_left(st) == 0
            and not self.agents.in_flight
            and not self.measurements.measuring
            and not any(h.status in active for h in st.hypotheses.values())
        )

    def proposals_left(self, st: S.LabState) -> int:
        if self._proposals_exhausted:
            return 0
        made = sum(1 for h in st.hypotheses.values() if h.proposer.startswith(("researcher", "agent:researcher")))
        return max(0, self.lab.config.search.budget - made)

    def schedule(self) -> None:
        st = self.lab.state
        hyps = sorted(st.hypotheses.values(), key=lambda h: h.hyp_id)
        self._ask_for_proposals(st, hyps)
        self._plan_next(hyps)
        # workers: highest priority first
        queued = sorted((h for h in hyps if h.status == S.QUEUED), key=lambda h: (-h.priority, h.hyp_id))
        for aid, h in zip(self.agents.idle_agents("worker"), queued, strict=False):
            self._claim(aid, h)
        self._review_next(hyps)
        # reporter: when everything is settled and something changed since the last report
        if self.settled(st) and not st.report_is_current() and not self.agents.task_for("", "report"):
            if not self.agents.role_alive("reporter"):
                self.gate.report_by_console()
            for aid in self.agents.idle_agents("reporter")[:1]:
                self.agents.send_task(
                    aid,
                    "report",
                    {"session_dir": str(self.lab.session_dir), "out": str(self.lab.session_dir / "report.md")},
                    None,
                )

    def _ask_for_proposals(self, st: S.LabState, hyps: list[HypothesisState]) -> None:
        """Researcher: keep a small queue ahead of the workers."""
        waiting = sum(1 for h in hyps if h.status in (S.PROPOSED, S.QUEUED))
        proposals_left = self.proposals_left(st)
        if proposals_left > 0 and not self.agents.role_alive("researcher"):
            self._give_up_proposing("the researcher is not running")
            proposals_left = 0
        if proposals_left > 0 and waiting < self.agents.role_count("worker") + QUEUE_AHEAD:
            asked = self.agents.attempts_of("", "propose")
            if asked >= MAX_ATTEMPTS * self.lab.config.search.budget:
                self._give_up_proposing(f"the researcher gave no proposal in {asked} tasks")
            else:
                for aid in self.agents.idle_agents("researcher")[:1]:
                    self.agents.send_task(aid, "propose", self._propose_payload(), None)

    def _plan_next(self, hyps: list[HypothesisState]) -> None:
        """Planner: one proposal at a time, oldest first."""
        for h in hyps:
            if h.status == S.PROPOSED and not self.agents.task_for(h.hyp_id, "plan"):
                if self.agents.attempts_of(h.hyp_id, "plan") >= MAX_ATTEMPTS:
                    self.lab.append(
                        K.HYP_FAILED,
                        "console",
                        {
                            "hyp_id": h.hyp_id,
                            "step": "plan",
                            "reason": f"the planner gave no decision in {MAX_ATTEMPTS} attempts",
                        },
                    )
                    continue
                if not self.agents.role_alive("planner"):
                    self._plan_with_rules(h)
                    continue
                for aid in self.agents.idle_agents("planner")[:1]:
                    self.agents.send_task(aid, "plan", self._plan_payload(h), h.hyp_id)
                break

    def _review_next(self, hyps: list[HypothesisState]) -> None:
        """Reviewer: one measured candidate at a time; the rules review when no reviewer runs."""
        for h in hyps:
            if (
                h.status == S.AUTO_REVIEWED
                and h.hyp_id not in self.measurements.measuring
                and not self.agents.task_for(h.hyp_id, "review")
            ):
                if self.agents.attempts_of(h.hyp_id, "review") >= MAX_ATTEMPTS:
                    # The person still decides; they see that the reviewer never answered.
                    self.gate.record_verdict(
                        h.hyp_id,
                        "console",
                        "console",
                        "flag",
                        [f"the reviewer gave no verdict in {MAX_ATTEMPTS} attempts"],
                    )
                    continue
                if not self.agents.role_alive("reviewer"):
                    self.gate.review_with_rules(h.hyp_id)
                    continue
                for aid in self.agents.idle_agents("reviewer")[:1]:
                    self.agents.send_task(
                        aid,
                        "review",
                        {
                            "hypothesis": {"id": h.hyp_id, "title": h.title},
                            "evidence": self.measurements.evidence_of(h),
                        },
                        h.hyp_id,
                    )
                break

    def _give_up_proposing(self, why: str) -> None:
        """No more proposals will come: say why, once."""
        self._proposals_exhausted = True
        self.lab.append(K.NOTE, "console", {"text": f"{why}; no more proposals are asked for"})

    def _plan_with_rules(self, h: HypothesisState) -> None:
        """No planner is running: the console applies the same dedupe rule itself."""
        from labconsole.core.dedupe import find_duplicate

        earlier = self._plan_payload(h)["earlier"]
        match = find_duplicate(h.title, h.params, earlier)
        if match:
            self.lab.append(
                K.HYP_DUPLICATE, "console", {"hyp_id": h.hyp_id, "of": match.of, "similarity": match.similarity}
            )
        else:
            self.lab.append(K.HYP_QUEUED, "console", {"hyp_id": h.hyp_id, "priority": h.priority})

    # --- what the researcher and planner answer ---------------------------------------------------

    def on_proposal(self, aid: str, actor: str, role: str, d: dict[str, Any]) -> None:
        if role != "researcher":
            self.lab.append(K.AGENT_RAW, actor, {"agent_id": aid, "text": f"ignored a proposal from role {role}"})
            return
        with self.lab.locked():
            if self.proposals_left(self.lab.state) <= 0:
                return
            self.lab.append(
                K.HYP_PROPOSED,
                actor,
                {
                    "hyp_id": next_hyp_id(self.lab.state),
                    "title": str(d.get("title", ""))[:300],
                    "params": d.get("params") or {},
                    "rationale": d.get("rationale", ""),
                    "source": d.get("source", ""),
                    "priority": d.get("priority"),
                    "proposer": aid,
                },
            )

    def on_plan(self, aid: str, actor: str, role: str, d: dict[str, Any]) -> None:
        hyp_id = d.get("hypothesis")
        h = self.lab.state.hypotheses.get(hyp_id or "")
        if role != "planner" or h is None or h.status != S.PROPOSED:
            return
        known = set(self.lab.state.hypotheses) | {e["hyp_id"] for e in self._earlier_sessions()}
        if d.get("decision") == "duplicate" and d.get("of") in known:
            self.lab.append(
                K.HYP_DUPLICATE, actor, {"hyp_id": hyp_id, "of": d["of"], "similarity": d.get("similarity")}
            )
        else:
            self.lab.append(K.HYP_QUEUED, actor, {"hyp_id": hyp_id, "priority": d.get("priority") or 0.0})

    def on_commit(self, aid: str, actor: str, role: str, d: dict[str, Any]) -> None:
        hyp_id = d.get("hypothesis")
        h = self.lab.state.hypotheses.get(hyp_id or "")
        task = self.agents.in_flight.get(aid)
        if (
            role != "worker"
            or h is None
            or h.agent_id != aid
            or not h.branch
            or h.status not in (S.CLAIMED, S.IMPLEMENTING)
            or task is None
            or task.hyp_id != hyp_id
        ):
            # One commit per implement task: a later one would swap the commit under a running measurement.
            self.lab.append(
                K.AGENT_RAW,
                actor,
                {"agent_id": aid, "text": f"ignored a commit for {hyp_id} ({h.status if h else 'unknown hypothesis'})"},
            )
            return
        self.measurements.record_commit(h, str(d.get("message", "")))

    # --- payloads of tasks ------------------------------------------------------------------------

    def _claim(self, aid: str, h: HypothesisState) -> None:
        lab = self.lab
        lab.append(K.HYP_CLAIMED, "console", {"hyp_id": h.hyp_id, "agent_id": aid})
        base = lab.repo.head_sha()
        try:
            wt = lab.repo.create_worktree(h.hyp_id, base)
        except Exception as exc:
            lab.append(K.HYP_FAILED, "console", {"hyp_id": h.hyp_id, "step": "worktree", "reason": str(exc)})
            return
        lab.append(
            K.WORKTREE_CREATED,
            "console",
            {"hyp_id": h.hyp_id, "path": str(wt.path), "branch": wt.branch, "base_sha": wt.base_sha},
        )
        leftovers = lab.repo.set_aside_leftovers(h.hyp_id)
        if leftovers:  # a previous worker died mid-edit: its edits are archived, not reused
            lab.append(
                K.WORKTREE_ARCHIVED,
                "console",
                {"hyp_id": h.hyp_id, "ref": leftovers, "reason": "uncommitted edits of a stopped worker"},
            )
        self.agents.send_task(aid, "implement", self._implement_payload(h), h.hyp_id)

    def _implement_payload(self, h: HypothesisState) -> dict[str, Any]:
        config = self.lab.config
        return {
            "hypothesis": {"id": h.hyp_id, "title": h.title, "params": h.params, "rationale": h.rationale},
            "worktree": h.worktree,
            "branch": h.branch,
            "protected": list(config.objective.protected),
            "edit": {"file": config.search.file},
            "objective": dict(self.lab.state.objective),
        }

    def _baseline_params(self) -> dict[str, Any]:
        search = self.lab.config.search
        if not search.file:
            return {}
        text = None
        if self.lab.state.baseline_sha:
            try:
                text = self.lab.repo.show_file(self.lab.state.baseline_sha, search.file)
            except Exception:
                pass
        if text is None:  # not in git (yet): the file as it is on disk
            text = (self.lab.repo.root / search.file).read_text(encoding="utf-8")
        return read_params(text, [p.name for p in search.params])

    def _earlier_sessions(self) -> list[dict[str, Any]]:
        """Hypotheses of this lab's earlier sessions: never proposed or tried again (DESIGN §3)."""
        if self._earlier is None:
            from labconsole.lab.session import final_state, list_sessions

            self._earlier = []
            for session_dir in list_sessions(self.lab.repo.root):
                if session_dir.name == self.lab.session_dir.name:
                    continue
                old, _ = final_state(session_dir)
                self._earlier += [
                    {
                        "hyp_id": h.hyp_id,
                        "title": h.title,
                        "params": h.params,
                        "status": h.status,
                        "metric": h.evidence.get("candidate_median"),
                        "session": session_dir.name,
                    }
                    for h in old.hypotheses.values()
                ]
        return self._earlier

    def _propose_payload(self) -> dict[str, Any]:
        st = self.lab.state
        history = self._earlier_sessions() + [
            {
                "hyp_id": h.hyp_id,
                "title": h.title,
                "params": h.params,
                "status": h.status,
                "metric": h.evidence.get("candidate_median"),
            }
            for h in st.hypotheses.values()
        ]
        return {
            "objective": dict(st.objective),
            "search_space": [p.__dict__ | {"choices": list(p.choices)} for p in self.lab.config.search.params],
            "baseline_params": self._baseline_params(),
            "baseline_metric": st.baseline_metric,
            "history": history,
            "do_not_repeat": [h["title"] for h in history if h["status"] in (S.REJECTED, S.DUPLICATE, S.FAILED)],
            "count": 1,
        }

    def _plan_payload(self, h: HypothesisState) -> dict[str, Any]:
        # Every earlier hypothesis, rejected and earlier sessions' ones included; ids order them.
        earlier = [{k: e[k] for k in ("hyp_id", "title", "params", "status")} for e in self._earlier_sessions()]
        earlier += [
            {"hyp_id": o.hyp_id, "title": o.title, "params": o.params, "status": o.status}
            for o in sorted(self.lab.state.hypotheses.values(), key=lambda o: o.hyp_id)
            if o.hyp_id < h.hyp_id
        ]
        return {
            "hypothesis": {"id": h.hyp_id, "title": h.title, "params": h.params, "rationale": h.rationale},
            "earlier": earlier,
        }
