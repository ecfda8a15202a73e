"""Fixtures for the agent tests: a tiny git lab with a worker worktree, the scripted model
server, in-process backends, and the npm-installed CLIs (installed once, cached)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers.model_server import ModelServer, Reply
from labconsole.agents.backends import load_backend
from labconsole.agents.backends.base import AgentContext, Task
from labconsole.agents.emitter import Emitter
from helpers.git_lab import init_lab

ROOT = Path(__file__).resolve().parents[2]
# The same place tests/helpers/install_clis.sh installs to (a worktree may point at a shared cache).
NPM_PREFIX = Path(os.environ.get("LABCONSOLE_NPM_PREFIX") or ROOT / ".labconsole-cache" / "npm")
API_KEY = "sk-ant-api03-TESTKEYtestkey0123456789abcdef"
OPENAI_KEY = "sk-proj-TESTKEYtestkey0123456789abcdef"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    """A lab repo: train.py (the thing to tune) and prepare.py (protected)."""
    return init_lab(tmp_path / "lab", {"train.py": "lr = 0.1\nsteps = 100\n", "prepare.py": "DATA = 'fixed'\n"})


@pytest.fixture
def worktree(lab: Path) -> Path:
    wt = lab.parent / "wt-h1"
    git(lab, "worktree", "add", "-q", "-b", "lab/h1", str(wt))
    return wt


def implement_payload(wt: Path) -> dict[str, Any]:
    return {
        "hypothesis": {"id": "h1", "title": "raise lr to 0.2", "params": {"lr": 0.2}, "rationale": "faster"},
        "worktree": str(wt),
        "branch": "lab/h1",
        "protected": ["prepare.py"],
        "edit": {},
    }


@pytest.fixture
def server() -> Iterator[ModelServer]:
    with ModelServer() as srv:
        yield srv


class Run:
    """One in-process task: the lines the backend emitted, parsed."""

    def __init__(self, lines: list[dict[str, Any]], error: BaseException | None) -> None:
        self.lines, self.error = lines, error

    def of(self, type_: str) -> list[dict[str, Any]]:
        return [m for m in self.lines if m["type"] == type_]

    def usage_total(self, key: str) -> float:
        return sum(m[key] for m in self.of("usage"))

    @property
    def text(self) -> str:
        return "\n".join(json.dumps(m) for m in self.lines)


def run_backend(
    backend: str,
    role: str,
    lab: Path,
    kind: str,
    payload: dict[str, Any],
    model: str = "",
    options: dict[str, Any] | None = None,
) -> Run:
    """Construct the backend in-process and run one task (what the runner does, minus the pipes)."""
    buf = io.StringIO()
    ctx = AgentContext(
        agent_id=f"{role}-1", role=role, backend=backend, model=model, lab_root=lab, options=options or {}
    )
    error = None
    try:
        load_backend(backend)(ctx).handle(Task("t1", kind, payload), Emitter(buf))
    except Exception as exc:  # noqa: BLE001 - the test inspects it
        error = exc
    return Run([json.loads(line) for line in buf.getvalue().splitlines()], error)


def propose_one(backend: str, lab: Path, model: str = "", options: dict[str, Any] | None = None) -> Run:
    """The task most backend tests run: the researcher proposes one hypothesis."""
    return run_backend(backend, "researcher", lab, "propose", {"count": 1}, model, options)


@pytest.fixture
def anthropic_env(monkeypatch: pytest.MonkeyPatch, server: ModelServer) -> ModelServer:
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
    return server


@pytest.fixture
def openai_env(monkeypatch: pytest.MonkeyPatch, server: ModelServer) -> ModelServer:
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", server.url + "/v1")
    return server


@pytest.fixture(scope="session")
def cli_bin() -> Path:
    """The npm-installed CLIs (``make test`` installs them; we retry once here if missing)."""
    bin_dir = NPM_PREFIX / "node_modules" / ".bin"
    err = NPM_PREFIX / "install-error.txt"
    installed = lambda: (bin_dir / "claude").exists() and (bin_dir / "codex").exists()  # noqa: E731
    # Retry the install unless it just failed (make test ran it a moment ago): keeps offline runs fast.
    if not installed() and not (err.exists() and time.time() - err.stat().st_mtime < 600):
        subprocess.run(["bash", str(ROOT / "tests" / "helpers" / "install_clis.sh")], timeout=600)
    if not installed():
        reason = err.read_text().strip() if err.exists() else "unknown reason"
        pytest.skip(f"claude/codex CLIs not installed: {reason}")
    return bin_dir


__all__ = ["Reply", "run_backend", "implement_payload", "git"]
