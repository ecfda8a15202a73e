"""Shared test configuration: GPU tests skip with a stated reason when no CUDA device is present."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # so tests can `import helpers.…`

# Trackio writes under HF_HOME-like dirs; keep tests hermetic and offline.
os.environ.setdefault("TRACKIO_DIR", str(ROOT / ".pytest_trackio"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# Decisions are signed with a key created on first use under $XDG_CONFIG_HOME; seals go to $XDG_STATE_HOME.
# Tests (and the consoles they start) use a throw-away pair, never the engineer's own key.
_KEYS_HOME = tempfile.mkdtemp(prefix="labconsole-test-home-")
os.environ["XDG_CONFIG_HOME"] = os.path.join(_KEYS_HOME, "config")
os.environ["XDG_STATE_HOME"] = os.path.join(_KEYS_HOME, "state")


def _cuda_available() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:  # torch missing or broken: no GPU for our purposes
        return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _cuda_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU: none visible to torch on this machine")
    for item in items:
        if item.get_closest_marker("gpu") is not None:
            item.add_marker(skip_gpu)
