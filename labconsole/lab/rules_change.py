"""Did the lab's rules change since its previous session? (lab.toml digest and a readable diff)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from labconsole.core.config import LabConfig
from labconsole.events import kinds as K
from labconsole.events.log import read_events


def rules_change_since_last_session(lab_root: Path, config: LabConfig) -> dict[str, Any] | None:
    """The lab.toml this session runs under, against the one the lab's previous session ran under:
    None when they are the same (or there is no earlier session), else what changed."""
    from labconsole.lab.change_checks import rules_diff
    from labconsole.lab.session import list_sessions

    earlier = list_sessions(lab_root)
    if not earlier:
        return None
    started = next((e for e in read_events(earlier[-1]) if e.kind == K.SESSION_STARTED), None)
    if started is None or not started.data.get("config_sha256"):
        return None
    previous = started.data["config_sha256"]
    if previous == config.digest():
        return None
    old = started.data.get("config")
    changes = rules_diff(old, config.raw) if isinstance(old, dict) else []
    return {
        "since_session": earlier[-1].name,
        "previous_sha256": previous,
        "changes": changes or ["lab.toml changed (same values: formatting or comments)"],
    }


def rules_changed_line(rules_changed: dict[str, Any]) -> str:
    """The line a person sees at the start of the first session after a rules change."""
    return f"lab rules changed since session {rules_changed.get('since_session')}: " + "; ".join(
        str(c) for c in rules_changed.get("changes") or []
    )
