"""The person's commands as methods: one definition shared by the Lab service and the remote view.

Each method only builds its command (labconsole/lab/commands.py); where it goes is the subclass's
``_decide`` (approve, reject, merge: the result is the decision's event or its wire reply) and
``_order`` (everything else, no result). The Lab carries commands out itself; a remote view sends them
over the control channel to the console that holds the session.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from labconsole.lab.commands import (
    AgentControl,
    Approve,
    Command,
    Merge,
    Reject,
    Remeasure,
    ResumeAfterBudget,
    SendMessage,
)

Decided = TypeVar("Decided")


class CommandMethods(Generic[Decided]):
    def _decide(self, command: Approve | Reject | Merge) -> Decided:
        raise NotImplementedError

    def _order(self, command: Command) -> None:
        raise NotImplementedError

    def approve(
        self,
        hyp_id: str,
        who: str | None = None,
        reason: str = "",
        *,
        confirm_flags: bool = True,
        overrides: list[str] | None = None,
    ) -> Decided:
        """Approve the measured commit. With flags from the reviewer, ``confirm_flags`` must be True; flagged
        changes need each flag in ``overrides`` and a ``reason`` (see :func:`gate.check_overrides`)."""
        return self._decide(Approve(hyp_id, who, reason, confirm_flags, list(overrides or [])))

    def reject(self, hyp_id: str, who: str | None = None, reason: str = "") -> Decided:
        return self._decide(Reject(hyp_id, who, reason))

    def merge(self, hyp_id: str, who: str | None = None, *, confirm_rules_change: bool = False) -> Decided:
        """Merge an approved candidate into main, only if its branch still holds the approved commit
        and main has not moved since it was measured (else it is re-measured first). A candidate that
        changes the lab's rules merges only with ``confirm_rules_change``."""
        return self._decide(Merge(hyp_id, who, confirm_rules_change))

    def remeasure(self, hyp_id: str) -> None:
        """Measure a candidate again on the current main. Without running agents, it is done here and now
        (and reviewed by the rules reviewer); with them, in the background."""
        self._order(Remeasure(hyp_id))

    def agent_control(self, agent_id: str, action: str, who: str | None = None) -> None:
        self._order(AgentControl(agent_id, action, who))

    def send_message(self, agent_id: str, text: str, who: str | None = None) -> None:
        self._order(SendMessage(agent_id, text, who))

    def resume_after_budget(self, who: str | None = None) -> None:
        """The person saw the budget stop and lets the agents go on."""
        self._order(ResumeAfterBudget(who))
