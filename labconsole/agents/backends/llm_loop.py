"""The tool-use loop shared by the SDK backends (Anthropic Messages, OpenAI Chat).

A provider adapter (:class:`ChatSession`) owns its native message history and makes one
model call per :meth:`ChatSession.step`; this module owns everything else — task setup,
tools, usage, pause/stop, nudging a model that forgot its result, and the final checks.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from labconsole.agents.backends.base import AgentContext, Task
from labconsole.agents.backends.meter import UsageMeter
from labconsole.agents.backends.outcomes import Outcome, check_task_kind, task_prompt, workspace_for
from labconsole.agents.backends.pricing import PriceTable, TurnUsage
from labconsole.agents.backends.tools import ToolBox, ToolResult, ToolSpec
from labconsole.agents.emitter import Emitter
from labconsole.agents.redact import RedactingEmitter, Redactor
from labconsole.agents.roles import RoleSpec, load_role, skills_prompt
from labconsole.agents.sandbox import CommandSandbox, PathPolicy
from labconsole.errors import ConfigError

DEFAULT_MAX_TURNS = 30


class BackendError(RuntimeError):
    """A task failed; the message is already redacted."""


@dataclass
class ToolCall:
    id: str
    name: str
    input: dict[str, Any]


@dataclass
class ModelTurn:
    text: str
    tool_calls: list[ToolCall]
    usage: TurnUsage
    model: str = ""
    stop_reason: str = ""


class ChatSession(Protocol):
    """One conversation with a model, in the provider's own message format."""

    def step(self) -> ModelTurn: ...

    def add_tool_results(self, results: list[ToolResult]) -> None: ...

    def add_user(self, text: str) -> None: ...


SessionFactory = Callable[[str, str, list[ToolSpec]], ChatSession]  # (system, first user msg, tools)


def system_prompt(spec: RoleSpec, outcome: Outcome, skills: str = "") -> str:
    ws = outcome.workspace
    access = ("You may write files inside it, except protected ones." if ws.writable
              else "You are read-only" + (f", except the file {ws.write_files[0]}." if ws.write_files else "."))
    text = (f"{spec.prompt}\n## Environment\n\nYour workspace is {ws.root}. All paths are relative to it. {access} "
            "Commands run sandboxed in the workspace without network access.\n")
    return f"{text}\n{skills}\n" if skills else text


def run_loop(session: ChatSession, tools: ToolBox, meter: UsageMeter, ctx: AgentContext,
             emit: Emitter, max_turns: int) -> tuple[int, str]:
    """Call the model until it stops asking for tools (or max_turns). Returns (turns, last text)."""
    nudged = False
    final_text = ""
    for turn_no in range(1, max_turns + 1):
        ctx.wait_if_paused()
        if ctx.stopping.is_set():
            emit.log("stopping: shutdown requested", level="warning")
            break
        while ctx.inbox:  # the person's messages reach the model at the next turn
            session.add_user(f"Message from the person at the console: {ctx.inbox.pop(0)}")
        turn = session.step()
        if turn.text.strip():
            final_text = turn.text
            emit.log(turn.text.strip()[:4000])
        results = [tools.call(c.id, c.name, c.input) for c in turn.tool_calls]
        meter.turn(turn.usage, model=turn.model or None)
        if results:
            session.add_tool_results(results)
            continue
        missing = tools.outcome.missing()
        if missing and not nudged:  # one reminder, then give up (counted as a repair attempt)
            nudged = True
            meter.repairs.attempts += 1
            emit.log(f"reminding the model: {missing}", level="warning")
            session.add_user(missing)
            continue
        return turn_no, final_text
    return max_turns, final_text


class LoopBackend:
    """Base of the SDK backends: subclasses supply ``make_session`` and ``default_model``."""

    default_model = ""
    provider = ""

    def __init__(self, ctx: AgentContext) -> None:
        self.ctx = ctx
        self.spec = load_role(ctx.role, ctx.lab_root)
        self.model = ctx.model or self.spec.model or self.default_model
        try:
            self.prices = PriceTable(ctx.options.get("prices"))
        except ValueError as exc:
            raise ConfigError(f"role {ctx.role}: option prices: {exc}") from None
        self.redactor = Redactor(extra_secrets=[s for s in (self.api_key(),) if s])
        self.max_turns = int(ctx.options.get("max_turns") or self.spec.max_turns or DEFAULT_MAX_TURNS)
        self.skills, self.missing_skills = skills_prompt(self.spec, ctx.lab_root)

    def api_key(self) -> str | None:
        return None

    def make_session(self, system: str, user: str, tools: list[ToolSpec]) -> ChatSession:
        raise NotImplementedError

    def handle(self, task: Task, emit: Emitter) -> None:
        emit = RedactingEmitter(emit, self.redactor)
        try:
            self._handle(task, emit)
        except Exception as exc:
            # The runner logs the message and traceback: redact first (an SDK error may echo a header).
            raise BackendError(self.redactor.text(f"{type(exc).__name__}: {exc}")) from None

    def _handle(self, task: Task, emit: Emitter) -> None:
        check_task_kind(self.ctx.role, task)
        workspace = workspace_for(self.ctx.role, task, self.ctx)
        outcome = Outcome(self.ctx.role, task, emit, workspace)
        meter = UsageMeter(self.model, self.prices, emit)
        sandbox = CommandSandbox(workspace, use_bwrap=self.ctx.options.get("bwrap", True) is not False)
        tools = ToolBox(self.spec.tools, PathPolicy(workspace), sandbox, outcome, emit, on_result=meter.tool_result)
        if self.missing_skills:
            emit.log(f"skills not found, running without them: {', '.join(self.missing_skills)}", level="warning")
        session = self.make_session(system_prompt(self.spec, outcome, self.skills),
                                    task_prompt(self.ctx.role, task, json_block=False), tools.specs)
        turns, _ = run_loop(session, tools, meter, self.ctx, emit, self.max_turns)
        missing = outcome.missing()
        if missing:
            raise RuntimeError(f"{self.ctx.role} finished after {turns} turns without a result: {missing}")



def env_or_option(ctx: AgentContext, option: str, env: str) -> str | None:
    """A lab option (``[agents] role = { options = { … } }``) wins over the environment."""
    value = ctx.options.get(option)
    return str(value) if value else os.environ.get(env) or None
