"""What the hidden check scripts share: the fixture commit of the attempt's repo, and the verdict.

A check runs as `python {case_dir}/checks/x.py` in the attempt's repo (its cwd); it puts this folder
on sys.path (evals/<skill>/<case>/checks -> evals/_checks) and imports from here. The agent never
sees this folder: only the fixture is copied into its repo.
"""

from __future__ import annotations

import subprocess


def fixture_commit() -> str:
    """The first commit of the repo in the cwd: the fixture as the agent received it."""
    out = subprocess.run(
        ["git", "rev-list", "--max-parents=0", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.split()
    return out[0]


def fixture_file(path: str) -> bytes:
    """`path` as the fixture commit holds it, whatever the agent did to it since."""
    return subprocess.run(["git", "show", f"{fixture_commit()}:{path}"], capture_output=True, check=True).stdout


def verdict(problems: list[str], ok: str) -> int:
    """One `FAIL ...` line per problem, or `ok` when there are none; the check's exit status."""
    for p in problems:
        print(f"FAIL {p}")
    if not problems:
        print(ok)
    return 1 if problems else 0
