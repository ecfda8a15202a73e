"""The tool-use loop shared by the SDK backends (Anthropic Messages, OpenAI Chat).

A provider adapter (:class:`ChatSession`) owns its native message history and makes one
model call per :meth:`ChatSession.step`; this module owns everything else — task setup,
tools, usage, pause/stop, nudging a model that forgot its result, and the final checks.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from labconsole.agents.backends.base import AgentContext, Task
from labconsole.agents.backends.failures import TurnTimeout
from labconsole.agents.backends.meter import UsageMeter
from labconsole.agents.backends.outcomes import Outcome, task_prompt
from labconsole.agents.backends.pricing import TurnUsage
from labconsole.agents.backends.ready import check_backend_ready
from labconsole.agents.backends.role_backend import BackendError, RoleBackend
from labconsole.agents.backends.tools import ToolBox, ToolResult, ToolSpec
from labconsole.agents.emitter import Emitter
from labconsole.agents.roles import RoleSpec
from labconsole.agents.sandbox import CommandSandbox, PathPolicy
from labconsole.errors import AgentFailure

__all__ = ["BackendError", "ChatSession", "LoopBackend", "ModelTurn", "ToolCall", "run_loop"]

DEFAULT_MAX_TURNS = 30
# Timeouts that fit agents (each configurable per role in lab.toml [agents]): a server that does not
# accept a connection in 10 s is down; 120 s without a byte inside one response is a hang; one model
# call (turn) gets 10 minutes in all, however slowly it trickles.
DEFAULT_CONNECT_TIMEOUT_S = 10.0
DEFAULT_READ_TIMEOUT_S = 120.0
DEFAULT_TURN_TIMEOUT_S = 600.0


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


def system_prompt(spec: RoleSpec, outcome: Outcome, skills: str = "", instructions: str = "") -> str:
    ws = outcome.workspace
    access = (
        "You may write files inside it, except protected ones."
        if ws.writable
        else "You are read-only" + (f", except the file {ws.write_files[0]}." if ws.write_files else ".")
    )
    text = (
        f"{spec.prompt}\n## Environment\n\nYour workspace is {ws.root}. All paths are relative to it. {access} "
        "Commands run sandboxed in the workspace without network access.\n"
    )
    text = f"{text}\n{skills}\n" if skills else text
    return f"{text}\n{instructions}" if instructions else text


def timed_step(session: ChatSession, ctx: AgentContext, turn_timeout_s: float) -> ModelTurn:
    """``session.step()`` within the turn deadline. The SDK call runs on its own thread because
    nothing else bounds a stream that trickles: on timeout that thread is abandoned (its read
    timeout ends it) and the task fails with "timed out after N s"."""
    box: dict[str, Any] = {}

    def call() -> None:
        try:
            box["turn"] = session.step()
        except BaseException as exc:  # noqa: BLE001 - re-raised on the task's thread below
            box["error"] = exc

    thread = threading.Thread(target=call, name="model-call", daemon=True)
    with ctx.liveness.model_call():
        thread.start()
        thread.join(turn_timeout_s)
    if thread.is_alive():
        raise TurnTimeout(turn_timeout_s)
    if "error" in box:
        raise box["error"]
    return box["turn"]


def run_loop(
    session: ChatSession,
    tools: ToolBox,
    meter: UsageMeter,
    ctx: AgentContext,
    emit: Emitter,
    max_turns: int,
    turn_timeout_s: float = DEFAULT_TURN_TIMEOUT_S,
) -> tuple[int, str]:
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
        turn = timed_step(session, ctx, turn_timeout_s)
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


class LoopBackend(RoleBackend):
    """Base of the SDK backends: subclasses name their provider and client class and supply
    ``make_session``; the client's endpoint, key, retries and timeout are read here, once."""

    # ``backend`` (``RoleBackend``) names the provider: its SDK's module, and the prefix of the variables
    # its SDK reads (``<BACKEND>_API_KEY``, ``<BACKEND>_BASE_URL``).
    client_class = ""  # the SDK's client (``anthropic.Anthropic``)
    missing_key: str | None = None  # the key passed when none is set (an SDK that refuses None gets a placeholder)

    @property
    def api_key_env(self) -> str:
        """Where the key is unless the ``api_key_env`` option says otherwise."""
        return f"{self.backend.upper()}_API_KEY"

    @property
    def base_url_env(self) -> str:
        """Where the endpoint is unless the ``base_url`` option says otherwise."""
        return f"{self.backend.upper()}_BASE_URL"

    def __init__(self, ctx: AgentContext) -> None:
        super().__init__(ctx)
        self.max_turns = int(ctx.options.get("max_turns") or self.spec.max_turns or DEFAULT_MAX_TURNS)
        check_backend_ready(ctx.role, self.backend, ctx.options)
        o = ctx.options
        base_url = env_or_option(ctx, "base_url", self.base_url_env)
        self.endpoint = base_url or ""
        self.key_env = str(o.get("api_key_env") or self.api_key_env)
        self.read_timeout_s = float(o.get("read_timeout_s") or DEFAULT_READ_TIMEOUT_S)
        # timeout_s is the older name of the turn deadline.
        self.turn_timeout_s = float(o.get("turn_timeout_s") or o.get("timeout_s") or DEFAULT_TURN_TIMEOUT_S)
        self.connect_timeout_s = float(o.get("connect_timeout_s") or DEFAULT_CONNECT_TIMEOUT_S)
        self.client = self.make_client(
            base_url=base_url, max_retries=int(o.get("max_retries", 2)), timeout=self.sdk_timeout()
        )

    def api_key(self) -> str | None:
        return os.environ.get(str(self.ctx.options.get("api_key_env") or self.api_key_env))

    def secrets(self) -> list[str]:
        return [s for s in (self.api_key(),) if s]

    def sdk_module(self) -> Any:
        """The provider's SDK, imported lazily: a lab without this backend never imports it."""
        return importlib.import_module(self.backend)

    def make_client(self, base_url: str | None, max_retries: int, timeout: Any) -> Any:
        client = getattr(self.sdk_module(), self.client_class)
        return client(
            api_key=self.api_key() or self.missing_key, base_url=base_url, max_retries=max_retries, timeout=timeout
        )

    def sdk_timeout(self) -> Any:
        """The SDK's own ``Timeout`` (each SDK vendors its HTTP client): ``read`` bounds every silence
        inside a response, ``connect`` a server that is not there."""
        return self.sdk_module().Timeout(self.read_timeout_s, connect=self.connect_timeout_s)

    def make_session(self, system: str, user: str, tools: list[ToolSpec]) -> ChatSession:
        raise NotImplementedError

    def run_task(self, task: Task, emit: Emitter) -> None:
        outcome, meter = self.begin(task, emit)
        workspace = outcome.workspace
        sandbox = CommandSandbox(workspace, use_bwrap=self.ctx.options.get("bwrap", True) is not False)
        tools = ToolBox(self.spec.tools, PathPolicy(workspace), sandbox, outcome, emit, on_result=meter.tool_result)
        session = self.make_session(
            system_prompt(self.spec, outcome, self.skills, self.instructions),
            task_prompt(self.ctx.role, task, json_block=False),
            tools.specs,
        )
        turns, _ = run_loop(session, tools, meter, self.ctx, emit, self.max_turns, self.turn_timeout_s)
        missing = outcome.missing()
        if missing:
            raise AgentFailure(
                f"finished after {turns} turns without a result: {missing}",
                role=self.ctx.role,
                agent=self.ctx.agent_id,
                fix="see the agent's log for what the model did instead",
            )


def env_or_option(ctx: AgentContext, option: str, env: str) -> str | None:
    """A lab option (``[agents] role = { options = { … } }``) wins over the environment."""
    value = ctx.options.get(option)
    return str(value) if value else os.environ.get(env) or None
