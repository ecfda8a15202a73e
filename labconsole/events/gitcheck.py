"""``audit verify`` against git: what the log says was merged is what main holds, and nothing else is there.

- every ``merge.completed`` names a merge commit on main (since the session's baseline) whose second
  parent is the approved SHA;
- every approved commit exists in the lab's repository;
- every commit on main's first-parent line since the baseline is a merge the console logged (in this
  session or another session of the lab); any other is listed as "outside the gate": a person may have
  merged by hand, which is not a forgery, but is not covered by an approval either.

Read-only git (``rev-list``, ``cat-file``, ``log``); hooks are off.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from labconsole.events import kinds as K
from labconsole.events.log import LOG_NAME

_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
_GIT = ("git", "-c", "core.hooksPath=/dev/null")


@dataclass
class GitFindings:
    problems: list[tuple[int, int | None, str]] = field(default_factory=list)  # (line, seq, message)
    outside_gate: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class LoggedMerge:
    line: int
    seq: int
    hyp_id: str
    sha: str
    merge_sha: str


def _git(root: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*_GIT, "-C", str(root), *args], input=stdin, capture_output=True, text=True, timeout=120)


def is_repo(root: Path) -> bool:
    """``root`` is the top of a git work tree (a lab is a whole repository, never a folder inside one)."""
    try:
        res = _git(root, "rev-parse", "--show-toplevel")
    except (OSError, subprocess.TimeoutExpired):
        return False
    return res.returncode == 0 and Path(res.stdout.strip()).resolve() == root.resolve()


def cross_check(
    root: Path,
    *,
    baseline: str | None,
    main_branch: str | None,
    merges: list[LoggedMerge],
    approvals: list[tuple[int, int, str, str]],
    session_dir: Path,
) -> GitFindings:
    """``approvals``: (line, seq, hyp_id, sha) of each approval in the log."""
    out = GitFindings()
    shas = sorted({sha for *_, sha in approvals if _SHA.match(sha)})
    missing = {sha for *_, sha in approvals if not _SHA.match(sha)}  # not even a commit name
    if shas:
        res = _git(
            root,
            "cat-file",
            "--batch-check=%(objectname) %(objecttype)",
            stdin="".join(f"{s}^{{commit}}\n" for s in shas),
        )
        rows = res.stdout.splitlines()
        missing |= {s for i, s in enumerate(shas) if i >= len(rows) or not rows[i].endswith(" commit")}
    if missing:
        for line, seq, hyp_id, sha in approvals:
            if sha in missing:
                out.problems.append(
                    (
                        line,
                        seq,
                        f"approval of {hyp_id}: commit {sha[:12]} is not in the lab's "
                        "repository (approved a commit that does not exist)",
                    )
                )
    branch = main_branch or "HEAD"
    if not baseline:
        out.notes.append("git cross-check of main skipped: the session records no baseline commit")
        return out
    res = _git(root, "rev-list", "--first-parent", "--parents", f"{baseline}..refs/heads/{branch}")
    if res.returncode != 0:
        res = _git(root, "rev-list", "--first-parent", "--parents", f"{baseline}..{branch}")
    if res.returncode != 0:
        out.notes.append(
            f"git cross-check of main skipped: cannot list {branch} since {baseline[:12]} "
            f"({(res.stderr.strip().splitlines() or ['?'])[-1]})"
        )
        return out
    on_main: dict[str, list[str]] = {}
    order: list[str] = []
    for row in res.stdout.split("\n"):
        parts = row.split()
        if parts:
            on_main[parts[0]] = parts[1:]
            order.append(parts[0])
    for m in merges:
        parents = on_main.get(m.merge_sha)
        if parents is None:
            out.problems.append(
                (
                    m.line,
                    m.seq,
                    f"merge of {m.hyp_id}: merge commit {m.merge_sha[:12]} is not on "
                    f"{branch} since the baseline (git contradicts the log)",
                )
            )
        elif parents[1:2] != [m.sha]:
            out.problems.append(
                (
                    m.line,
                    m.seq,
                    f"merge of {m.hyp_id}: {m.merge_sha[:12]} on {branch} merges "
                    f"{(parents[1:2] or ['nothing'])[0][:12]}, not the approved {m.sha[:12]}",
                )
            )
    covered = {m.merge_sha for m in merges} | _merges_of_other_sessions(session_dir)
    outside = [sha for sha in order if sha not in covered]
    if outside:
        subjects = _subjects(root, outside)
        for sha in reversed(outside):
            out.outside_gate.append(
                f"{sha[:12]} {subjects.get(sha, '')!r} on {branch} is not a merge the console "
                "made after a signed approval"
            )
    return out


def _merges_of_other_sessions(session_dir: Path) -> set[str]:
    """Merge commits logged by the lab's other sessions (each is audited on its own)."""
    found: set[str] = set()
    needle = f'"kind":"{K.MERGE_COMPLETED}"'.encode()
    for log in session_dir.parent.glob(f"*/{LOG_NAME}"):
        if log.parent == session_dir:
            continue
        try:
            with open(log, "rb") as f:
                for raw in f:
                    if needle in raw:
                        try:
                            sha = json.loads(raw)["data"].get("merge_sha")
                        except (ValueError, KeyError, AttributeError):
                            continue
                        if isinstance(sha, str):
                            found.add(sha)
        except OSError:
            continue
    return found


def _subjects(root: Path, shas: list[str]) -> dict[str, str]:
    res = _git(root, "log", "--no-walk=unsorted", "--format=%H %s", *shas[:200])
    return dict(row.split(" ", 1) for row in res.stdout.splitlines() if " " in row)


__all__ = ["GitFindings", "LoggedMerge", "cross_check", "is_repo"]
