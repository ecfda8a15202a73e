"""What a role's task must produce, shared by every LLM backend.

* :func:`workspace_for` — where a task's agent works and what it may write.
* :func:`task_prompt` — the user message describing the task.
* :class:`Outcome` — validates and emits the role's result (proposal / plan / commit /
  verdict / report), whether it arrives through a tool call (SDK backends) or a final JSON
  block (CLI backends, :func:`parse_json_block`).
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labconsole.agents.backends.base import AgentContext, Task
from labconsole.agents.emitter import Emitter
from labconsole.agents.sandbox import Workspace, is_protected

TASK_KINDS = {
    "researcher": "propose",
    "planner": "plan",
    "worker": "implement",
    "reviewer": "review",
    "reporter": "report",
}


COMMIT_EXCLUDES = ("**/__pycache__/**", "**/*.pyc", ".claude/**", ".agents/**", ".codex/**")


class OutcomeError(ValueError):
    """The model's result is malformed; the message goes back to it so it can repair."""


def workspace_for(role: str, task: Task, ctx: AgentContext) -> Workspace:
    p = task.payload
    if role == "worker":
        if not p.get("worktree"):
            raise OutcomeError("implement task has no 'worktree' in its payload")
        return Workspace(Path(p["worktree"]), writable=True, protected=tuple(p.get("protected") or ()))
    if role == "reporter":
        session_dir = Path(p.get("session_dir") or ctx.lab_root)
        out = Path(p["out"]) if p.get("out") else session_dir / "report.md"
        return Workspace(session_dir, writable=False, write_files=(out,))
    return Workspace(ctx.lab_root, writable=False)


def check_task_kind(role: str, task: Task) -> None:
    want = TASK_KINDS.get(role)
    if want and task.kind != want:
        raise OutcomeError(f"role {role} handles '{want}' tasks, got '{task.kind}'")


JSON_SHAPES = {
    "researcher": '{"proposals": [{"title": "...", "params": {...}, "rationale": "...", "source": "...", "priority": 0.5}]}',
    "planner": '{"decision": "queue" or "duplicate", "of": "<earlier id, for duplicate>", "similarity": 0.0, "priority": 0.5, "reason": "..."}',
    "reviewer": '{"verdict": "pass" or "flag" or "reject", "reasons": ["..."]}',
}


def task_prompt(role: str, task: Task, json_block: bool) -> str:
    """The task as a user message. ``json_block``: the backend has no result tools (CLI)."""
    body = json.dumps(task.payload, indent=2, sort_keys=True, default=str)
    lines = [f"Task {task.id} ({task.kind}) for the {role}. Payload:", "```json", body, "```", ""]
    p = task.payload
    if role == "worker":
        hyp = p.get("hypothesis") or {}
        lines.append(
            f"Your working directory is the worktree {p.get('worktree')} on branch {p.get('branch')}. "
            f"Implement hypothesis {hyp.get('id')}: {hyp.get('title')} with params "
            f"{json.dumps(hyp.get('params', {}), sort_keys=True)}. Protected (never edit): "
            f"{', '.join(p.get('protected') or []) or 'none'}."
        )
        lines.append(
            "When done, stop; the console commits what you changed."
            if json_block
            else "When done, call the commit tool with a one-line message."
        )
    elif role == "reporter":
        lines.append(
            f"Write the report to {p.get('out')}."
            + (
                " If you cannot write files, answer with the full Markdown report as your final message."
                if json_block
                else ""
            )
        )
    elif json_block:
        lines.append("End your answer with exactly one fenced ```json block of this shape (nothing after it):")
        lines.append(JSON_SHAPES[role])
    else:
        tool = {"researcher": "propose", "planner": "decide", "reviewer": "verdict"}[role]
        lines.append(f"Give your result with the `{tool}` tool.")
    return "\n".join(lines)


_FENCE = re.compile(r"```(?:json)?\s*\n(.*?)```", re.DOTALL)


def parse_json_block(text: str) -> dict[str, Any]:
    """The last fenced JSON object in ``text`` (or the text itself when it is bare JSON)."""
    candidates = [m.group(1) for m in _FENCE.finditer(text or "")]
    stripped = (text or "").strip()
    if stripped.startswith("{"):
        candidates.append(stripped)
    for raw in reversed(candidates):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    raise OutcomeError("no ```json block with a JSON object found at the end of the answer")


def _text(data: dict[str, Any], key: str, required: bool = True) -> str:
    value = data.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise OutcomeError(f"'{key}' must be a non-empty string")
    return value.strip()


def _unit(data: dict[str, Any], key: str) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise OutcomeError(f"'{key}' must be a number between 0 and 1")
    return float(value)


def git(worktree: Path, *args: str) -> str:
    proc = subprocess.run(["git", "-C", str(worktree), *args], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise OutcomeError(f"git {' '.join(args)} failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout


@dataclass
class Outcome:
    role: str
    task: Task
    emit: Emitter
    workspace: Workspace
    proposals: int = 0
    decided: bool = False
    commits: list[str] = field(default_factory=list)
    verdict_given: bool = False
    report_path: Path | None = None

    @property
    def hypothesis_id(self) -> str:
        hyp = self.task.payload.get("hypothesis") or {}
        return str(hyp.get("id") or "")

    @property
    def wanted(self) -> int:
        return int(self.task.payload.get("count") or 1)

    # -- results ---------------------------------------------------------------------------

    def propose(self, data: dict[str, Any]) -> str:
        if self.proposals >= self.wanted:
            raise OutcomeError(f"you already made the {self.wanted} proposal(s) asked for; stop now")
        params = data.get("params")
        if not isinstance(params, dict) or not params:
            raise OutcomeError("'params' must be a non-empty object: the one change this hypothesis makes")
        title, rationale, source = _text(data, "title"), _text(data, "rationale"), _text(data, "source")
        self.emit.proposal(title, params, rationale, source, _unit(data, "priority"))
        self.proposals += 1
        return f"proposal {self.proposals}/{self.wanted} recorded: {title}"

    def decide(self, data: dict[str, Any]) -> str:
        if self.decided:
            raise OutcomeError("this hypothesis is already decided; decide exactly once")
        decision = data.get("decision")
        if decision not in ("queue", "duplicate"):
            raise OutcomeError("'decision' must be 'queue' or 'duplicate'")
        of = data.get("of")
        if decision == "duplicate" and not of:
            raise OutcomeError("a duplicate needs 'of': the id of the earlier hypothesis")
        reason = _text(data, "reason", required=False)
        self.emit.plan(
            self.hypothesis_id, decision, _unit(data, "priority"), str(of) if of else None, _unit(data, "similarity")
        )
        if reason:
            self.emit.log(f"plan {self.hypothesis_id}: {decision} — {reason}")
        self.decided = True
        return f"{self.hypothesis_id}: {decision}"

    def verdict(self, data: dict[str, Any]) -> str:
        verdict = data.get("verdict")
        if verdict not in ("pass", "flag", "reject"):
            raise OutcomeError("'verdict' must be 'pass', 'flag' or 'reject'")
        reasons = data.get("reasons")
        if isinstance(reasons, str):
            reasons = [reasons]
        if not isinstance(reasons, list) or not reasons or not all(isinstance(r, str) for r in reasons):
            raise OutcomeError("'reasons' must be a non-empty list of strings")
        self.emit.verdict(self.hypothesis_id, verdict, reasons)
        self.verdict_given = True
        return f"verdict {verdict} recorded"

    def commit(self, message: str) -> str:
        """Commit everything changed in the worktree; protected edits are committed but warned
        about (the console's byte-for-byte check and the reviewer are the judges)."""
        wt = self.workspace.root
        message = (
            message or ""
        ).strip() or f"{self.hypothesis_id}: {(self.task.payload.get('hypothesis') or {}).get('title', '')}"
        # Bytecode caches from test runs and harness folders (skills installed for claude/codex)
        # are never part of a candidate.
        git(wt, "add", "-A", "--", ".", *(f":(exclude,glob){p}" for p in COMMIT_EXCLUDES))
        changed = [f for f in git(wt, "diff", "--cached", "--name-only").splitlines() if f]
        if not changed:
            raise OutcomeError("nothing to commit: the worktree has no changes")
        touched = [f for f in changed if is_protected(f, self.workspace.protected)]
        if touched:
            self.emit.log(f"worker changed protected files: {', '.join(touched)}", level="warning")
        git(
            wt,
            "-c",
            "user.name=labconsole-agent",
            "-c",
            "user.email=agent@labconsole.invalid",
            "commit",
            "-q",
            "--no-verify",
            "-m",
            message,
        )
        sha = git(wt, "rev-parse", "HEAD").strip()
        self.emit.commit(self.hypothesis_id, sha, message.splitlines()[0])
        self.commits.append(sha)
        return f"committed {sha[:12]} ({len(changed)} files: {', '.join(changed[:10])})"

    def reported(self) -> str:
        out = self.workspace.write_files[0] if self.workspace.write_files else None
        if out is None or not out.is_file() or not out.stat().st_size:
            raise OutcomeError(f"the report was not written to {out}")
        self.report_path = out
        self.emit.report(str(out))
        return f"report written: {out}"

    # -- completeness -----------------------------------------------------------------------

    def missing(self) -> str | None:
        """What the task still lacks (sent back to the model once), or ``None`` when complete."""
        if self.role == "researcher" and self.proposals == 0:
            return "You have not proposed anything yet. Use the propose tool."
        if self.role == "planner" and not self.decided:
            return "You have not decided. Call the decide tool exactly once."
        if self.role == "reviewer" and not self.verdict_given:
            return "You have not given a verdict. Call the verdict tool."
        if self.role == "worker" and not self.commits:
            return "Nothing is committed yet. Make the change, then call the commit tool."
        if self.role == "reporter" and self.report_path is None:
            out = self.workspace.write_files[0] if self.workspace.write_files else None
            if out is not None and out.is_file() and out.stat().st_size:
                self.reported()
                return None
            return f"The report is not written yet. Write it to {out} with write_file."
        return None

    def apply_json(self, data: dict[str, Any]) -> None:
        """A CLI backend's final JSON block → the role's events."""
        if self.role == "researcher":
            proposals = data.get("proposals", [data] if "title" in data else None)
            if not isinstance(proposals, list) or not proposals:
                raise OutcomeError("'proposals' must be a non-empty list")
            for item in proposals[: self.wanted]:
                if not isinstance(item, dict):
                    raise OutcomeError("each proposal must be an object")
                self.propose(item)
        elif self.role == "planner":
            self.decide(data)
        elif self.role == "reviewer":
            self.verdict(data)
