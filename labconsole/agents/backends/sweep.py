"""The offline ``sweep`` backend: every role without keys, network or GPU.

* researcher — one change per hypothesis: picks the least-explored parameter of
  ``[search.space]`` and asks an optuna TPE study (ask-and-tell, seeded with the
  measured history of that parameter) for its next value.
* planner — dedupes against every earlier hypothesis (labconsole.core.dedupe) and queues.
* worker — rewrites the ``NAME = value`` line in its worktree and commits.
* reporter — renders the report from the session log alone (``labconsole report``).

It reads no prompt, so the person's instructions (``[lab] instructions``, handed to workers as the
``instructions_*`` options) are ignored here on purpose: the sweep only sets the values it was given.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Any

from labconsole.agents.backends.base import AgentContext, Task
from labconsole.agents.emitter import Emitter
from labconsole.core.dedupe import find_duplicate
from labconsole.core.params import format_value, read_params, write_params


class SweepBackend:
    def __init__(self, ctx: AgentContext) -> None:
        self.ctx = ctx

    def handle(self, task: Task, emit: Emitter) -> None:
        handler = {
            "propose": self._propose,
            "plan": self._plan,
            "implement": self._implement,
            "report": self._report,
        }.get(task.kind)
        if handler is None:
            raise ValueError(f"the sweep backend cannot do {task.kind!r} tasks (role {self.ctx.role})")
        handler(task.payload, emit)

    # --- researcher -------------------------------------------------------------------------------

    def _propose(self, payload: dict[str, Any], emit: Emitter) -> None:
        import optuna  # imported here: only the researcher pays for it

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        space: list[dict[str, Any]] = payload["search_space"]
        baseline: dict[str, Any] = payload.get("baseline_params", {})
        history: list[dict[str, Any]] = payload.get("history", [])
        minimize = payload["objective"].get("direction", "minimize") == "minimize"
        for n in range(int(payload.get("count", 1))):
            spec = self._least_explored(space, history)
            dist = _distribution(spec)
            study = optuna.create_study(
                direction="minimize" if minimize else "maximize",
                sampler=optuna.samplers.TPESampler(seed=_seed(self.ctx.agent_id, len(history) + n), n_startup_trials=3),
            )
            # Tell the study what was measured for this parameter (one-change hypotheses only).
            told = 0
            for item in history:
                params = item.get("params") or {}
                if set(params) == {spec["name"]} and item.get("metric") is not None:
                    study.add_trial(
                        optuna.trial.create_trial(
                            params=params, distributions={spec["name"]: dist}, value=float(item["metric"])
                        )
                    )
                    told += 1
            if spec["name"] in baseline and payload.get("baseline_metric") is not None:
                value = baseline[spec["name"]]
                if _in_range(spec, value):
                    study.add_trial(
                        optuna.trial.create_trial(
                            params={spec["name"]: value},
                            distributions={spec["name"]: dist},
                            value=float(payload["baseline_metric"]),
                        )
                    )
                    told += 1
            current = baseline.get(spec["name"])
            for _ in range(20):  # a value equal to the baseline is no change at all: ask again
                trial = study.ask({spec["name"]: dist})
                value = trial.params[spec["name"]]
                if current is None or not _same(value, current):
                    break
                # That value is the baseline itself: its result is known, or it is no change at all.
                if payload.get("baseline_metric") is not None:
                    study.tell(trial, float(payload["baseline_metric"]))
                else:
                    study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            title = f"Set {spec['name']} to {format_value(value)}" + (
                f" (from {format_value(current)})" if current is not None else ""
            )
            emit.tool_call("optuna.ask", f"{spec['name']} given {told} measured trials")
            emit.proposal(
                title=title,
                params={spec["name"]: value},
                rationale=(
                    f"TPE suggestion for {spec['name']} after {told} measured value(s) of it; "
                    f"one change against the current baseline."
                ),
                source=f"optuna TPESampler over [search.space] {spec['name']}",
            )
            history = history + [{"params": {spec["name"]: value}, "metric": None, "title": title}]

    @staticmethod
    def _least_explored(space: list[dict[str, Any]], history: list[dict[str, Any]]) -> dict[str, Any]:
        counts = {spec["name"]: 0 for spec in space}
        for item in history:
            for name in item.get("params") or {}:
                if name in counts:
                    counts[name] += 1
        return min(space, key=lambda spec: counts[spec["name"]])

    # --- planner ----------------------------------------------------------------------------------

    def _plan(self, payload: dict[str, Any], emit: Emitter) -> None:
        hyp = payload["hypothesis"]
        earlier = payload.get("earlier", [])
        match = find_duplicate(hyp.get("title", ""), hyp.get("params") or {}, earlier)
        emit.tool_call("dedupe", f"{hyp['id']} against {len(earlier)} earlier hypotheses")
        if match:
            emit.plan(hyp["id"], "duplicate", of=match.of, similarity=match.similarity)
            return
        # Prefer parameters that have been explored least.
        touched = sum(1 for e in earlier if set(e.get("params") or {}) & set(hyp.get("params") or {}))
        emit.plan(hyp["id"], "queue", priority=round(1.0 / (1 + touched), 3))

    # --- worker -----------------------------------------------------------------------------------

    def _implement(self, payload: dict[str, Any], emit: Emitter) -> None:
        hyp = payload["hypothesis"]
        worktree = Path(payload["worktree"])
        target = worktree / payload["edit"]["file"]
        emit.status("working", hypothesis=hyp["id"], detail=f"editing {target.name}")
        before = target.read_text(encoding="utf-8")
        after = write_params(before, hyp["params"])
        if after == before:
            raise ValueError(f"{target.name} already has {hyp['params']}: this hypothesis changes nothing")
        target.write_text(after, encoding="utf-8")
        emit.tool_call(
            "edit", f"{target.name}: {', '.join(f'{k}={format_value(v)}' for k, v in hyp['params'].items())}"
        )
        check = read_params(after, list(hyp["params"]))
        if check != {k: v for k, v in hyp["params"].items()} and not _close(check, hyp["params"]):
            raise RuntimeError(f"edit did not take: {check} != {hyp['params']}")
        sha = _git_commit(worktree, f"{hyp['title']}\n\nHypothesis {hyp['id']}: {hyp.get('rationale', '')}")
        emit.tool_call("git commit", sha[:12])
        emit.commit(hyp["id"], sha, hyp["title"])

    # --- reporter ---------------------------------------------------------------------------------

    def _report(self, payload: dict[str, Any], emit: Emitter) -> None:
        # The report is rendered from the log by the console's own `labconsole report` command,
        # the tool a person would use: agents sit below the lab layer and never import it.
        session_dir, out = Path(payload["session_dir"]), Path(payload["out"])
        argv = [
            sys.executable,
            "-m",
            "labconsole",
            "report",
            "--lab",
            str(self.ctx.lab_root),
            "--session",
            str(session_dir),
        ]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise RuntimeError(f"labconsole report failed: {(proc.stderr or proc.stdout).strip()[-500:]}")
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(out.suffix + ".tmp")
        tmp.write_text(proc.stdout, encoding="utf-8")
        tmp.replace(out)
        emit.tool_call("write_report", str(out))
        emit.report(str(out))


def _distribution(spec: dict[str, Any]) -> Any:
    import optuna.distributions as d

    if spec["type"] == "float":
        return d.FloatDistribution(spec["low"], spec["high"], log=bool(spec.get("log")))
    if spec["type"] == "int":
        return d.IntDistribution(int(spec["low"]), int(spec["high"]), step=int(spec.get("step") or 1))
    return d.CategoricalDistribution(list(spec["choices"]))


def _in_range(spec: dict[str, Any], value: Any) -> bool:
    if spec["type"] == "categorical":
        return value in spec["choices"]
    try:
        return spec["low"] <= float(value) <= spec["high"]
    except (TypeError, ValueError):
        return False


def _same(a: Any, b: Any) -> bool:
    try:
        return abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(b)))
    except (TypeError, ValueError):
        return a == b


def _close(a: dict[str, Any], b: dict[str, Any]) -> bool:
    try:
        return all(abs(float(a[k]) - float(v)) <= 1e-6 * max(1.0, abs(float(v))) for k, v in b.items())
    except (KeyError, TypeError, ValueError):
        return False


def _seed(agent_id: str, n: int) -> int:
    return int(hashlib.sha256(f"{agent_id}:{n}".encode()).hexdigest()[:8], 16)


def _git_commit(worktree: Path, message: str) -> str:
    env_args = ["-c", "user.name=LabConsole sweep worker", "-c", "user.email=sweep@labconsole.invalid"]
    subprocess.run(["git", *env_args, "add", "-A"], cwd=worktree, check=True, capture_output=True)
    subprocess.run(["git", *env_args, "commit", "-q", "-m", message], cwd=worktree, check=True, capture_output=True)
    out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=worktree, check=True, capture_output=True, text=True)
    return out.stdout.strip()
