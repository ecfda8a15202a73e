"""Reference solutions of the shipped eval cases: ``solution/`` (files laid over the fixture) and/or
``solution.sh`` (run in the attempt's repo). Used to prove each case is solvable and its checks real."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from labconsole.evals.cases import EvalCase

GIT_ID = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}


def has_solution(case: EvalCase) -> bool:
    return (case.case_dir / "solution").is_dir() or (case.case_dir / "solution.sh").is_file()


def apply_solution(case: EvalCase, workdir: Path) -> None:
    sol = case.case_dir / "solution"
    if sol.is_dir():
        shutil.copytree(sol, workdir, dirs_exist_ok=True)
    script = case.case_dir / "solution.sh"
    if script.is_file():
        subprocess.run(["sh", str(script)], cwd=workdir, check=True, env={**os.environ, **GIT_ID})
