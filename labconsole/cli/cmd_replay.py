"""``labconsole replay SESSION [--lab PATH]``: open the console's screens over a recorded session.

SESSION is a session directory or an id under ``<lab>/sessions/``. Without a
terminal (or with ``--summary``) it prints where the session ended instead.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from labconsole.errors import LabError
from labconsole.events.log import LOG_NAME


def register(sub: Any) -> None:
    p = sub.add_parser("replay", help="replay a recorded session in the console (same screens, a cursor, REPLAY)")
    p.add_argument("session", metavar="SESSION", help="a session directory, or a session id under LAB/sessions/")
    p.add_argument(
        "--lab", type=Path, default=None, help="the lab the session belongs to (default: . if it has sessions/)"
    )
    p.add_argument("--summary", action="store_true", help="print a one-screen summary instead of opening the console")
    p.set_defaults(func=run)


def resolve(session: str, lab: Path | None) -> Path:
    as_path = Path(session)
    candidates = [as_path] if lab is None else []
    candidates.append((lab or Path(".")) / "sessions" / session)
    for cand in candidates:
        if (cand / LOG_NAME).is_file():
            return cand.resolve()
    raise LabError(f"no session log for {session!r}: looked for {LOG_NAME} in " + ", ".join(str(c) for c in candidates))


def summary(session_dir: Path) -> str:
    from labconsole.tui.source import ReplaySource

    src = ReplaySource(session_dir)
    try:
        state = src.state_at(src.count - 1)
        lines = [
            f"{session_dir.name}: {src.count} events, {len(src.decisions())} decision points, "
            f"{len(state.agents)} agents, {len(state.hypotheses)} hypotheses"
        ]
        from labconsole.events.signing import lab_trust, signed_by

        signers = signed_by(
            session_dir,
            [d.seq for h in state.hypotheses.values() for d in h.decisions],
            lab_trust(session_dir.parent.parent),
        )
        for h in sorted(state.hypotheses.values(), key=lambda h: h.hyp_id):
            lines.append(f"  {h.hyp_id} {h.status:<15} {h.title}")
            lines += [f"      {d.kind} by {signers.get(d.seq, d.who)}" for d in h.decisions]
        return "\n".join(lines)
    finally:
        src.close()


def run(args: argparse.Namespace) -> int:
    session_dir = resolve(args.session, args.lab)
    lab_root = args.lab.resolve() if args.lab else None
    if args.summary or not sys.stdout.isatty():
        print(summary(session_dir))
        return 0
    from labconsole.tui import run_replay

    return run_replay(session_dir, lab_root)
