"""``labconsole audit verify SESSION``: re-check a session's hash chain and gate.

SESSION is a session directory, or a session id looked up under
``<--lab>/sessions/`` (default: ``./sessions/``). Prints one OK line, or each
problem as ``events.jsonl:LINE: message``; then the seal status ("sealed at seq N",
"unsealed after seq N", "unsigned (pre-seal)"), who signed each decision, warnings,
and commits on main that no approval covers ("outside the gate").

Exit 0 when intact, 1 on any problem (forged, cut, rewritten, contradicted by git),
3 when intact but commits on main went around the gate.
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
    v.add_argument(
        "--lab",
        type=Path,
        default=None,
        help="the lab whose sessions/ holds SESSION and whose git "
        "repository is cross-checked (default: . for ids, the directory above sessions/ for paths)",
    )
    v.add_argument("--no-git", action="store_true", help="skip the cross-check against the lab's git repository")
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
    result = verify_session(session_dir, lab_root=args.lab.resolve() if args.lab else None, git=not args.no_git)
    if result.ok:
        print(
            f"OK {session_dir}: {result.events} events, chain intact, every merge approved, every run ended; "
            f"{result.seal_status}"
        )
    for problem in result.problems:
        print(problem)
    for seq, line in sorted(result.signers.items()):
        print(f"seq {seq}: {line}")
    for note in result.notes:
        print(note if note.startswith("warning:") else f"note: {note}")
    for commit in result.outside_gate:
        print(f"outside the gate: {commit}")
    if not result.ok:
        print(
            f"FAILED {session_dir}: {len(result.problems)} problem(s) in {result.events} events; {result.seal_status}"
        )
        return 1
    if result.outside_gate:
        print(
            f"OUTSIDE THE GATE {session_dir}: {len(result.outside_gate)} commit(s) on main no approval covers "
            "(not a forgery: a person may have merged by hand)"
        )
        return 3
    return 0
