"""The human gate, as pure checks over LabState: may this person approve, reject or merge now?

The Lab service calls these before it appends a decision; they raise
GateError with the reason a person can act on. Agents have no path here.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence
from typing import Any

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
            raise GateError(
                f"decisions come from a person, and this process runs inside {name}={env[name]}: "
                f"approve, reject, merge and publish from your own shell"
            )


def hypothesis(state: LabState, hyp_id: str) -> HypothesisState:
    h = state.hypotheses.get(hyp_id)
    if h is None:
        known = ", ".join(sorted(state.awaiting_review_ids())) or "none awaiting review"
        raise GateError(f"no hypothesis {hyp_id!r} in session {state.session_id} (awaiting review: {known})")
    return h


def change_flags(h: HypothesisState) -> list[dict[str, Any]]:
    """The change checks' flags on the candidate's measured commit (labconsole.lab.change_checks).

    Evidence recorded before the checks existed carries only ``protected_changes`` and ``run_tampering``:
    they count as the same flags, so an old approval path cannot skip them.
    """
    ev = h.evidence
    flags = [f for f in ev.get("flags") or [] if isinstance(f, dict) and f.get("flag")]
    if "flags" not in ev:
        if ev.get("protected_changes"):
            flags.append({"flag": "protected", "paths": list(ev["protected_changes"]), "why": "protected"})
        if ev.get("run_tampering"):
            flags.append({"flag": "run-tampering", "paths": list(ev["run_tampering"]), "why": "run tampering"})
    return flags


def override_option(flag: str) -> str:
    """The CLI option that overrides one flag (outside-editable has its own, as the lab's docs name it)."""
    return "--override-outside-editable" if flag == "outside-editable" else f"--override {flag}"


def check_overrides(h: HypothesisState, overrides: Sequence[str], reason: str) -> list[str]:
    """Flagged changes are never approved by a plain confirmation: each flag needs a named override and
    the approval a reason, both recorded in the log. Returns the flags overridden."""
    flags = change_flags(h)
    names = list(dict.fromkeys(str(f["flag"]) for f in flags))
    missing = [n for n in names if n not in overrides]
    if missing:
        first = next(f for f in flags if f["flag"] == missing[0])
        paths = ", ".join(str(p) for p in first.get("paths") or [])
        options = " ".join(override_option(n) for n in missing)
        raise GateError(
            f"{h.hyp_id} is flagged {missing[0]} ({paths}); approving it needs an explicit override: "
            f"labconsole review approve {h.hyp_id} {options} --reason {shlex.quote('why this is safe')}"
        )
    unknown = [o for o in overrides if o not in names]
    if unknown:
        raise GateError(
            f"{h.hyp_id} is not flagged {unknown[0]}; override only the flags it has ({', '.join(names) or 'none'})"
        )
    if names and not reason.strip():
        raise GateError(f"{h.hyp_id}: overriding {', '.join(names)} needs a reason (--reason …); the log records it")
    return names


def check_approve(
    state: LabState, hyp_id: str, branch_head: str | None, overrides: Sequence[str] = (), reason: str = ""
) -> HypothesisState:
    h = hypothesis(state, hyp_id)
    if h.status != S.AWAITING_HUMAN:
        raise GateError(f"{hyp_id} is {h.status}; only a candidate awaiting review can be approved")
    if not h.sha or not h.evidence_hash:
        raise GateError(f"{hyp_id} has no measured commit and evidence to approve")
    if h.evidence.get("sha") != h.sha:
        raise GateError(
            f"{hyp_id}: the evidence is for {str(h.evidence.get('sha'))[:12]}, not the current commit "
            f"{h.sha[:12]}; it must be re-measured before approval"
        )
    if branch_head != h.sha:
        raise GateError(
            f"{hyp_id}: branch {h.branch} is at {str(branch_head)[:12]}, not the measured commit "
            f"{h.sha[:12]}; it must be re-measured before approval"
        )
    check_overrides(h, overrides, reason)
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
        raise GateError(
            f"{hyp_id} is {h.status}; only a candidate under review or approved and not merged can be rejected"
        )
    return h


def rules_change(h: HypothesisState) -> list[str] | None:
    """What the candidate changes in the lab's rules (``["metric val_loss → train_loss", …]``); None if nothing."""
    if not any(f["flag"] == "changes-lab-rules" for f in change_flags(h)):
        return None
    return [str(line) for line in h.evidence.get("rules_diff") or []] or ["the lab's rule files change"]


def check_merge(
    state: LabState, hyp_id: str, branch_head: str | None, main_head: str, confirm_rules_change: bool = False
) -> HypothesisState:
    h = hypothesis(state, hyp_id)
    if h.status == S.MERGED:
        raise GateError(f"{hyp_id} is already merged ({str(h.merge_sha)[:12]})")
    approval = h.approval
    if h.status != S.APPROVED or approval is None:
        raise GateError(f"{hyp_id} is {h.status}: a person must approve it first (labconsole review approve {hyp_id})")
    if branch_head != approval.sha:
        raise GateError(
            f"{hyp_id}: branch moved after approval (approved {str(approval.sha)[:12]}, "
            f"now {str(branch_head)[:12]}); it needs a new review"
        )
    if approval.evidence_hash != h.evidence_hash:
        raise GateError(f"{hyp_id}: the evidence changed after approval; it needs a new review")
    change = rules_change(h)
    if change and not confirm_rules_change:
        raise GateError(
            f"{hyp_id} changes the lab's rules: {'; '.join(change)} — merging it needs the person to "
            f"confirm that rules change (labconsole merge {hyp_id} --confirm-rules-change)"
        )
    return h


def is_stale(h: HypothesisState, main_head: str) -> bool:
    """The candidate was measured against a parent that is no longer main's head."""
    return bool(h.base_sha) and h.base_sha != main_head


def check_remeasure(state: LabState, hyp_id: str) -> HypothesisState:
    h = hypothesis(state, hyp_id)
    if h.status not in (S.AWAITING_HUMAN, S.APPROVED, S.AUTO_REVIEWED):
        raise GateError(f"{hyp_id} is {h.status}; only a candidate under review can be re-measured")
    return h
