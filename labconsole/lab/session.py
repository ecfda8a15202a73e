"""Where sessions live in a lab, and how a session id is chosen or found."""

from __future__ import annotations

import os
import re
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING

from labconsole.errors import LabError

if TYPE_CHECKING:
    from labconsole.lab.state import LabState

SESSIONS = "sessions"


def sessions_dir(lab_root: Path) -> Path:
    return Path(lab_root) / SESSIONS


_PROPOSED = re.compile(rb'"hyp_id":"h(\d+)"')


def max_hypothesis_number(lab_root: Path) -> int:
    """The highest N of any hypothesis hN proposed in any session of this lab (a raw scan: no JSON parsing)."""
    best = 0
    for session_dir in list_sessions(lab_root):
        with open(session_dir / "events.jsonl", "rb") as f:
            for line in f:
                if b'"hypothesis.proposed"' in line and (m := _PROPOSED.search(line)):
                    best = max(best, int(m.group(1)))
    return best


def final_state(session_dir: Path) -> tuple[LabState, int]:
    """The state at the end of a session's log, and its event count.

    Through Replay's offset index and snapshots, so reopening a long session (a console closing
    leaves its final state as a snapshot) does not re-reduce every event.
    """
    from labconsole.events.replay import Replay
    from labconsole.lab.reducer import apply
    from labconsole.lab.state import LabState

    with Replay(session_dir, initial=LabState, apply=apply) as replay:
        return replay.state_at(replay.count - 1), replay.count


def new_session_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(2)


def list_sessions(lab_root: Path) -> list[Path]:
    root = sessions_dir(lab_root)
    if not root.is_dir():
        return []
    return sorted((p for p in root.iterdir() if (p / "events.jsonl").exists()), key=lambda p: p.name)


def resolve_session(lab_root: Path, session: str | None) -> Path:
    """A session dir from an id, a path, or (None) the newest session of the lab."""
    if session:
        as_path = Path(session)
        if (as_path / "events.jsonl").exists():
            return as_path.resolve()
        candidate = sessions_dir(lab_root) / session
        if (candidate / "events.jsonl").exists():
            return candidate
        raise LabError(f"no session {session!r} under {sessions_dir(lab_root)} (see `labconsole sessions`)")
    found = list_sessions(lab_root)
    if not found:
        raise LabError(f"no sessions in {lab_root}: start one with `labconsole run` (or `labconsole demo`)")
    return found[-1]


def find_lab_root(start: Path | None = None) -> Path:
    """The nearest directory at or above ``start`` holding lab.toml."""
    here = Path(start or os.getcwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "lab.toml").exists():
            return candidate
    raise LabError(f"no lab.toml in {here} or above: pass --lab PATH or run inside a lab")
