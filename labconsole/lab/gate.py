"""The human gate, as pure checks over LabState: may this person approve, reject or merge now?

The Lab service calls these before it appends a decision; they raise
GateError with the reason a person can act on. Agents have no path here.
"""

from __future__ import annotations

import os

from labconsole.errors import GateError
from labconsole.lab import state as S
from labconsole.lab.state import HypothesisState, LabState

# Set in the environment of every agent process and every measured run the console starts.
AGENT_ENV = "LABCONSOLE_AGENT_ID"
RUN_ENV = "LABCONSOLE_RUN_ID"


def require_person(environ: dict[str, str] | None = None) -> None:
    """Decisions come from a person: refuse a process started by the console for an agent or a run."""
    env = os.environ if environ is None else environ
    for name in (AGENT_ENV, RUN_ENV):
        if env.get(name):
            raise GateError(f"decisions come from a person, and this process runs inside {name}={env[name]}: "
                            f"approve, reject, merge and publish from your own shell")


def hypothesis(state: LabState, hyp_id: str) -> HypothesisState:
    h = state.hypotheses.get(hyp_id)
    if h is None:
        known = ", ".join(sorted(state.awaiting_review_ids())) or "none awaiting review"
        raise GateError(f"no hypothesis {hyp_id!r} in session {state.session_id} (awaiting review: {known})")
    return h


def check_approve(state: LabState, hyp_id: str, branch_head: str | None) -> HypothesisState:
    h = hypothesis(state, hyp_id)
    if h.status != S.AWAITING_HUMAN:
        raise GateError(f"{hyp_id} is {h.status}; only a candidate awaiting review can be approved")
    if not h.sha or not h.evidence_hash:
        raise GateError(f"{hyp_id} has no measured commit and evidence to approve")
    if h.evidence.get("sha") != h.sha:
        raise GateError(f"{hyp_id}: the evidence is for {str(h.evidence.get('sha'))[:12]}, not the current commit "
                        f"{h.sha[:12]}; it must be re-measured before approval")
    if branch_head != h.sha:
        raise GateError(f"{hyp_id}: branch {h.branch} is at {str(branch_head)[:12]}, not the measured commit "
                        f"{h.sha[:12]}; it must be re-measured before approval")
    return h


def needs_confirmation(h: HypothesisState) -> list[str]:
    """Reasons the reviewer flagged: approving over them asks the person to confirm."""
    if not h.reviews:
        return ["no reviewer verdict yet"]
    last = h.reviews[-1]
    return [] if last.verdict == "pass" else [f"reviewer said {last.verdict}: " + "; ".join(last.reasons)]


def check_reject(state: LabState, hyp_id: str) -> HypothesisState:
    h = hypothesis(state, hyp_id)
    if h.status not in (S.AWAITING_HUMAN, S.APPROVED, S.AUTO_REVIEWED):
        raise GateError(f"{hyp_id} is {h.status}; only a candidate under review or approved and not merged can be rejected")
    return h


def check_merge(state: LabState, hyp_id: str, branch_head: str | None, main_head: str) -> HypothesisState:
    h = hypothesis(state, hyp_id)
    if h.status == S.MERGED:
        raise GateError(f"{hyp_id} is already merged ({str(h.merge_sha)[:12]})")
    approval = h.approval
    if h.status != S.APPROVED or approval is None:
        raise GateError(f"{hyp_id} is {h.status}: a person must approve it first (labconsole review approve {hyp_id})")
    if branch_head != approval.sha:
        raise GateError(f"{hyp_id}: branch moved after approval (approved {str(approval.sha)[:12]}, "
                        f"now {str(branch_head)[:12]}); it needs a new review")
    if approval.evidence_hash != h.evidence_hash:
        raise GateError(f"{hyp_id}: the evidence changed after approval; it needs a new review")
    return h


def is_stale(h: HypothesisState, main_head: str) -> bool:
    """The candidate was measured against a parent that is no longer main's head."""
    return bool(h.base_sha) and h.base_sha != main_head


def check_remeasure(state: LabState, hyp_id: str) -> HypothesisState:
    h = hypothesis(state, hyp_id)
    if h.status not in (S.AWAITING_HUMAN, S.APPROVED, S.AUTO_REVIEWED):
        raise GateError(f"{hyp_id} is {h.status}; only a candidate under review can be re-measured")
    return h
