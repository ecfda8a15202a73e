"""A real session survives agents that print garbage, hang, or exit — and the log says what happened."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from labconsole.agents.supervisor import Supervision
from labconsole.cli.headless import run_headless
from labconsole.events.audit import verify_session
from labconsole.events.log import read_events
from labconsole.lab import state as S
from labconsole.lab.service import Lab
from labconsole.lab.orchestrator import OrchestratorOptions

pytestmark = pytest.mark.slow

# Misbehaves on its first start only (a marker file remembers), then becomes the real agent.
WRAPPER = textwrap.dedent("""
    import os, sys, time
    mode, marker = sys.argv[1], sys.argv[2]
    first = not os.path.exists(marker)
    open(marker, "a").close()
    if mode == "garbage":
        print("Traceback (most recent call last): not protocol", flush=True)
        print("{broken json", flush=True)
    elif first and mode == "hang":
        print('{"type": "hello", "protocol": 1, "role": "researcher", "backend": "sweep", "model": ""}', flush=True)
        time.sleep(600)
    elif first and mode == "exit":
        sys.exit(7)
    os.execv(sys.executable, [sys.executable, "-m", "labconsole.agents.runner", *sys.argv[3:]])
""")


def argv(tmp_path: Path, mode: str, agent_id: str, role: str, backend: str, lab: Path) -> list[str]:
    script = tmp_path / "wrapper.py"
    script.write_text(WRAPPER)
    return [
        sys.executable,
        str(script),
        mode,
        str(tmp_path / f"{agent_id}.marker"),
        "--role",
        role,
        "--backend",
        backend,
        "--model",
        "",
        "--agent-id",
        agent_id,
        "--lab-root",
        str(lab),
        "--heartbeat-s",
        "0.5",
    ]


def test_session_completes_despite_garbage_hang_and_crash(demo_lab: Path, tmp_path: Path) -> None:
    lab = Lab.start_session(demo_lab)
    overrides = {
        "planner": argv(tmp_path, "garbage", "planner", "planner", "sweep", demo_lab),
        "researcher": argv(tmp_path, "hang", "researcher", "researcher", "sweep", demo_lab),
        "worker-1": argv(tmp_path, "exit", "worker-1", "worker", "sweep", demo_lab),
    }
    supervision = Supervision(hang_timeout_s=3.0, heartbeat_s=0.5, backoff_s=(0.2, 1.0))
    lab.start(OrchestratorOptions(supervision=supervision, agent_argv=overrides))
    try:
        state = run_headless(lab, timeout_s=300, echo=False)
    finally:
        lab.close()
    events = list(read_events(lab.session_dir))
    raw = [e for e in events if e.kind == "agent.raw" and e.data["agent_id"] == "planner"]
    assert {e.data["text"] for e in raw} >= {"Traceback (most recent call last): not protocol", "{broken json"}
    exits = {(e.data["agent_id"], e.data["reason"]) for e in events if e.kind == "agent.exited"}
    assert ("researcher", "hung") in exits and ("worker-1", "crashed") in exits
    assert any(e.kind == "agent.restarting" and e.data["agent_id"] == "researcher" for e in events)
    assert state.agents["researcher"].restarts >= 1
    # and the lab still did its job
    assert len(state.hypotheses) == 2
    assert all(h.status in (S.AWAITING_HUMAN, S.FAILED, S.DUPLICATE) for h in state.hypotheses.values())
    assert verify_session(lab.session_dir).ok
