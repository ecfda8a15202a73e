"""One line for every way a backend fails: what failed and what to do.

The SDKs and CLIs fail in their own words (``APITimeoutError``, ``exit code 143``,
``JSONDecodeError`` with a traceback); :func:`describe` turns each into the sentence a person can act
on. SDK exceptions are recognised by class name so this module imports no SDK.
"""

from __future__ import annotations

import json
import signal
from dataclasses import dataclass

from labconsole.errors import AgentFailure, LabError


@dataclass(frozen=True)
class Said:
    """The ``what`` and ``fix`` halves of an :class:`AgentFailure` line."""

    what: str
    fix: str = ""
    infra: bool = True  # the model server or its transport, not the agent's work


class TurnTimeout(Exception):
    """One model call (a turn) ran past its deadline."""

    def __init__(self, seconds: float, what: str = "model call") -> None:
        self.seconds = seconds
        super().__init__(f"{what} timed out after {seconds:.0f} s")


def signal_name(returncode: int | None) -> str:
    """``-15`` or ``143`` (the shell's 128+n) → ``SIGTERM``; '' when the code is no signal."""
    if returncode is None:
        return ""
    n = -returncode if returncode < 0 else returncode - 128 if 128 < returncode < 128 + 65 else 0
    try:
        return signal.Signals(n).name if n else ""
    except ValueError:
        return f"signal {n}"


def exit_text(returncode: int | None) -> str:
    """``exit code 2``, or ``killed by SIGKILL`` — never a bare 137."""
    name = signal_name(returncode)
    return f"killed by {name} (exit code {returncode})" if name else f"exit code {returncode}"


def _status(exc: BaseException) -> int | None:
    code = getattr(exc, "status_code", None)
    return code if isinstance(code, int) else None


def _message(exc: BaseException) -> str:
    # The SDKs put the server's own sentence in ``body.error.message``; fall back to str().
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return err["message"]
        if isinstance(body.get("message"), str):
            return body["message"]
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def explain(exc: BaseException, *, endpoint: str = "", read_timeout_s: float | None = None, key_env: str = "") -> Said:
    """What ``exc`` means for the person, and what to do about it."""
    name = type(exc).__name__
    where = f" at {endpoint}" if endpoint else ""
    if isinstance(exc, TurnTimeout):
        return Said(
            str(exc),
            "the model server is too slow or stuck; raise turn_timeout_s for this role "
            "in lab.toml [agents] if the task needs longer turns",
        )
    if name in ("APITimeoutError", "ReadTimeout", "TimeoutException", "ConnectTimeout") or isinstance(
        exc, TimeoutError
    ):
        after = f" after {read_timeout_s:.0f} s" if read_timeout_s else ""
        return Said(
            f"the model server{where} did not answer: timed out{after}",
            "check that the server is up and not overloaded, or raise read_timeout_s for this role",
        )
    status = _status(exc)
    if status == 429 or name == "RateLimitError":
        return Said(
            f"the model server{where} is rate-limiting us (HTTP 429: {_message(exc)})",
            "wait, lower the number of agents, or raise max_retries",
        )
    if status in (401, 403) or name in ("AuthenticationError", "PermissionDeniedError"):
        return Said(
            f"the model server{where} refused our credentials (HTTP {status}: {_message(exc)})",
            f"check {key_env or 'the API key'} for this role",
        )
    if status is not None and status >= 500:
        return Said(
            f"the model server{where} failed (HTTP {status}: {_message(exc)})",
            "retry later; if it persists, check the server's own log",
        )
    if status is not None:
        return Said(
            f"the model server{where} rejected the request (HTTP {status}: {_message(exc)})",
            "check the model name and options for this role",
        )
    if name in ("APIConnectionError", "ConnectError", "RemoteProtocolError") or isinstance(exc, ConnectionError):
        cause = exc.__cause__ or exc.__context__
        cause_name = type(cause).__name__ if cause is not None else name
        if cause_name in ("ConnectError", "ConnectTimeout", "ConnectionRefusedError", "ConnectionError"):
            return Said(
                f"cannot reach the model server{where} ({cause_name})",
                "check that the server is running and base_url is right",
            )
        return Said(
            f"the model server{where} closed the connection mid-reply ({cause_name})",
            "retry; if it persists, check the server's own log",
        )
    if isinstance(exc, (json.JSONDecodeError, UnicodeDecodeError)) or name == "APIResponseValidationError":
        return Said(
            f"the model server{where} sent a reply that is not valid JSON/UTF-8 ({name})",
            "check that base_url points at an API of this backend's kind",
        )
    if isinstance(exc, AgentFailure):
        return Said(exc.what, exc.fix, exc.infra)
    if name == "OutcomeError":  # the model's result was unusable: the agent's own failure, said as is
        return Said(str(exc), infra=False)
    if isinstance(exc, LabError):  # a config the agent cannot start with: setup, not the agent's work
        return Said(str(exc), infra=True)
    text = str(exc).strip()
    return Said(f"{name}: {text}" if text else name, infra=False)


def describe(
    exc: BaseException,
    *,
    role: str,
    agent: str = "",
    backend: str = "",
    endpoint: str = "",
    read_timeout_s: float | None = None,
    key_env: str = "",
) -> AgentFailure:
    """``exc`` as one :class:`AgentFailure` (an ``AgentFailure`` passes through unchanged, not wrapped twice)."""
    if isinstance(exc, AgentFailure):
        return exc
    said = explain(exc, endpoint=endpoint, read_timeout_s=read_timeout_s, key_env=key_env)
    what = f"{backend}: {said.what}" if backend and not said.what.startswith(backend) else said.what
    return AgentFailure(what, role=role, agent=agent, fix=said.fix, infra=said.infra)
