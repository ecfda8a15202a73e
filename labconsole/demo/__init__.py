"""The offline demo lab shipped with LabConsole (``labconsole demo``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from importlib import resources
from pathlib import Path

from labconsole.errors import GitStateError, LabError

_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "result.json")


def demo_source() -> Path:
    return Path(str(resources.files("labconsole.demo") / "lab"))


def create_demo_lab(dest: Path) -> Path:
    """Copy the demo lab into ``dest`` and make it a git repository with one commit."""
    dest = Path(dest).resolve()
    if dest.exists() and any(dest.iterdir()):
        raise LabError(f"{dest} exists and is not empty: pick a new --dir")
    if shutil.which("git") is None:
        raise GitStateError("git not found on PATH: install git")
    shutil.copytree(demo_source(), dest, ignore=_SKIP, dirs_exist_ok=True)
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "LabConsole demo",
        "GIT_AUTHOR_EMAIL": "demo@labconsole.invalid",
        "GIT_COMMITTER_NAME": "LabConsole demo",
        "GIT_COMMITTER_EMAIL": "demo@labconsole.invalid",
    }
    for cmd in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "add", "-A"],
        ["git", "commit", "-q", "-m", "Demo lab: tiny char-LM baseline"],
    ):
        result = subprocess.run(cmd, cwd=dest, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise GitStateError(f"{' '.join(cmd)} failed in {dest}: {result.stderr.strip()}")
    return dest


def default_demo_dir() -> Path:
    base = Path(os.environ.get("LABCONSOLE_DEMO_DIR", Path.home() / ".cache" / "labconsole" / "demos"))
    return base / time.strftime("demo-%Y%m%d-%H%M%S")
