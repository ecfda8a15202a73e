"""Run the hostile script through each backend's door and read back what it could do: a measured candidate
(what a sweep or any worker produces), a tool-loop agent's ``run_command`` (openai/anthropic backends), and
the real claude / codex CLIs against the scripted local model server. Shared by the escape tests and
``benchmarks/escape_suite.py``."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from labconsole.agents.sandbox import CommandSandbox, Workspace
from labconsole.lab.gitops import LabRepo
from labconsole.runs.local import LocalExecutor, RunRequest
from tests.escape.world import CASES, World, parse
from tests.helpers.run_recorder import RunRecorder

COMMAND = "python3 hostile.py targets.json"
# A CLI agent shares the host network (it must reach its model endpoint): a TCP connection is not an escape
# there, it is what the README says an agent can still do.
AGENT_CASES = tuple(c for c in CASES if c != "network_tcp")
ROOT = Path(__file__).resolve().parents[2]
NPM_PREFIX = Path(os.environ.get("LABCONSOLE_NPM_PREFIX") or ROOT / ".labconsole-cache" / "npm")


def measured(world: World) -> tuple[dict[str, str], str]:
    """The hostile script as the objective of a measurement run (the sweep backend's path to code)."""
    results, output, _ = measured_run(world)
    return results, output


def measured_run(world: World) -> tuple[dict[str, str], str, list[tuple[str, dict[str, Any]]]]:
    """:func:`measured`, with the run's events (kind, data) as the executor appended them."""
    repo, rec = LabRepo(world.lab), RunRecorder()
    LocalExecutor(rec.context(repo, world.lab)).run_once(RunRequest("r1", "h1", "candidate", repo.head_sha(), 0, {}))
    output = rec.blobs[rec.first("run.finished")["log_blob"]].decode()
    return parse(output), output, rec.events


def worker_worktree(world: World) -> Path:
    """A worker's worktree where the console makes them: ``<lab>/.labconsole/worktrees/<hyp>``."""
    wt = world.lab / ".labconsole" / "worktrees" / "h1"
    if not wt.exists():
        subprocess.run(
            ["git", "-C", str(world.lab), "worktree", "add", "-q", "-b", "lab/h1", str(wt)],
            check=True,
            capture_output=True,
        )
    return wt


def tool_loop(world: World) -> tuple[dict[str, str], str]:
    """The hostile script as a ``run_command`` of the openai/anthropic tool loop (a worker)."""
    result = CommandSandbox(Workspace(worker_worktree(world), writable=True)).run(COMMAND, timeout_s=60)
    return parse(result.output), result.output


def cli_path(backend: str) -> Path | None:
    exe = NPM_PREFIX / "node_modules" / ".bin" / ("claude" if backend == "claude-code" else "codex")
    return exe if exe.exists() else None


def cli_agent(world: World, backend: str, home: Path) -> tuple[dict[str, str], str]:
    """The hostile script as the Bash / exec_command tool call of a real CLI worker (the model is scripted)."""
    import io

    from helpers.model_server import ModelServer, Reply
    from labconsole.agents.backends import load_backend
    from labconsole.agents.backends.base import AgentContext, Task
    from labconsole.agents.emitter import Emitter

    wt = worker_worktree(world)
    exe = cli_path(backend)
    assert exe is not None
    tool = ("Bash", {"command": COMMAND}) if backend == "claude-code" else ("exec_command", {"cmd": COMMAND})
    home.mkdir(parents=True, exist_ok=True)
    with ModelServer() as server:
        server.add(Reply(tool_calls=[tool]), Reply(text="Done."))
        if backend == "claude-code":
            os.environ.setdefault("ANTHROPIC_API_KEY", "sk-ant-api03-ESCAPEtest0123456789abcdef")
            options = {
                "cli_path": str(exe),
                "home": str(home),
                "timeout_s": 120,
                "env": {"ANTHROPIC_BASE_URL": server.url, "CLAUDE_CODE_MAX_RETRIES": "0"},
            }
            model = "claude-sonnet-4-6"
        else:
            os.environ.setdefault("OPENAI_API_KEY", "sk-proj-ESCAPEtest0123456789abcdef")
            options = {
                "cli_path": str(exe),
                "home": str(home),
                "base_url": server.url + "/v1",
                "max_retries": 0,
                "timeout_s": 120,
            }
            model = "gpt-5.5"
        ctx = AgentContext(
            agent_id="worker-1", role="worker", backend=backend, model=model, lab_root=world.lab, options=options
        )
        payload = {
            "hypothesis": {"id": "h1", "title": "escape", "params": {}, "rationale": ""},
            "worktree": str(wt),
            "branch": "lab/h1",
            "protected": [],
            "edit": {},
        }
        buf = io.StringIO()
        try:
            load_backend(backend)(ctx).handle(Task("t1", "implement", payload), Emitter(buf))
        except Exception:  # noqa: BLE001 - the worker changes nothing: its task fails, what matters is the output
            pass
        seen = "\n".join(_strings([r.body for r in server.requests]))
    return parse(seen), seen + "\n" + buf.getvalue()


def _strings(obj: Any) -> list[str]:
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in _strings(v)]
    if isinstance(obj, list):
        return [s for v in obj for s in _strings(v)]
    return []
