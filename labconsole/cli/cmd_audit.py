"""``labconsole audit verify SESSION``: re-check a session's hash chain and gate.

SESSION is a session directory, or a session id looked up under
``<--lab>/sessions/`` (default: ``./sessions/``). Prints one OK line, or each
problem as ``events.jsonl:LINE: message``; exits 0 when intact, 1 otherwise.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from labconsole.errors import LabError
from labconsole.events.audit import verify_session
from labconsole.events.log import LOG_NAME


def register(sub: Any) -> None:
    p = sub.add_parser("audit", help="audit a session log (hash chain, approvals, runs, blobs)")
    audit_sub = p.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    v = audit_sub.add_parser("verify", help="verify a session: exit 0 if intact, 1 naming each bad line")
    v.add_argument("session", metavar="SESSION", help="a session directory, or a session id under LAB/sessions/")
    v.add_argument("--lab", type=Path, default=None, help="the lab whose sessions/ holds SESSION (default: .)")
    v.set_defaults(func=run_verify)


def resolve_session(session: str, lab: Path | None) -> Path:
    """The session directory named by a path or an id; a LabError if there is none."""
    candidates: list[Path] = []
    as_path = Path(session)
    if as_path.is_dir() or as_path.name == LOG_NAME:
        candidates.append(as_path.parent if as_path.name == LOG_NAME else as_path)
    candidates.append((lab or Path(".")) / "sessions" / session)
    for cand in candidates:
        if (cand / LOG_NAME).is_file():
            return cand
    where = ", ".join(str(c) for c in candidates)
    raise LabError(f"no session log found for {session!r} (looked for {LOG_NAME} in {where})")


def run_verify(args: argparse.Namespace) -> int:
    session_dir = resolve_session(args.session, args.lab)
    result = verify_session(session_dir)
    if result.ok:
        print(f"OK {session_dir}: {result.events} events, chain intact, every merge approved, every run ended")
        for note in result.notes:
            print(f"note: {note}")
        return 0
    for problem in result.problems:
        print(problem)
    print(f"FAILED {session_dir}: {len(result.problems)} problem(s) in {result.events} events")
    return 1
