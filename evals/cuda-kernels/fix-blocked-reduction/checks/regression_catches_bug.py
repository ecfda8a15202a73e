"""The agent's tests/test_blocked.py must fail against the original (buggy) blocked_rmsnorm.py.

Runs in the attempt's repo: takes the module from the first (fixture) commit,
puts it beside the agent's tests in a scratch folder, and expects pytest to fail.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "_checks"))  # shared check helpers
from verdict import fixture_file, verdict  # noqa: E402


def main() -> int:
    root = Path.cwd()
    buggy = fixture_file("blocked_rmsnorm.py").decode()
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        (t / "blocked_rmsnorm.py").write_text(buggy)
        shutil.copytree(root / "tests", t / "tests", ignore=shutil.ignore_patterns("__pycache__"))
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_blocked.py"],
            cwd=t,
            capture_output=True,
            text=True,
            env={"PYTHONPATH": str(t), "PATH": "/usr/bin:/bin"},
        )
    caught = proc.returncode != 0
    return verdict(
        [] if caught else ["tests/test_blocked.py passes on the buggy code: it does not catch the bugs"],
        "the regression tests fail on the original code, as they should",
    )


if __name__ == "__main__":
    sys.exit(main())
