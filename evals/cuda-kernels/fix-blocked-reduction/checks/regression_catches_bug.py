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


def main() -> int:
    root = Path.cwd()
    base = subprocess.run(["git", "rev-list", "--max-parents=0", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.split()[0]
    buggy = subprocess.run(["git", "show", f"{base}:blocked_rmsnorm.py"], capture_output=True, text=True,
                           check=True).stdout
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        (t / "blocked_rmsnorm.py").write_text(buggy)
        shutil.copytree(root / "tests", t / "tests", ignore=shutil.ignore_patterns("__pycache__"))
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               "tests/test_blocked.py"], cwd=t, capture_output=True, text=True,
                              env={"PYTHONPATH": str(t), "PATH": "/usr/bin:/bin"})
    if proc.returncode == 0:
        print("tests/test_blocked.py passes on the buggy code: it does not catch the bugs")
        return 1
    print("the regression tests fail on the original code, as they should")
    return 0


if __name__ == "__main__":
    sys.exit(main())
