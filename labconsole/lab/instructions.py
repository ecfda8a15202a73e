"""The workers' instructions (``[lab] instructions``, autoresearch's ``program.md``) for one session.

They are read once, at session start, from the *baseline commit* — never from a worktree or the working
tree, so a candidate that rewrites the file cannot change what the next worker is told (that edit is
flagged ``changes-lab-rules`` instead). The text is stored as a session blob and ``session.started``
records its path, commit and sha256: replay and audit show exactly what the agents were given, and a
resumed session hands its workers the same text even if main has moved on.
"""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labconsole.agents.backends.role_backend import INSTRUCTIONS_FILE, INSTRUCTIONS_PATH, INSTRUCTIONS_SHA256
from labconsole.core.config import LabConfig
from labconsole.core.instructions import instructions_text
from labconsole.errors import ConfigError
from labconsole.events import kinds as K
from labconsole.events.log import LOG_NAME, blob_path, get_blob, read_events
from labconsole.lab.gitops import LabRepo

# Roles that get the instructions: autoresearch's program.md is written for the agent that edits the code.
INSTRUCTED_ROLES = frozenset({"worker"})


@dataclass(frozen=True)
class Instructions:
    path: str  # in the repository, e.g. "program.md"
    commit: str  # the baseline commit it was read from
    text: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    def record(self) -> dict[str, Any]:
        """What ``session.started`` keeps (the text itself is the blob named by ``sha256``)."""
        return {"path": self.path, "commit": self.commit, "sha256": self.sha256, "bytes": len(self.text.encode())}


def baseline_instructions(config: LabConfig, repo: LabRepo, sha: str) -> Instructions | None:
    """The instructions file as committed at ``sha``; None when the lab names none. ConfigError (one line)
    when it is not committed there as a regular file, or is not acceptable text."""
    if not config.instructions:
        return None
    where = f"{config.path.name}: [lab] instructions {config.instructions!r}"
    mode, oid = repo.tree(sha).get(config.instructions, ("", ""))
    if not mode.startswith("100"):  # missing, a symlink or a submodule: nothing a worker should be told
        raise ConfigError(f"{where} is not a committed file at {sha[:12]}: git add {config.instructions} && git commit")
    got = subprocess.run(["git", "-C", str(repo.root), "cat-file", "blob", oid], capture_output=True, check=False)
    if got.returncode != 0:
        raise ConfigError(f"{where}: git could not read it at {sha[:12]}: {got.stderr.decode(errors='replace')}")
    return Instructions(config.instructions, sha, instructions_text(got.stdout, where))


def agent_options(session_dir: Path, role: str) -> dict[str, Any]:
    """The options that hand a role's backend the session's recorded instructions ({} when there are none
    or the role gets none). The backend reads the blob and checks its sha256 (agents/backends)."""
    if role not in INSTRUCTED_ROLES:
        return {}
    recorded = recorded_instructions(session_dir)
    if not recorded:
        return {}
    digest = str(recorded["sha256"])
    get_blob(session_dir, digest)  # present, or BlobError now rather than in every agent
    return {
        INSTRUCTIONS_FILE: str(blob_path(session_dir, digest)),
        INSTRUCTIONS_SHA256: digest,
        INSTRUCTIONS_PATH: str(recorded.get("path") or ""),
    }


def recorded_instructions(session_dir: Path) -> dict[str, Any] | None:
    """``session.started``'s ``instructions`` record of a session (None: it gave the agents none)."""
    if not (Path(session_dir) / LOG_NAME).is_file():  # no log yet (a test's bare orchestrator)
        return None
    for event in read_events(session_dir):
        if event.kind == K.SESSION_STARTED:
            value = event.data.get("instructions")
            return value if isinstance(value, dict) and value.get("sha256") else None
        break
    return None
