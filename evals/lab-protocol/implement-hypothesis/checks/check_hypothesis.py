"""h-7 must be exactly one commit on branch lab/h-7 that sets LR = 0.005 and changes nothing else."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "_checks"))  # shared check helpers
from verdict import fixture_commit, verdict  # noqa: E402


def git(*args: str) -> tuple[int, str]:
    p = subprocess.run(["git", *args], capture_output=True, text=True)
    return p.returncode, p.stdout.strip()


def constants(source: str) -> dict:
    out = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                out[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass
    return out


def main() -> int:
    bad = []
    base = fixture_commit()
    rc, tip = git("rev-parse", "--verify", "lab/h-7")
    if rc != 0:
        print("FAIL no branch lab/h-7 (a hypothesis is implemented on lab/<hypothesis-id>)")
        return 1
    _, count = git("rev-list", "--count", f"{base}..lab/h-7")
    if count != "1":
        bad.append(f"lab/h-7 holds {count} commits on top of the baseline; expected exactly one")
    _, msg = git("log", "-1", "--format=%B", "lab/h-7")
    if "h-7" not in msg:
        bad.append("the commit message does not name the hypothesis (h-7)")
    _, new = git("show", "lab/h-7:train.py")
    _, old = git("show", f"{base}:train.py")
    got, was = constants(new), constants(old)
    if got.get("LR") != 0.005:
        bad.append(f"LR on lab/h-7 is {got.get('LR')!r}, expected 0.005")
    others = {k: v for k, v in was.items() if k != "LR" and got.get(k) != v}
    if others:
        bad.append(f"other constants changed: {sorted(others)}")
    _, changed = git("diff", "--name-only", base, "lab/h-7")
    if changed.split() != ["train.py"]:
        bad.append(f"the commit touches {changed.split()}; only train.py may change")
    _, dirty = git("status", "--porcelain", "--untracked-files=no")
    if dirty:
        bad.append(f"uncommitted changes left in the worktree: {dirty.splitlines()}")
    return verdict(bad, "h-7 implemented as one commit on lab/h-7")


if __name__ == "__main__":
    sys.exit(main())
