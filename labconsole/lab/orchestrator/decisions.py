"""From measured evidence to the person: reviewer verdicts (an agent's, or the rules' when no reviewer runs)
move a hypothesis to awaiting-human; budget signals are logged once and pause the roles they cover.
Nothing here approves or merges: that stays with the person (lab/service.py)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any
from collections.abc import Callable

from labconsole.events import kinds as K
from labconsole.lab import state as S
from labconsole.lab.orchestrator.agents import AgentPool
from labconsole.lab.orchestrator.port import LabPort
from labconsole.lab.state import HypothesisState


class GateFlow:
    def __init__(
        self, lab: LabPort, agents: AgentPool, evidence_of: Callable[[HypothesisState], dict[str, Any]]
    ) -> None:
        self.lab = lab
        self.agents = agents
        self._evidence_of = evidence_of

    # --- verdicts ---------------------------------------------------------------------------------

    def on_verdict(self, aid: str, actor: str, role: str, d: dict[str, Any]) -> None:
        hyp_id = d.get("hypothesis")
        h = self.lab.state.hypotheses.get(hyp_id or "")
        if role != "reviewer" or h is None or h.status != S.AUTO_REVIEWED:
            return
        self.record_verdict(h.hyp_id, actor, aid, d.get("verdict", "flag"), d.get("reasons", []))

    def record_verdict(self, hyp_id: str, actor: str, reviewer: str, verdict: str, reasons: list[str]) -> None:
        """The reviewer's opinion goes into the log; the decision goes to the person."""
        self.lab.append(
            K.REVIEW_VERDICT, actor, {"hyp_id": hyp_id, "reviewer": reviewer, "verdict": verdict, "reasons": reasons}
        )
        self.lab.append(K.HYP_AWAITING, "console", {"hyp_id": hyp_id})

    def review_with_rules(self, hyp_id: str) -> None:
        """The offline reviewer's verdict, given here when no reviewer agent is running."""
        from labconsole.agents.backends.rules import review

        h = self.lab.state.hypotheses[hyp_id]
        if h.status != S.AUTO_REVIEWED:
            return
        verdict, reasons = review(self._evidence_of(h))
        self.record_verdict(hyp_id, "console", "rules", verdict, reasons)

    # --- the session report -----------------------------------------------------------------------

    def on_report(self, aid: str, actor: str, d: dict[str, Any]) -> None:
        path = Path(str(d.get("path", "")))
        if path.exists():
            self.lab.append(
                K.REPORT_WRITTEN, actor, {"path": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
            )
        else:
            self.lab.append(
                K.AGENT_ERROR, actor, {"agent_id": aid, "message": f"reported {path}, which does not exist"}
            )

    def report_by_console(self) -> None:
        """No reporter is running: the console renders the same report from the log."""
        from labconsole.lab.report import write_report

        path = write_report(self.lab.session_dir, self.lab.session_dir / "report.md")
        self.on_report("console", "console", {"path": str(path)})

    # --- budget -----------------------------------------------------------------------------------

    def check_budget(self) -> None:
        """Log each budget signal once; pause the agents an exhausted budget covers (DESIGN §3)."""
        from labconsole.agents.budget import check, new_signals, roles_to_pause

        budget = self.lab.state.budget
        signals = check(budget.limits_for_check(), budget.used_for_check())
        fresh = new_signals(signals, set(budget.signalled))
        for signal in fresh:
            self.lab.append(signal.event_kind, "console", signal.event_data())
        roles = roles_to_pause(fresh, self.agents.roles())
        if roles:
            self.agents.pause_roles(roles)
