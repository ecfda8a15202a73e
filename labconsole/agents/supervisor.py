"""Console side of the agent protocol: starts agents, reads them, restarts them, kills them.

* Each agent runs in its own process group (``start_new_session``) so shutdown
  kills the whole tree; children that escaped into new sessions are found by a
  psutil walk taken before the kill.
* One reader thread per stream. stdout lines are parsed as protocol JSON;
  anything else becomes an ``agent.raw`` message; lines over 1 MiB are cut.
* Messages go to one bounded queue. Protocol messages block when it is full
  (backpressure falls on the flooding agent, whose pipe fills); chatter
  (log/raw) is dropped instead and counted, so a flood cannot stall the console.
* A monitor thread detects exits, silence (hang) and stalls, reports them, and
  restarts with exponential backoff up to ``max_restarts``. A stall is an agent
  whose heartbeats say its model call has sent no token for ``stall_timeout_s``
  (default 120 s, per role ``stall_timeout_s``): heartbeats alone prove only
  that the process lives, so they must not hide a hung model call.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import psutil  # type: ignore[import-untyped]

from labconsole.agents.protocol import (
    AGENT_TYPES,
    CHATTER_TYPES,
    AgentLaunch,
    AgentMessage,
    ConsoleMessage,
    Shutdown,
    parse_agent,
)

MAX_LINE = 1 << 20  # 1 MiB
QUEUE_MAX = 10_000
DEFAULT_STALL_TIMEOUT_S = 120.0
CHATTER = CHATTER_TYPES
KNOWN_TYPES = AGENT_TYPES  # what an agent may say; nothing here approves or merges


@dataclass
class AgentSpec(AgentLaunch):
    """An agent the console runs: who it is (:class:`AgentLaunch`) plus where and how it starts."""

    cwd: Path | None = None
    env: dict[str, str] = field(default_factory=dict)
    # Overrides the runner command line (tests use it to start misbehaving agents).
    argv: list[str] | None = None

    def command(self, heartbeat_s: float) -> list[str]:
        return list(self.argv) if self.argv is not None else self.runner_argv(heartbeat_s)


@dataclass
class Message:
    """One thing an agent said (or that happened to it), in arrival order."""

    agent_id: str
    type: str  # a protocol type, or "raw" | "dropped" | "exited" | "restarting" | "started" | "gave_up"
    data: dict[str, Any]

    def typed(self) -> AgentMessage:
        """The protocol message, its fields checked (raises ``ProtocolError``); only for protocol types."""
        return parse_agent({"type": self.type, **self.data})


@dataclass
class _Proc:
    spec: AgentSpec
    popen: subprocess.Popen[bytes]
    log_file: IO[bytes]
    started: float
    last_seen: float
    attempt: int
    hello: bool = False
    stopping: bool = False
    waiting_s: float = 0.0  # from the last heartbeat: how long the model call in progress has been silent
    dropped: int = 0
    readers: list[threading.Thread] = field(default_factory=list)
    # Lines for the agent's stdin, written by its own thread: a full pipe never blocks the console.
    outbox: queue.Queue[bytes | None] = field(default_factory=queue.Queue)


@dataclass(frozen=True)
class Supervision:
    """How agents are watched: the silence that counts as a hang, the heartbeat period, restarts and their
    backoff (first and longest wait), the grace a stopping agent gets, and how long a model call may stay
    silent before the agent counts as stalled. The orchestrator passes it through unchanged."""

    hang_timeout_s: float = 30.0
    heartbeat_s: float = 2.0
    max_restarts: int = 5
    backoff_s: tuple[float, float] = (1.0, 30.0)
    grace_s: float = 3.0
    stall_timeout_s: float = DEFAULT_STALL_TIMEOUT_S


class Supervisor:
    def __init__(self, log_dir: Path, supervision: Supervision | None = None, *, queue_max: int = QUEUE_MAX) -> None:
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.supervision = supervision or Supervision()
        self.messages: queue.Queue[Message] = queue.Queue(maxsize=queue_max)
        self._procs: dict[str, _Proc] = {}
        self._pending_restarts: dict[str, tuple[float, AgentSpec, int]] = {}
        # Every agent ever started, so `restart` after `stop` (its process gone) can start it again.
        self._specs: dict[str, tuple[AgentSpec, int]] = {}
        self._lock = threading.RLock()
        self._closed = threading.Event()
        self._monitor = threading.Thread(target=self._watch, name="supervisor-monitor", daemon=True)
        self._monitor.start()

    # --- lifecycle --------------------------------------------------------------------------------

    def start(self, spec: AgentSpec, attempt: int = 0) -> int:
        with self._lock:
            if self._closed.is_set():
                raise RuntimeError("the supervisor is closed")
        log_path = self.log_dir / f"{spec.agent_id}.log"
        log_file = open(log_path, "ab", buffering=0)
        env = {**os.environ, **spec.env, "PYTHONUNBUFFERED": "1"}
        popen = subprocess.Popen(
            spec.command(self.supervision.heartbeat_s),
            cwd=spec.cwd or spec.lab_root,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # own process group: killpg reaches the whole tree
        )
        now = time.monotonic()
        proc = _Proc(spec, popen, log_file, now, now, attempt)
        with self._lock:
            self._procs[spec.agent_id] = proc
            self._specs[spec.agent_id] = (spec, attempt)
        self._emit(
            Message(
                spec.agent_id,
                "started",
                {"pid": popen.pid, "role": spec.role, "backend": spec.backend, "model": spec.model, "attempt": attempt},
            )
        )
        for stream, reader in ((popen.stdout, self._read_stdout), (popen.stderr, self._read_stderr)):
            thread = threading.Thread(target=reader, args=(proc, stream), name=f"{spec.agent_id}-reader", daemon=True)
            thread.start()
            proc.readers.append(thread)
        threading.Thread(target=self._write_stdin, args=(proc,), name=f"{spec.agent_id}-writer", daemon=True).start()
        return popen.pid

    def send(self, agent_id: str, message: ConsoleMessage | dict[str, Any]) -> bool:
        """Queue one protocol line for the agent's stdin. False if the agent is not running. Never blocks.

        ``message`` is a protocol message, or its ``to_dict()`` form."""
        with self._lock:
            proc = self._procs.get(agent_id)
        if proc is None or proc.popen.poll() is not None or proc.popen.stdin is None:
            return False
        line = json.dumps(message) if isinstance(message, dict) else message.to_json()
        proc.outbox.put((line + "\n").encode())
        return True

    @staticmethod
    def _write_stdin(proc: _Proc) -> None:
        stdin = proc.popen.stdin
        if stdin is None:  # started without a pipe: nothing can be sent
            return
        while (line := proc.outbox.get()) is not None:
            try:
                stdin.write(line)
                stdin.flush()
            except (BrokenPipeError, OSError, ValueError):
                return

    def expected(self, agent_id: str) -> bool:
        """Running, or about to be restarted: work for it may wait."""
        with self._lock:
            return agent_id in self._pending_restarts or (
                agent_id in self._procs and self._procs[agent_id].popen.poll() is None
            )

    def running(self, agent_id: str) -> bool:
        with self._lock:
            proc = self._procs.get(agent_id)
        return proc is not None and proc.popen.poll() is None

    def pid(self, agent_id: str) -> int | None:
        with self._lock:
            proc = self._procs.get(agent_id)
        return proc.popen.pid if proc else None

    def agent_ids(self) -> list[str]:
        with self._lock:
            return list(self._procs)

    def stop(self, agent_id: str, *, restart: bool = False) -> None:
        """Stop one agent (shutdown, then kill its group). With ``restart``, start it again at once."""
        with self._lock:
            proc = self._procs.get(agent_id)
            self._pending_restarts.pop(agent_id, None)
            known = self._specs.get(agent_id)
        if proc is None:
            if restart and known is not None:
                # Stopped (or given up on) already: the person's restart starts it afresh, backoff count reset.
                self.start(known[0])
            return
        proc.stopping = True
        self._terminate(proc, polite=True)
        with self._lock:
            mine = self._procs.get(agent_id) is proc
            if mine:
                del self._procs[agent_id]
        if mine:  # else the monitor saw the exit first and reported it
            for reader in proc.readers:
                reader.join(timeout=1)
            proc.log_file.close()
            self._emit(
                Message(
                    agent_id,
                    "exited",
                    {
                        "reason": "stopped",
                        "returncode": proc.popen.returncode,
                        "signal": None,
                        "detail": "stopped by the person",
                        "attempt": proc.attempt,
                    },
                )
            )
        if restart:
            self.start(proc.spec, attempt=proc.attempt + 1)

    def close(self) -> None:
        """Stop every agent and the monitor. Leaves no process behind."""
        self._closed.set()
        with self._lock:
            procs = list(self._procs.values())
            self._pending_restarts.clear()
        for proc in procs:
            proc.stopping = True
            self.send(proc.spec.agent_id, Shutdown())
        deadline = time.monotonic() + self.supervision.grace_s
        for proc in procs:
            try:
                proc.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for proc in procs:
            self._terminate(proc, polite=False)
        self._monitor.join(timeout=2)

    # --- reading ----------------------------------------------------------------------------------

    def _read_stdout(self, proc: _Proc, stream: IO[bytes]) -> None:
        while True:
            line = stream.readline(MAX_LINE + 1)
            if not line:
                break
            truncated = False
            if len(line) > MAX_LINE or not line.endswith(b"\n"):
                if len(line) > MAX_LINE:
                    truncated = True
                    line = line[:MAX_LINE]
                    # Discard the rest of the oversized line without holding it in memory.
                    while True:
                        rest = stream.readline(MAX_LINE)
                        if not rest or rest.endswith(b"\n"):
                            break
            proc.last_seen = time.monotonic()
            proc.log_file.write(line if line.endswith(b"\n") else line + b"\n")
            self._dispatch(proc, line.rstrip(b"\r\n"), truncated)

    def _read_stderr(self, proc: _Proc, stream: IO[bytes]) -> None:
        # stderr is never parsed: it goes to the agent's log file as is.
        for line in iter(lambda: stream.readline(MAX_LINE), b""):
            proc.last_seen = time.monotonic()
            proc.log_file.write(b"[stderr] " + line)

    def _dispatch(self, proc: _Proc, raw: bytes, truncated: bool) -> None:
        agent_id = proc.spec.agent_id
        msg: Any = None
        if not truncated:
            try:
                msg = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                msg = None
        if not (isinstance(msg, dict) and msg.get("type") in KNOWN_TYPES):
            text = raw.decode("utf-8", errors="replace")
            self._chatter(
                proc, Message(agent_id, "raw", {"text": text[:4096], "truncated": truncated or len(text) > 4096})
            )
            return
        kind = msg.pop("type")
        if kind == "hello":
            proc.hello = True
        if kind == "heartbeat":
            waiting = msg.get("waiting_s", 0.0)  # hostile input: only a plain number counts
            proc.waiting_s = (
                float(waiting) if isinstance(waiting, (int, float)) and not isinstance(waiting, bool) else 0.0
            )
        if kind in CHATTER:
            if kind != "heartbeat":
                self._chatter(proc, Message(agent_id, kind, msg))
            return
        self._emit(Message(agent_id, kind, msg))

    def _chatter(self, proc: _Proc, message: Message) -> None:
        try:
            self.messages.put_nowait(message)
        except queue.Full:
            proc.dropped += 1
            return
        if proc.dropped:
            count, proc.dropped = proc.dropped, 0
            self._emit(Message(proc.spec.agent_id, "dropped", {"count": count}))

    def _emit(self, message: Message) -> None:
        while not self._closed.is_set():
            try:
                self.messages.put(message, timeout=0.5)
                return
            except queue.Full:
                continue
        try:  # closing: still try once so final exits are reported
            self.messages.put_nowait(message)
        except queue.Full:
            pass

    # --- monitoring -------------------------------------------------------------------------------

    def _watch(self) -> None:
        while not self._closed.wait(0.2):
            now = time.monotonic()
            with self._lock:
                procs = list(self._procs.values())
                due = [(aid, item) for aid, item in self._pending_restarts.items() if item[0] <= now]
                for aid, _ in due:
                    del self._pending_restarts[aid]
            for proc in procs:
                self._check(proc, now)
            for _aid, (_when, spec, attempt) in due:
                if not self._closed.is_set():
                    self.start(spec, attempt=attempt)

    def _check(self, proc: _Proc, now: float) -> None:
        agent_id = proc.spec.agent_id
        code = proc.popen.poll()
        reason: str | None = None
        stall_limit = self._stall_limit(proc.spec)
        stalled = code is None and not proc.stopping and proc.waiting_s >= stall_limit
        if stalled:
            # Seen first as its own event, then handled like a hang: killed, restarted by the same rules.
            self._emit(
                Message(
                    agent_id,
                    "stalled",
                    {
                        "waited_s": round(proc.waiting_s, 1),
                        "limit_s": stall_limit,
                        "attempt": proc.attempt,
                        "detail": f"the model sent no token for {proc.waiting_s:.0f} s (limit {stall_limit:.0f} s)",
                    },
                )
            )
        if code is None and (stalled or now - proc.last_seen > self.supervision.hang_timeout_s) and not proc.stopping:
            reason = "hung"
            self._terminate(proc, polite=False)
            code = proc.popen.poll()
        elif code is not None:
            # Any exit we did not ask for is a crash, exit code 0 included: agents live for the session.
            reason = "done" if proc.stopping else "crashed"
        if reason is None:
            return
        with self._lock:
            if self._procs.get(agent_id) is not proc:
                return  # already replaced
            del self._procs[agent_id]
        for reader in proc.readers:
            reader.join(timeout=1)
        proc.log_file.close()
        detail = {
            "hung": (
                f"stalled: the model sent no token for {stall_limit:.0f} s"
                if stalled
                else f"no output for {self.supervision.hang_timeout_s:.0f} s"
            ),
            "crashed": _exit_detail(code),
        }.get(reason, "")
        self._emit(
            Message(
                agent_id,
                "exited",
                {
                    "reason": reason,
                    "returncode": code,
                    "signal": -code if code and code < 0 else None,
                    "detail": detail,
                    "attempt": proc.attempt,
                },
            )
        )
        if reason in ("hung", "crashed") and not self._closed.is_set():
            attempt = proc.attempt + 1
            if attempt > self.supervision.max_restarts:
                self._emit(
                    Message(agent_id, "gave_up", {"message": f"gave up after {self.supervision.max_restarts} restarts"})
                )
                return
            backoff = min(self.supervision.backoff_s[1], self.supervision.backoff_s[0] * 2**proc.attempt)
            self._emit(Message(agent_id, "restarting", {"attempt": attempt, "backoff_s": backoff}))
            with self._lock:
                self._pending_restarts[agent_id] = (time.monotonic() + backoff, proc.spec, attempt)

    def _stall_limit(self, spec: AgentSpec) -> float:
        value = spec.options.get("stall_timeout_s")
        return (
            float(value)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
            else self.supervision.stall_timeout_s
        )

    def _terminate(self, proc: _Proc, *, polite: bool) -> None:
        popen = proc.popen
        # Note the whole tree first: a child that called setsid() is outside the group.
        try:
            tree = psutil.Process(popen.pid).children(recursive=True)
        except psutil.Error:
            tree = []
        if polite and popen.poll() is None:
            self.send(proc.spec.agent_id, Shutdown())
            try:
                popen.wait(timeout=self.supervision.grace_s)
            except subprocess.TimeoutExpired:
                pass
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if popen.poll() is not None and not any(_alive(p) for p in tree):
                break
            try:
                os.killpg(popen.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
            for child in tree:
                try:
                    child.send_signal(sig)
                except psutil.Error:
                    pass
            try:
                popen.wait(timeout=1.0 if sig == signal.SIGTERM else 5.0)
            except subprocess.TimeoutExpired:
                pass
            psutil.wait_procs([c for c in tree if _alive(c)], timeout=1.0)
        proc.outbox.put(None)  # ends the writer thread


def _exit_detail(code: int | None) -> str:
    """``exited with code 1`` / ``killed by SIGKILL``: a signal is named, not left as a number."""
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
