from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from labconsole.cli.headless import run_headless
from labconsole.demo import create_demo_lab
from labconsole.lab.service import Lab
from labconsole.lab.state import LabState


def make_demo_lab(
    dest: Path, budget: int = 2, repeats: int = 2, workers: int = 2, max_repeats: int | None = None
) -> Path:
    """The demo lab, small. ``max_repeats`` defaults to ``repeats``: no adaptive extra pairs, so tests that
    are not about the gate's statistics keep their run count (and CI its time)."""
    lab = create_demo_lab(dest)
    toml = lab / "lab.toml"
    text = toml.read_text()
    text = re.sub(r"(?m)^budget\s*=\s*\d+", f"budget = {budget}", text)
    text = re.sub(r"(?m)^repeats\s*=\s*\d+", f"repeats = {repeats}", text)
    text = re.sub(r"(?m)^max_repeats\s*=.*\n", "", text)
    text = text.replace(f"repeats = {repeats}\n", f"repeats = {repeats}\nmax_repeats = {max_repeats or repeats}\n", 1)
    text = re.sub(r"(?m)^worker\s*=.*$", f'worker = {{ backend = "sweep", count = {workers} }}', text)
    # two hypotheses measured side by side (each run is one thread): CI's two cores both work
    text = text.replace('executor = "local"\n', 'executor = "local"\nmax_parallel_runs = 2\n', 1)
    toml.write_text(text)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "test settings"], cwd=lab, check=True
    )
    return lab


def headless_session(lab_root: Path, timeout_s: float = 240) -> tuple[LabState, Path]:
    """A fresh session of the lab at ``lab_root``, run headless to its end: its final state and its folder."""
    lab = Lab.start_session(lab_root)
    try:
        return run_headless(lab, timeout_s=timeout_s, echo=False), lab.session_dir
    finally:
        lab.close()


@pytest.fixture
def demo_lab(tmp_path: Path) -> Path:
    return make_demo_lab(tmp_path / "lab")
