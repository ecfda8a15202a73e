"""GPU telemetry reaches the session log (low rate) and the state the views read, with owners attributed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from labconsole.cli.headless import run_headless
from labconsole.events.log import read_events
from labconsole.lab.service import Lab
from labconsole.lab.orchestrator import OrchestratorOptions

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gpu"))
from fake_nvml import FakeNvml, h100  # type: ignore[import-not-found]  # noqa: E402

from conftest import make_demo_lab  # type: ignore[import-not-found]  # noqa: E402

pytestmark = pytest.mark.slow


def test_gpu_samples_are_logged_and_reduced(tmp_path: Path) -> None:
    lab_dir = make_demo_lab(tmp_path / "lab", budget=1, workers=1)
    lab = Lab.start_session(lab_dir)
    lab.start(OrchestratorOptions(nvml=FakeNvml([h100(util=(87, 40))]), gpu_sample_period_s=1.0))
    try:
        state = run_headless(lab, timeout_s=180, echo=False)
    finally:
        lab.close()
    samples = [e for e in read_events(lab.session_dir) if e.kind == "gpu.sample"]
    assert samples, "no gpu.sample events"
    assert samples[0].data["gpus"][0]["util"] == 87
    assert state.gpu_samples and state.gpu_samples[-1]["gpus"][0]["util"] == 87
