"""Recovery after a crash: make the log whole again after the previous console died (runs it left running,
agents it left alive), then pick the work back up (commits made while nobody watched are measured)."""

from __future__ import annotations

from labconsole.events import kinds as K
from labconsole.lab import state as S
from labconsole.lab.orchestrator.measurement import Measurements
from labconsole.lab.orchestrator.port import LabPort


def recover(lab: LabPort, measurements: Measurements) -> None:
    for run_id in measurements.executor.clean_up_after_crash():
        lab.append(K.NOTE, "console", {"text": f"ended run {run_id}, left running by the previous console"})
    st = lab.state
    for run in list(st.runs.values()):
        if run.status == "running":
            lab.append(
                K.RUN_FINISHED,
                "console",
                {
                    "run_id": run.run_id,
                    "hyp_id": run.hyp_id,
                    "status": "crashed",
                    "metric": None,
                    "returncode": None,
                    "duration_s": None,
                    "log_blob": None,
                    "error": "the console stopped during this run; it was not finished",
                },
            )
    for agent in list(st.agents.values()):
        if agent.state not in ("stopped", "crashed", "hung"):
            lab.append(
                K.AGENT_EXITED,
                "console",
                {
                    "agent_id": agent.agent_id,
                    "role": agent.role,
                    "reason": "killed",
                    "returncode": None,
                    "detail": "the console stopped",
                },
            )
    for h in sorted(st.hypotheses.values(), key=lambda h: h.hyp_id):
        if h.status in (S.CLAIMED, S.IMPLEMENTING):
            head = lab.repo.branch_head(h.branch) if h.branch else None
            if head and h.base_sha and head != h.base_sha:
                measurements.record_commit(h, "recovered after a console restart")
            else:
                # Back to the queue; the worktree (if any) is reused by the next claim.
                lab.append(K.HYP_QUEUED, "console", {"hyp_id": h.hyp_id, "priority": h.priority})
        elif h.status == S.MEASURING and h.sha:
            measurements.start(h.hyp_id)
    with lab.locked():  # a best left awaiting its confirmation re-measure when the console stopped
        measurements.confirm_next()
