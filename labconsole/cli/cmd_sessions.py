"""``labconsole sessions`` and ``labconsole report``: what sessions a lab has, and their reports."""

from __future__ import annotations

import argparse

from labconsole.cli.common import add_lab_args, lab_root
from labconsole.events.log import session_lock_holder
from labconsole.lab.report import render_report
from labconsole.lab.session import final_state, list_sessions, resolve_session


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sessions", help="list the lab's sessions")
    add_lab_args(p, session=False)
    p.set_defaults(func=cmd_sessions)
    p = sub.add_parser("report", help="print a session's report, rendered from its log alone")
    add_lab_args(p)
    p.set_defaults(func=cmd_report)


def cmd_sessions(args: argparse.Namespace) -> int:
    root = lab_root(args)
    sessions = list_sessions(root)
    if not sessions:
        print(f"no sessions in {root}")
    for path in sessions:
        state, _ = final_state(path)
        holder = session_lock_holder(path)
        live = f"open in pid {holder}" if holder else ("stopped" if state.stopped else "not running")
        print(
            f"{path.name}  events {state.last_seq + 1:>7}  hypotheses {len(state.hypotheses):>3}  "
            f"awaiting review {len(state.awaiting_review()):>2}  {live}"
        )
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    session_dir = resolve_session(lab_root(args), args.session)
    print(render_report(final_state(session_dir)[0]), end="")
    return 0
