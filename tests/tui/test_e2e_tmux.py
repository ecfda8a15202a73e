"""End to end: the real `labconsole demo` in tmux; approve (confirming reviewer flags) and merge on the keyboard,
then check the merge in git and the approval in the audited log."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.waiting import wait_for

pytestmark = [pytest.mark.tmux, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def _events(lab: Path) -> list[dict]:
    logs = sorted(lab.glob("sessions/*/events.jsonl"))
    if not logs:
        return []
    out = []
    for line in logs[-1].read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass  # a line being written
    return out


class Tmux:
    def __init__(self, name: str) -> None:
        self.name = name

    def run(self, *args: str) -> str:
        return subprocess.run(["tmux", *args], capture_output=True, text=True, check=False).stdout

    def keys(self, *keys: str) -> None:
        for key in keys:
            self.run("send-keys", "-t", self.name, key)
            time.sleep(0.3)

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", self.name)

    def alive(self) -> bool:
        return subprocess.run(["tmux", "has-session", "-t", self.name], capture_output=True).returncode == 0


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (apt-get install tmux)")
def test_demo_approve_and_merge_on_the_keyboard(tmp_path: Path) -> None:
    lab = tmp_path / "lab"
    cmd = (
        f"cd {ROOT} && XDG_CONFIG_HOME={tmp_path} {sys.executable} -c "
        f"'import sys; from labconsole.cli import main; sys.exit(main())' demo --dir {lab} --budget 2"
        f"; echo $? > {tmp_path}/rc"
    )
    tmux = Tmux(f"lc-e2e-{uuid.uuid4().hex[:8]}")
    env = {**os.environ, "TERM": "xterm-256color"}
    subprocess.run(["tmux", "new-session", "-d", "-s", tmux.name, "-x", "140", "-y", "40", cmd], check=True, env=env)
    try:
        hyp = wait_for(
            lambda: next((e["data"]["hyp_id"] for e in _events(lab) if e["kind"] == "hypothesis.awaiting_human"), None),
            240,  # the demo measures 3 pairs, and more (adaptive repeats) while a candidate is undecided
            "a candidate awaiting review",
        )
        wait_for(lambda: "LIVE" in tmux.screen(), 10, "the console")
        tmux.keys("2")
        wait_for(lambda: "awaiting-human" in tmux.screen(), 10, "the review screen")
        tmux.keys("a")
        time.sleep(1.0)
        if "Approve anyway?" in tmux.screen():  # the reviewer flagged it: confirm
            tmux.keys("y")
        approved = wait_for(
            lambda: [e for e in _events(lab) if e["kind"] == "decision.approved"], 20, "the approval in the log"
        )
        hyp = approved[0]["data"]["hyp_id"]
        assert approved[0]["actor"].startswith("human:")
        time.sleep(0.5)
        tmux.keys("m")
        # Merging confirms with what will happen: the candidate, its commit and main's head.
        wait_for(
            lambda: f"Merge {hyp} (" in tmux.screen() and " into main at " in tmux.screen(),
            10,
            "the merge confirmation",
        )
        assert not [e for e in _events(lab) if e["kind"] == "merge.completed"]  # nothing merged before the yes
        tmux.keys("y")
        merged = wait_for(
            lambda: [e for e in _events(lab) if e["kind"] == "merge.completed"], 30, "the merge in the log"
        )
        assert merged[0]["data"]["hyp_id"] == hyp
        log = subprocess.run(
            ["git", "-C", str(lab), "log", "--format=%H %s", "main"], capture_output=True, text=True, check=True
        ).stdout
        assert f"Merge {hyp}:" in log
        assert merged[0]["data"]["merge_sha"] in log
        tmux.keys("q")
        wait_for(lambda: "Stop the agents" in tmux.screen() or "Stop agents" in tmux.screen(), 10, "the quit question")
        tmux.keys("s")
        wait_for(lambda: (tmp_path / "rc").exists(), 60, "the console to exit")
        assert (tmp_path / "rc").read_text().strip() == "0"
        session = sorted(lab.glob("sessions/*/events.jsonl"))[-1].parent
        audit = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from labconsole.cli import main; sys.exit(main())",
                "audit",
                "verify",
                str(session),
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={**os.environ, "XDG_CONFIG_HOME": str(tmp_path)},  # the person's key is the demo's (trusted)
        )
        assert audit.returncode == 0, audit.stdout + audit.stderr
    finally:
        if tmux.alive():
            tmux.run("kill-session", "-t", tmux.name)
