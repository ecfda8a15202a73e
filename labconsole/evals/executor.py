"""How one model attempt runs: an ``AttemptExecutor`` drives an agent in the attempt's workdir.

The default, ``AgentProcessExecutor``, starts the real agent process
(``python -m labconsole.agents.runner --role worker ...``), sends it one
``implement`` task over the JSONL protocol (docs/protocol.md) and reads
``usage`` / ``tool_call`` / ``done`` / ``error`` lines back. Every line both
ways is kept as the transcript.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from labconsole.agents.backends.failures import exit_text
from labconsole.core.usage import Usage
from labconsole.errors import ConfigError
from labconsole.evals.cases import EvalCase
from labconsole.skills.format import Skill


@dataclass(frozen=True)
class ModelSpec:
    """``backend:model[@base_url]``, e.g. ``openai:gpt-4.1@http://127.0.0.1:8000/v1``."""

    backend: str
    model: str
    base_url: str | None = None

    @classmethod
    def parse(cls, text: str) -> ModelSpec:
        spec, _, url = text.strip().partition("@")
        backend, sep, model = spec.partition(":")
        if not sep or not backend or not model:
            raise ConfigError(f"model {text!r}: write backend:model[@base_url], e.g. anthropic:claude-sonnet-4-5")
        return cls(backend, model, url or None)

    @property
    def label(self) -> str:
        return f"{self.backend}:{self.model}"


@dataclass
class AttemptRequest:
    case: EvalCase
    model: ModelSpec
    with_skill: bool
    skill: Skill
    workdir: Path
    transcript: Path  # the executor writes the transcript here
    attempt_id: str
    lab_root: Path | None = None  # role spec + skills for this arm (see rolelab); None: the workdir


@dataclass
class AgentOutcome:
    ok: bool  # the agent said done (not error, crash, timeout or token limit)
    error: str = ""
    infra: bool = False  # the error is the machinery's (key, server, CLI, the agent process), not the work
    usage: Usage = field(default_factory=Usage)
    wall_s: float = 0.0
    summary: str = ""
    commits: list[str] = field(default_factory=list)


class AttemptExecutor(Protocol):
    """Runs the agent for one attempt in ``req.workdir``; the eval runner then runs the checks."""

    def run(self, req: AttemptRequest) -> AgentOutcome: ...


def task_message(req: AttemptRequest, task_id: str) -> dict:
    """The ``implement`` task for an eval attempt (the skill reaches the agent through its role spec)."""
    payload: dict = {
        "hypothesis": {"id": req.attempt_id, "title": req.case.title, "params": {}},
        "worktree": str(req.workdir),
        "branch": "main",
        "protected": list(req.case.protected),
        "edit": {},
        "instructions": req.case.prompt,
        "token_limit": req.case.max_tokens,
    }
    payload.update(req.case.payload)
    return {"type": "task", "task": task_id, "kind": "implement", "payload": payload}


class _Tally:
    """Folds protocol lines into usage numbers; repair = a failed tool call followed by another call."""

    def __init__(self) -> None:
        self.out = AgentOutcome(ok=False)
        self._pending_failure = False
        self._usage_tools = 0
        self._usage_repairs = 0

    def feed(self, msg: dict) -> None:
        kind = msg.get("type")
        o = self.out
        if kind == "usage":
            reported = Usage.from_dict(msg)
            # Tool calls and repairs are counted from tool_call lines; a usage line's own counts only
            # stand in for backends that send none (see finish).
            self._usage_tools += reported.tool_calls
            self._usage_repairs += reported.repair_attempts
            reported.tool_calls = reported.repair_attempts = 0
            o.usage += reported
        elif kind == "tool_call":
            o.usage.tool_calls += 1
            if self._pending_failure:
                o.usage.repair_attempts += 1
            self._pending_failure = not msg.get("ok", True)
        elif kind == "commit":
            o.commits.append(str(msg.get("sha", "")))

    def finish(self) -> AgentOutcome:
        # Backends may count tools in usage lines instead of sending tool_call lines.
        usage = self.out.usage
        usage.tool_calls = max(usage.tool_calls, self._usage_tools)
        usage.repair_attempts = max(usage.repair_attempts, self._usage_repairs)
        usage.cost_usd = round(usage.cost_usd, 6)
        return self.out


class AgentProcessExecutor:
    """Runs ``labconsole.agents.runner`` as a subprocess, one task, one attempt."""

    def __init__(
        self,
        agent_cmd: list[str] | None = None,
        extra_env: dict[str, str] | None = None,
        options: dict[str, object] | None = None,
        grace_s: float = 5.0,
    ) -> None:
        # agent_cmd lets tests start a runner with extra backends registered.
        self.agent_cmd = agent_cmd or [sys.executable, "-m", "labconsole.agents.runner"]
        self.extra_env = extra_env or {}
        self.options = options or {}  # backend options (--option k=json), e.g. {"bwrap": False}
        self.grace_s = grace_s

    def command(self, req: AttemptRequest) -> list[str]:
        cmd = [
            *self.agent_cmd,
            "--role",
            "worker",
            "--backend",
            req.model.backend,
            "--model",
            req.model.model,
            "--agent-id",
            f"eval-{req.attempt_id}",
            "--lab-root",
            str(req.lab_root or req.workdir),
        ]
        options = dict(self.options)
        if req.model.base_url:
            options.setdefault("base_url", req.model.base_url)
        for key, value in options.items():
            cmd += ["--option", f"{key}={json.dumps(value)}"]
        return cmd

    def _env(self, req: AttemptRequest) -> dict[str, str]:
        env = {**os.environ, **self.extra_env, "PYTHONUNBUFFERED": "1"}
        if req.model.base_url:
            # SDK clients read these; the backend may also take the base_url option.
            if req.model.backend in ("openai", "codex"):
                env["OPENAI_BASE_URL"] = req.model.base_url
                env.setdefault("OPENAI_API_KEY", "eval-local")
            if req.model.backend in ("anthropic", "claude-code"):
                env["ANTHROPIC_BASE_URL"] = req.model.base_url
                env.setdefault("ANTHROPIC_API_KEY", "eval-local")
        return env

    def run(self, req: AttemptRequest) -> AgentOutcome:
        tally = _Tally()
        t0 = time.monotonic()
        task_id = f"eval-{req.attempt_id}"
        req.transcript.parent.mkdir(parents=True, exist_ok=True)
        with (
            open(req.transcript, "w", encoding="utf-8") as log,
            open(req.transcript.with_suffix(".stderr.log"), "w", encoding="utf-8") as err,
        ):
            proc = subprocess.Popen(
                self.command(req),
                cwd=req.workdir,
                env=self._env(req),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                start_new_session=True,
            )
            lines: queue.Queue[str | None] = queue.Queue()

            def pump() -> None:
                assert proc.stdout is not None
                for line in proc.stdout:
                    lines.put(line)
                lines.put(None)

            threading.Thread(target=pump, name=f"eval-stdout-{req.attempt_id}", daemon=True).start()

            def record(direction: str, msg: dict | str) -> None:
                log.write(json.dumps({"t": round(time.monotonic() - t0, 3), "dir": direction, "msg": msg}) + "\n")
                log.flush()

            def send(msg: dict) -> None:
                record("to-agent", msg)
                try:
                    assert proc.stdin is not None
                    proc.stdin.write(json.dumps(msg) + "\n")
                    proc.stdin.flush()
                except (BrokenPipeError, OSError):
                    pass

            sent = False
            deadline = t0 + req.case.timeout_s
            finished = False
            while not finished:
                try:
                    line = lines.get(timeout=max(0.05, min(1.0, deadline - time.monotonic())))
                except queue.Empty:
                    line = ""
                if time.monotonic() > deadline:
                    tally.out.error = f"timed out after {req.case.timeout_s:g} s"
                    break
                if line is None:
                    if not tally.out.error:
                        tally.out.error = f"the agent process ended ({exit_text(proc.wait())}) before finishing"
                        tally.out.infra = True
                    break
                if not line:
                    continue
                try:
                    msg = json.loads(line)
                except json.JSONDecodeError:
                    record("from-agent-raw", line.rstrip("\n"))
                    continue
                if not isinstance(msg, dict):
                    record("from-agent-raw", line.rstrip("\n"))
                    continue
                record("from-agent", msg)
                tally.feed(msg)
                kind = msg.get("type")
                if kind == "hello" and not sent:
                    send(task_message(req, task_id))
                    sent = True
                elif kind == "done" and msg.get("task") == task_id:
                    tally.out.ok, tally.out.summary, finished = True, str(msg.get("summary") or ""), True
                elif kind == "error" and (msg.get("task") == task_id or msg.get("fatal")):
                    tally.out.error, finished = str(msg.get("message", "error")), True
                    tally.out.infra = msg.get("infra") is True or msg.get("fatal") is True
                used = tally.out.usage.tokens
                if used > req.case.max_tokens:
                    tally.out.error, finished = f"token limit: {used} > {req.case.max_tokens}", True
            send({"type": "shutdown"})
            self._stop(proc)
        out = tally.finish()
        out.wall_s = round(time.monotonic() - t0, 3)
        return out

    def _stop(self, proc: subprocess.Popen) -> None:
        try:
            if proc.stdin:
                proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(timeout=self.grace_s)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # the agent's own process group only
            except ProcessLookupError:
                pass
            proc.wait()
