"""A small lab for the executor tests: an objective whose behaviour is chosen by the commit (mode.txt)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.helpers.git_lab import init_lab
from tests.helpers.lab_toml import lab_toml


def sh(*argv: str, cwd: Path | None = None) -> str:
    return subprocess.run(argv, cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


OBJECTIVE = """
import json, os, sys, time
mode = open("mode.txt").read().strip()
if mode == "sleep": time.sleep(60)
if mode == "slow": time.sleep(8)
if mode == "crash": sys.exit("boom: the objective crashed")
if mode == "tamper": open("prepare.py", "a").write("# cheat\\n")
if mode == "stream":  # a line, then a pause: it must reach the console before the run ends
    print("early hf_" + "A" * 24, flush=True)
    time.sleep(3)
    print("late", flush=True)
if mode == "flood":
    for i in range(5000): print("flood", i)
json.dump({"loss": 1.0 + int(os.environ["LABCONSOLE_SEED"]) + (0.5 if mode == "better" else 0.0)},
          open("result.json", "w"))
print("ran", mode, os.environ["LABCONSOLE_RUN_ID"])
"""


def make_lab(root: Path, executor: str) -> tuple[Path, dict[str, str]]:
    """A lab repository with one commit per objective mode (stream, flood, ok, better, sleep, slow, tamper, crash) and
    ``executor`` (an ``[executor]`` table) in its lab.toml; returns it and the commit of each mode."""
    toml = lab_toml(
        command="python objective.py",
        metric="json:result.json#loss",
        timeout_s=90,
        protected=("prepare.py",),
        search_file="objective.py",
        space='lr = { type = "float", low = 0.001, high = 0.1 }',
        tail=executor,
    )
    lab = init_lab(root / "lab", {"objective.py": OBJECTIVE, "prepare.py": "# evaluator\n", "lab.toml": toml})
    shas: dict[str, str] = {}
    for mode in ("stream", "flood", "ok", "better", "sleep", "slow", "tamper", "crash"):
        (lab / "mode.txt").write_text(mode + "\n")
        sh("git", "add", "-A", cwd=lab)
        sh("git", "commit", "-q", "-m", mode, cwd=lab)
        shas[mode] = sh("git", "rev-parse", "HEAD", cwd=lab)
    return lab, shas
