"""What every model-driven backend (SDK loop or agent CLI) does the same way around a task.

:class:`RoleBackend` loads the role spec, picks the model, reads prices and skills, and runs
each task behind one redacting wrapper; :meth:`RoleBackend.begin` sets a task up (kind check,
workspace, result collector, usage meter). Subclasses implement only ``run_task``.
"""

from __future__ import annotations

import hashlib
import sys
import traceback
from pathlib import Path
from typing import Any

from labconsole.agents.backends.base import AgentContext, Task
from labconsole.agents.backends.failures import describe
from labconsole.agents.backends.meter import UsageMeter
from labconsole.agents.backends.outcomes import Outcome, check_task_kind, workspace_for
from labconsole.agents.backends.pricing import PriceTable
from labconsole.agents.emitter import Emitter
from labconsole.agents.redact import RedactingEmitter, Redactor
from labconsole.agents.roles import load_role, skills_prompt
from labconsole.errors import AgentFailure, ConfigError


# Options by which the console hands a worker the session's instructions ([lab] instructions, read at the
# baseline commit and stored as a session blob; labconsole/lab/instructions.py sets them).
INSTRUCTIONS_FILE = "instructions_file"
INSTRUCTIONS_SHA256 = "instructions_sha256"
INSTRUCTIONS_PATH = "instructions_path"


class BackendError(AgentFailure):
    """A task failed; the line (what, for whom, what to do) is already redacted."""


class RoleBackend:
    default_model = ""
    backend = ""  # the registry name, for messages and the readiness check
    endpoint = ""  # where the model is (messages name it)
    read_timeout_s: float | None = None
    key_env = ""

    def __init__(self, ctx: AgentContext) -> None:
        self.ctx = ctx
        self.spec = load_role(ctx.role, ctx.lab_root)
        self.model = ctx.model or self.spec.model or self.default_model
        try:
            self.prices = PriceTable(ctx.options.get("prices"))
        except ValueError as exc:
            raise ConfigError(f"role {ctx.role}: option prices: {exc}") from None
        self.redactor = Redactor(extra_secrets=self.secrets())
        self.skills, self.missing_skills = skills_prompt(self.spec, ctx.lab_root)
        self.instructions = instructions_prompt(ctx.role, ctx.options)

    def secrets(self) -> list[str]:
        """Values to mask beyond the well-known key formats (an API key, a CLI's extra env)."""
        return []

    def handle(self, task: Task, emit: Emitter) -> None:
        emit = RedactingEmitter(emit, self.redactor)
        try:
            self.run_task(task, emit)
        except Exception as exc:
            raise self.failure(exc) from None

    def failure(self, exc: BaseException) -> BackendError:
        """``exc`` as the one line a person sees; its traceback goes to the agent's log (stderr),
        redacted, because an SDK error may echo a header."""
        if not isinstance(exc, AgentFailure):
            sys.stderr.write(self.redactor.text("".join(traceback.format_exception(exc))))
            sys.stderr.flush()
        said = describe(
            exc,
            role=self.ctx.role,
            agent=self.ctx.agent_id,
            backend=self.backend,
            endpoint=self.endpoint,
            read_timeout_s=self.read_timeout_s,
            key_env=self.key_env,
        )
        return BackendError(
            self.redactor.text(said.what),
            role=said.role,
            agent=said.agent,
            fix=self.redactor.text(said.fix),
            infra=said.infra,
        )

    def run_task(self, task: Task, emit: Emitter) -> None:
        raise NotImplementedError

    def begin(self, task: Task, emit: Emitter) -> tuple[Outcome, UsageMeter]:
        """The task's result collector and usage meter, once the task is known to fit the role."""
        if self.missing_skills:
            emit.log(f"skills not found, running without them: {', '.join(self.missing_skills)}", level="warning")
        check_task_kind(self.ctx.role, task)
        outcome = Outcome(self.ctx.role, task, emit, workspace_for(self.ctx.role, task, self.ctx))
        return outcome, UsageMeter(self.model, self.prices, emit)


def instructions_prompt(role: str, options: dict[str, Any]) -> str:
    """The person's instructions as a prompt section ("" when the console handed none). The blob is read once,
    here, and must still hash to what the session recorded: what the agent follows is what replay shows."""
    file = options.get(INSTRUCTIONS_FILE)
    if not file:
        return ""
    name = str(options.get(INSTRUCTIONS_PATH) or "the lab's instructions")
    try:
        data = Path(str(file)).read_bytes()
    except OSError as exc:
        raise ConfigError(f"role {role}: instructions {name} could not be read ({exc.strerror or exc})") from None
    if hashlib.sha256(data).hexdigest() != options.get(INSTRUCTIONS_SHA256):
        raise ConfigError(f"role {role}: instructions {name} differ from what the session recorded: refused")
    return (
        f"## The person's instructions ({name})\n\n"
        f"The person who runs this lab wrote these (from {name} at the session's baseline commit). Follow them on "
        "what to change and how. The console, not you, runs and measures the objective, keeps the records and "
        "commits: where they say to run the training, log results or loop, skip that and finish your task.\n\n"
        f"{data.decode('utf-8', 'replace').strip()}\n"
    )
