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
