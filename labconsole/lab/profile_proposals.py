"""Profile findings handed to a session as hypotheses (``labconsole profile --propose``).

It lives in ``lab`` because it writes through the Lab service; ``profile`` stays below ``lab``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from labconsole.lab.service import propose_hypotheses
from labconsole.profile.hypotheses import hypotheses_from_profile, profile_bytes


def propose(
    profile: dict[str, Any], *, lab_root: Path, top: int = 5, session_id: str | None = None, actor: str = "console"
) -> tuple[list[dict[str, Any]], list[str]]:
    """Hand the profile's hypotheses to the Lab service; the profile JSON goes with them as evidence."""
    hypotheses = hypotheses_from_profile(profile, top=top)
    if not hypotheses:
        return [], []
    # The service keys blobs by the hypothesis' index; the same bytes are stored once (content-addressed).
    data = profile_bytes(profile)
    blobs = {i: data for i in range(len(hypotheses))}
    ids = propose_hypotheses(Path(lab_root), hypotheses, actor=actor, session_id=session_id, evidence_blobs=blobs)
    return hypotheses, list(ids)
