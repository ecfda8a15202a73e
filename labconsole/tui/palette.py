"""Command palette: actions built from the current LabState (review this, pause that, jump there)."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, cast
from collections.abc import Callable, Iterator

from textual.command import DiscoveryHit, Hit, Hits, Provider

from labconsole.lab import state as S

if TYPE_CHECKING:
    from labconsole.tui.app import LabConsoleApp

Command = tuple[str, Callable[[], object], str]


class LabCommands(Provider):
    def _commands(self) -> Iterator[Command]:
        app = cast("LabConsoleApp", self.app)
        state = app.lab_state
        yield "Overview", app.action_show_overview, "the lab at a glance"
        yield "Review queue", app.action_show_review, "candidates awaiting a decision"
        yield "Help: every key", app.action_help, "keys and keymap"
        yield "Kernel benchmarks", app.action_show_bench, "GB/s per shape from benchmarks/results"
        yield "Skill evals", app.action_show_evals, "pass rate with vs without the skill"
        yield "Profile", app.action_show_profile, "time per operator, roofline verdicts; h proposes hypotheses"
        for h in sorted(state.hypotheses.values(), key=lambda h: h.hyp_id):
            if h.status in (S.AWAITING_HUMAN, S.APPROVED):
                yield f"Review {h.hyp_id}: {h.title}", partial(app.open_review, h.hyp_id), h.status
            if app.readonly:
                continue
            if h.status == S.APPROVED:
                yield f"Merge {h.hyp_id}: {h.title}", partial(app.command_merge, h.hyp_id), "merge into main"
        for agent_id in sorted(state.agents):
            a = state.agents[agent_id]
            yield f"Open agent {agent_id}", partial(app.open_agent, agent_id), f"{a.role} · {a.state}"
            if not app.readonly:
                for action in ("pause", "resume", "stop", "restart"):
                    yield (
                        f"{action.capitalize()} agent {agent_id}",
                        partial(app.command_agent, agent_id, action),
                        f"currently {a.state}",
                    )
        if state.budget.paused and not app.readonly:
            yield "Resume agents past the budget", app.action_resume_budget, ", ".join(sorted(state.budget.exhausted))
        if app.replay is not None:
            yield "Replay: jump to start", partial(app.action_replay_jump, "start"), "first event"
            yield "Replay: jump to end", partial(app.action_replay_jump, "end"), "last event"
            yield "Replay: next decision", partial(app.action_replay_decision, 1), "approve, reject, merge, verdict"
            yield "Replay: search events", app.action_replay_search, "text in the raw log"

    async def discover(self) -> Hits:
        for name, callback, help_text in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
