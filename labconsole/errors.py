"""User-facing errors: one clear line naming what to fix."""

from __future__ import annotations


class LabError(Exception):
    """An error the CLI prints as one line (``labconsole: <message>``) and exits non-zero."""

    exit_code = 2


class ConfigError(LabError):
    """A malformed ``lab.toml`` (or other config): the message names file, field and what is allowed."""


class GitStateError(LabError):
    """The lab repository is in a state we refuse to work from (dirty, detached, no git)."""


class SessionLockedError(LabError):
    """Another console already writes this session."""


class GateError(LabError):
    """A decision or merge the gate refuses (no approval, branch moved, …)."""


class AgentFailure(LabError):
    """A task an agent could not finish, said once: what failed, for which role/agent, what to do.

    Every agent failure that reaches a person goes through :meth:`line`, so the TUI, the headless
    run and the eval table all show the same sentence (never a traceback, never a doubled prefix).
    """

    exit_code = 1

    def __init__(self, what: str, *, role: str = "", agent: str = "", fix: str = "", infra: bool = False) -> None:
        # infra: the machinery failed (model server, key, CLI), not the agent's work; evals count it apart.
        self.what, self.role, self.agent, self.fix, self.infra = what, role, agent, fix, infra
        super().__init__(self.line())

    def line(self) -> str:
        who = f"{self.role} agent {self.agent}" if self.agent else (f"{self.role} agent" if self.role else "agent")
        return f"{who}: {self.what}" + (f" — {self.fix}" if self.fix else "")


class InfraError(LabError):
    """The machinery around a measurement failed (missing key, server down, CLI not installed),
    not the thing measured: evals report it as ``error`` and never as the skill failing."""
