"""The console's cleanup path on a worktree whose .git an agent repointed: one clear line in the log,
the hypothesis failed with that reason, its work archived from the branch ref, nothing executed."""

from __future__ import annotations

import subprocess
from pathlib import Path

from labconsole.demo import create_demo_lab
from labconsole.events import kinds as K
from labconsole.events.log import read_events
from labconsole.lab import state as S
from labconsole.lab.service import Lab
from tests.helpers.git_lab import sh


def test_cleanup_of_a_repointed_worktree_fails_the_hypothesis_and_archives(tmp_path: Path) -> None:
    lab_root = create_demo_lab(tmp_path / "lab")
    marker = tmp_path / "PWNED"
    evil = tmp_path / "evil.sh"
    evil.write_text(f"#!/bin/sh\ntouch {marker}\n")
    evil.chmod(0o755)
    lab = Lab.start_session(lab_root)
    try:
        lab.append(K.HYP_PROPOSED, "console", {"hyp_id": "h001", "title": "t", "params": {}})
        wt = lab.repo.create_worktree("h001", lab.repo.head_sha())
        lab.append(
            K.WORKTREE_CREATED,
            "console",
            {"hyp_id": "h001", "path": str(wt.path), "branch": wt.branch, "base_sha": wt.base_sha},
        )
        (wt.path / "notes.txt").write_text("agent work\n")
        subprocess.run(["git", "add", "-A"], cwd=wt.path, check=True)
        subprocess.run(
            ["git", "-c", "user.name=w", "-c", "user.email=w@w", "commit", "-qm", "work"], cwd=wt.path, check=True
        )
        own = tmp_path / "agent-repo"
        subprocess.run(["git", "init", "-q", str(own)], check=True)
        subprocess.run(["git", "config", "core.fsmonitor", str(evil)], cwd=own, check=True)
        (wt.path / ".git").write_text(f"gitdir: {own / '.git'}\n")

        lab.cleanup_worktree("h001")

        h = lab.snapshot().hypotheses["h001"]
        assert h.status == S.FAILED and "tampered with" in h.failure
    finally:
        lab.close()
    assert not marker.exists()
    archived = [e for e in read_events(lab.session_dir) if e.kind == K.WORKTREE_ARCHIVED]
    assert len(archived) == 1 and archived[0].data["ref"].startswith("refs/labconsole/archive/h001/")
    assert "tampered with" in archived[0].data["reason"]
    # The archive keeps the agent's uncommitted file, committed at cleanup (sh strips the trailing newline).
    assert sh(lab_root, "show", f"{archived[0].data['ref']}:notes.txt") == "agent work"
