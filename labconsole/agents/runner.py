"""Agent process entry point: ``python -m labconsole.agents.runner --role R --backend B ...``.

Speaks the JSONL protocol (docs/protocol.md): announces itself, sends
heartbeats from a thread, reads console messages from stdin, and runs one task
at a time through the chosen backend.
"""

from __future__ import annotations

import argparse
import sys
import threading
import traceback
from pathlib import Path

from labconsole.agents import protocol as P
from labconsole.agents.backends import load_backend
from labconsole.agents.backends.base import AgentContext, Task
from labconsole.agents.backends.failures import describe
from labconsole.agents.emitter import Emitter
from labconsole.errors import LabError


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="labconsole-agent")
    parser.add_argument("--role", required=True)
    parser.add_argument("--backend", required=True)
    parser.add_argument("--model", default="")
    parser.add_argument("--agent-id", required=True)
    parser.add_argument("--lab-root", required=True)
    parser.add_argument("--heartbeat-s", type=float, default=2.0)
    parser.add_argument("--option", action="append", default=[], help="key=json-value, repeatable")
    args = parser.parse_args(argv)

    emit = Emitter()
    ctx = AgentContext(
        agent_id=args.agent_id,
        role=args.role,
        backend=args.backend,
        model=args.model,
        lab_root=Path(args.lab_root),
        options=P.parse_options(args.option),
    )
    try:
        backend = load_backend(args.backend)(ctx)
    except Exception as exc:  # a backend that cannot start says why, then the supervisor sees the exit
        traceback.print_exc()  # stderr is the agent's log; the screen gets the one line
        said = describe(exc, role=args.role, agent=args.agent_id)
        emit.write(P.Error(message=f"backend {args.backend} failed to start: {said.line()}", fatal=True, infra=True))
        return 3
    emit.hello(role=args.role, backend=args.backend, model=args.model)
    emit.status("idle")

    stop_beats = threading.Event()

    def beat() -> None:
        while not stop_beats.wait(args.heartbeat_s):
            # A beat proves the process lives, not that the model answers: say how long it has not.
            emit.write(P.Heartbeat(waiting_s=round(ctx.liveness.waiting_s(), 1)))

    threading.Thread(target=beat, name="heartbeat", daemon=True).start()

    tasks: list[Task] = []
    task_ready = threading.Condition()

    def work() -> None:
        while True:
            with task_ready:
                while not tasks and not ctx.stopping.is_set():
                    task_ready.wait()
                if ctx.stopping.is_set() and not tasks:
                    return
                task = tasks.pop(0)
            ctx.wait_if_paused()
            emit.status(
                "working",
                hypothesis=task.payload.get("hypothesis", {}).get("id")
                if isinstance(task.payload.get("hypothesis"), dict)
                else None,
                detail=task.kind,
            )
            try:
                backend.handle(task, emit)
                emit.done(task.id)
            except Exception as exc:
                # One line for the person (a backend's failure is already one); the traceback of anything
                # unexpected goes to stderr, which the supervisor keeps in the agent's log file.
                if not isinstance(exc, LabError):
                    traceback.print_exc()
                said = describe(exc, role=args.role, agent=args.agent_id)
                emit.write(P.Error(message=said.line(), task=task.id, infra=said.infra))
            emit.status("paused" if ctx.paused.is_set() else "idle")

    worker = threading.Thread(target=work, name="worker", daemon=True)
    worker.start()

    for line in sys.stdin:
        try:
            msg = P.parse_console(line)
        except P.ProtocolError as exc:
            emit.log(f"ignored a console line ({exc}): {line[:200]!r}", level="warning")
            continue
        if isinstance(msg, P.TaskMessage):
            with task_ready:
                tasks.append(msg)
                task_ready.notify()
        elif isinstance(msg, P.PersonMessage):
            ctx.inbox.append(msg.text)
            emit.log(f"message received: {msg.text}")
        elif isinstance(msg, P.Pause):
            ctx.paused.set()
            emit.status("paused")
        elif isinstance(msg, P.Resume):
            ctx.paused.clear()
            emit.status("idle")
        elif isinstance(msg, P.Shutdown):
            break
    # stdin closed or shutdown: finish the current task, then leave.
    ctx.stopping.set()
    with task_ready:
        tasks.clear()
        task_ready.notify_all()
    worker.join(timeout=5)
    stop_beats.set()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run())
