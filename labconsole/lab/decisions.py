"""What a person's commands do: the handlers ``Lab.execute`` dispatches to (approve, reject, merge, …).

Each takes the Lab and a command from labconsole/lab/commands.py, checks the gate under the Lab's lock, and
appends through the Lab (decisions signed with ``Lab.append_signed``). Kept apart from the service so
that the service holds the log, the state and the session's life, and this file what decisions mean.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from labconsole.core.user import login_name
from labconsole.errors import GateError, LabError
from labconsole.events import kinds as K
from labconsole.events.log import Event
from labconsole.lab import gate
from labconsole.lab.commands import (
    AgentControl,
    Approve,
    Merge,
    ProposeExternal,
    Reject,
    Remeasure,
    ResumeAfterBudget,
    SendMessage,
)
from labconsole.lab.state import next_hyp_id

if TYPE_CHECKING:
    from labconsole.lab.orchestrator import Orchestrator
    from labconsole.lab.service import Lab


def default_who() -> str:
    return login_name(fallback="human")


def approve(lab: Lab, command: Approve) -> Event:
    hyp_id, who = command.hyp_id, command.who or default_who()
    with lab.locked():
        h = gate.hypothesis(lab.state, hyp_id)
        head = lab.repo.branch_head(h.branch) if h.branch else None
        h = gate.check_approve(lab.state, hyp_id, head, command.overrides, command.reason)
        flags = gate.needs_confirmation(h)
        if flags and not command.confirm_flags:
            raise GateError(f"{hyp_id}: {flags[0]}; confirm to approve anyway")
        data: dict[str, Any] = {
            "hyp_id": hyp_id,
            "sha": h.sha,
            "evidence_hash": h.evidence_hash,
            "who": who,
            "reason": command.reason,
            "flags": flags,
        }
        if command.overrides:
            # The override and its reason are part of the decision the log (and its chain) holds.
            data["overrides"] = [{"flag": f["flag"], "paths": list(f.get("paths") or [])} for f in gate.change_flags(h)]
        return lab.append_signed(K.DECISION_APPROVED, who, data)


def reject(lab: Lab, command: Reject) -> Event:
    hyp_id, who, reason = command.hyp_id, command.who or default_who(), command.reason
    if not reason.strip():
        raise GateError("a rejection needs a reason (it goes to the planner's do-not-repeat list)")
    with lab.locked():
        gate.check_reject(lab.state, hyp_id)
        event = lab.append_signed(K.DECISION_REJECTED, who, {"hyp_id": hyp_id, "who": who, "reason": reason})
    lab.cleanup_worktree(hyp_id)
    return event


def merge(lab: Lab, command: Merge) -> Event:
    hyp_id, who = command.hyp_id, command.who or default_who()
    with lab.locked():
        h = gate.hypothesis(lab.state, hyp_id)
        head = lab.repo.branch_head(h.branch) if h.branch else None
        main_head = lab.repo.head_sha()
        try:
            h = gate.check_merge(lab.state, hyp_id, head, main_head, command.confirm_rules_change)
        except GateError as exc:
            lab.append(K.MERGE_REFUSED, f"human:{who}", {"hyp_id": hyp_id, "reason": str(exc)})
            raise
        if gate.is_stale(h, main_head):
            how = (
                "re-measuring on the new main now"
                if lab.orchestrator is not None
                else f"re-measure it on the new main with `labconsole review remeasure {hyp_id}`"
            )
            reason = (
                f"main moved since {hyp_id} was measured (measured on {str(h.base_sha)[:12]}, main is now "
                f"{main_head[:12]}): {how}, then approve again"
            )
            lab.append(K.MERGE_REFUSED, f"human:{who}", {"hyp_id": hyp_id, "reason": reason})
            if lab.orchestrator is not None:
                lab.orchestrator.remeasure(hyp_id)
            raise GateError(reason)
        try:  # the chain proves order, not authorship: the approval must carry a trusted person's signature
            lab.check_approval_signature(hyp_id)
        except GateError as exc:
            lab.append(K.MERGE_REFUSED, f"human:{who}", {"hyp_id": hyp_id, "reason": str(exc)})
            raise
        approval = h.approval
        assert approval is not None and approval.sha is not None
        merge_sha = lab.repo.merge(
            hyp_id,
            approval.sha,
            f"Merge {hyp_id}: {h.title}\n\nApproved by {approval.who}; evidence {approval.evidence_hash}",
        )
        merged: dict[str, Any] = {
            "hyp_id": hyp_id,
            "sha": approval.sha,
            "merge_sha": merge_sha,
            "into": lab.repo.main_branch,
            "evidence_hash": approval.evidence_hash,
        }
        change = gate.rules_change(h)
        if change:
            merged["rules_change"] = change  # confirmed by the person: the next session starts under it
        event = lab.append_signed(K.MERGE_COMPLETED, who, merged)
    lab.cleanup_worktree(hyp_id)
    return event


def remeasure(lab: Lab, command: Remeasure) -> None:
    hyp_id = command.hyp_id
    gate.check_remeasure(lab.state, hyp_id)
    if lab.orchestrator is not None:
        lab.orchestrator.remeasure(hyp_id)
        return
    from labconsole.lab.orchestrator import Orchestrator

    orchestrator = Orchestrator(lab)  # measurement only: no agents are started
    try:
        orchestrator.remeasure(hyp_id)
        orchestrator.wait_measurements()
        orchestrator.review_with_rules(hyp_id)
    finally:
        orchestrator.stop()


def _orchestrator(lab: Lab) -> Orchestrator:
    """The orchestrator running this console's agents: commands to agents need one."""
    if lab.orchestrator is None:
        raise LabError("agents are not running in this console")
    return lab.orchestrator


def agent_control(lab: Lab, command: AgentControl) -> None:
    who = command.who or default_who()
    if command.action not in ("pause", "resume", "stop", "restart"):
        raise LabError(f"unknown agent action {command.action!r}; allowed: pause, resume, stop, restart")
    orchestrator = _orchestrator(lab)
    lab.append(K.AGENT_CONTROL, f"human:{who}", {"agent_id": command.agent_id, "action": command.action})
    orchestrator.control(command.agent_id, command.action)


def send_message(lab: Lab, command: SendMessage) -> None:
    orchestrator, who = _orchestrator(lab), command.who or default_who()
    lab.append(K.AGENT_MESSAGE, f"human:{who}", {"agent_id": command.agent_id, "text": command.text})
    orchestrator.message(command.agent_id, command.text)


def resume_after_budget(lab: Lab, command: ResumeAfterBudget) -> None:
    orchestrator, who = _orchestrator(lab), command.who or default_who()
    lab.append_signed(K.BUDGET_RESUMED, who, {"who": who})
    orchestrator.resume_all()


def propose_external(lab: Lab, command: ProposeExternal) -> list[str]:
    hypotheses, actor, evidence_blobs = command.hypotheses, command.actor, command.evidence_blobs
    ids: list[str] = []
    with lab.locked():  # ids are numbered from the state: no other append may take one in between
        for i, item in enumerate(hypotheses):
            hyp_id = next_hyp_id(lab.state)
            # Keys are indexes into ``hypotheses`` (strings when they came through the control channel).
            evidence = (evidence_blobs or {}).get(i, (evidence_blobs or {}).get(str(i)))
            blob = lab.put_blob(evidence) if evidence is not None else None
            lab.append(
                K.HYP_PROPOSED,
                actor,
                {
                    "hyp_id": hyp_id,
                    "title": item["title"],
                    "params": item.get("params", {}),
                    "rationale": item.get("rationale", ""),
                    "source": item.get("source", actor),
                    "priority": item.get("priority"),
                    "proposer": actor,
                    "evidence_blob": blob,
                    "evidence": item.get("evidence"),
                },
            )
            ids.append(hyp_id)
    return ids
