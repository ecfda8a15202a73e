"""The tools an SDK-backed agent may call, confined by :mod:`labconsole.agents.sandbox`.

One :class:`ToolBox` per task: it offers the role spec's tools (minus the writing ones for
read-only roles), runs a call, and reports it as a ``tool_call`` event. Refusals are
``ok=false`` plus a ``refused: …`` log line. Results go back to the model as text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labconsole.agents.backends.outcomes import Outcome, OutcomeError
from labconsole.agents.emitter import Emitter
from labconsole.agents.sandbox import CommandSandbox, PathPolicy, Refused

MAX_RESULT_CHARS = 16_000
MAX_READ_BYTES = 2_000_000
SKIP_DIRS = frozenset({".git", "node_modules", "__pycache__", ".venv", ".labconsole-cache"})
WRITING_TOOLS = frozenset({"write_file", "edit_file", "commit"})


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    schema: dict[str, Any]  # JSON schema of the input object


def _obj(props: dict[str, Any], required: Iterable[str]) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": list(required)}


_S = {"type": "string"}
_NUM01 = {"type": "number", "minimum": 0, "maximum": 1}
SPECS: dict[str, ToolSpec] = {
    s.name: s
    for s in (
        ToolSpec(
            "read_file",
            "Read a text file of the workspace (optionally a line range).",
            _obj(
                {
                    "path": _S,
                    "offset": {"type": "integer", "description": "first line, 1-based"},
                    "limit": {"type": "integer", "description": "number of lines"},
                },
                ["path"],
            ),
        ),
        ToolSpec(
            "list_files",
            "List files of the workspace matching a glob (default: all, recursive).",
            _obj({"pattern": {"type": "string", "description": "glob relative to the workspace, e.g. '**/*.py'"}}, []),
        ),
        ToolSpec(
            "search",
            "Search file contents with a regular expression; returns path:line: text.",
            _obj(
                {"pattern": _S, "glob": {"type": "string", "description": "limit to files matching this glob"}},
                ["pattern"],
            ),
        ),
        ToolSpec(
            "write_file",
            "Create or overwrite a file in the worktree with the given content.",
            _obj({"path": _S, "content": _S}, ["path", "content"]),
        ),
        ToolSpec(
            "edit_file",
            "Replace one exact, unique occurrence of old_string with new_string in a file.",
            _obj({"path": _S, "old_string": _S, "new_string": _S}, ["path", "old_string", "new_string"]),
        ),
        ToolSpec(
            "run_command",
            "Run a shell command in the workspace (sandboxed, no network). Returns exit code and output.",
            _obj({"command": _S, "timeout_s": {"type": "number"}}, ["command"]),
        ),
        ToolSpec(
            "propose",
            "Propose one hypothesis: one change, with params, rationale and source.",
            _obj(
                {"title": _S, "params": {"type": "object"}, "rationale": _S, "source": _S, "priority": _NUM01},
                ["title", "params", "rationale", "source"],
            ),
        ),
        ToolSpec(
            "decide",
            "Queue the hypothesis (with a priority) or mark it a duplicate of an earlier one.",
            _obj(
                {
                    "decision": {"type": "string", "enum": ["queue", "duplicate"]},
                    "of": _S,
                    "similarity": _NUM01,
                    "priority": _NUM01,
                    "reason": _S,
                },
                ["decision", "reason"],
            ),
        ),
        ToolSpec(
            "verdict",
            "Give your verdict on the evidence: pass, flag or reject, with reasons.",
            _obj(
                {
                    "verdict": {"type": "string", "enum": ["pass", "flag", "reject"]},
                    "reasons": {"type": "array", "items": _S},
                },
                ["verdict", "reasons"],
            ),
        ),
        ToolSpec(
            "commit",
            "Commit every change in the worktree on the hypothesis branch.",
            _obj({"message": _S}, ["message"]),
        ),
    )
}


@dataclass
class ToolResult:
    call_id: str
    content: str
    ok: bool


def _clip(text: str, limit: int = MAX_RESULT_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + f"\n[… {len(text) - limit} more characters cut]"


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "object": (dict,),
    "array": (list,),
    "boolean": (bool,),
}


def argument_problems(spec: ToolSpec, args: dict[str, Any]) -> list[str]:
    """Why ``args`` do not fit the tool's schema, in words the model can act on ([] when they do)."""
    if "_unparsable_arguments" in args:
        return [f"the arguments are not valid JSON: {str(args['_unparsable_arguments'])[:200]!r}"]
    props = spec.schema.get("properties", {})
    problems = [f"missing required field {key!r}" for key in spec.schema.get("required", []) if key not in args]
    for key, value in args.items():
        want = props.get(key)
        if want is None:
            problems.append(f"unknown field {key!r} (fields: {', '.join(props)})")
            continue
        types = _JSON_TYPES.get(str(want.get("type")), (object,))
        if isinstance(value, bool) and bool not in types or not isinstance(value, types):
            problems.append(f"field {key!r} must be a {want.get('type')}, not {type(value).__name__}")
        elif "enum" in want and value not in want["enum"]:
            problems.append(f"field {key!r} must be one of {', '.join(map(str, want['enum']))}")
    return problems


def _summary(name: str, args: dict[str, Any]) -> str:
    """The short ``input`` of a tool_call event."""
    for key in ("command", "path", "pattern", "title", "decision", "verdict", "message"):
        if isinstance(args.get(key), str):
            return args[key]
    return json.dumps(args, sort_keys=True, default=str)[:200]


class ToolBox:
    def __init__(
        self,
        tool_names: Iterable[str],
        policy: PathPolicy,
        sandbox: CommandSandbox,
        outcome: Outcome,
        emit: Emitter,
        on_result: Callable[[str, bool], None] | None = None,
    ) -> None:
        ws = policy.workspace
        # Read-only roles lose the writing tools; the reporter keeps write_file for its one out file.
        names = [
            n
            for n in tool_names
            if n in SPECS and (ws.writable or n not in WRITING_TOOLS or (n == "write_file" and ws.write_files))
        ]
        self.specs = [SPECS[n] for n in names]
        self.policy, self.sandbox, self.outcome, self.emit = policy, sandbox, outcome, emit
        self._on_result = on_result or (lambda name, ok: None)
        self._handlers: dict[str, Callable[[dict[str, Any]], tuple[str, bool]]] = {
            "read_file": self._read,
            "list_files": self._list,
            "search": self._search,
            "write_file": self._write,
            "edit_file": self._edit,
            "run_command": self._run,
            "propose": lambda a: (outcome.propose(a), True),
            "decide": lambda a: (outcome.decide(a), True),
            "verdict": lambda a: (outcome.verdict(a), True),
            "commit": lambda a: (outcome.commit(str(a.get("message", ""))), True),
        }

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.specs]

    def call(self, call_id: str, name: str, args: Any) -> ToolResult:
        """Run one call and emit its ``tool_call`` event. Never raises for the model's mistakes."""
        if not isinstance(args, dict):
            args = {"_unparsable_arguments": json.dumps(args, default=str)}
        summary = _summary(name, args)
        try:
            if name not in self.names:
                raise Refused(f"tool {name!r} is not available to this role (available: {', '.join(self.names)})")
            problems = argument_problems(SPECS[name], args)
            if problems:  # the model can fix its call only if it is told what was wrong with it
                raise ValueError(f"invalid arguments for {name}: {'; '.join(problems)}")
            content, ok = self._handlers[name](args)
            self.emit.tool_call(name, summary, ok=ok, error=None if ok else content.splitlines()[-1][:300])
        except Refused as exc:
            content, ok = f"refused: {exc}", False
            self.emit.tool_call(name, summary, ok=False, error=content)
            self.emit.log(content, level="warning")
        except (OutcomeError, OSError, ValueError, KeyError, TypeError) as exc:
            content, ok = f"error: {exc}", False
            self.emit.tool_call(name, summary, ok=False, error=content)
        self._on_result(name, ok)
        return ToolResult(call_id, _clip(content), ok)

    # -- file tools --------------------------------------------------------------------------

    def _walk(self, pattern: str) -> list[Path]:
        root = self.policy.workspace.root
        files = []
        for p in sorted(root.glob(pattern or "**/*")):
            rel_parts = p.relative_to(root).parts
            if p.is_file() and not SKIP_DIRS.intersection(rel_parts):
                files.append(p)
        return files

    def _read(self, a: dict[str, Any]) -> tuple[str, bool]:
        p = self.policy.read(str(a["path"]))
        if not p.is_file():
            return f"error: no such file: {a['path']}", False
        if p.stat().st_size > MAX_READ_BYTES:
            return f"error: file too large ({p.stat().st_size} bytes); read a range with offset/limit", False
        lines = p.read_text(encoding="utf-8", errors="replace").splitlines()
        start = max(int(a.get("offset") or 1), 1)
        end = start - 1 + int(a["limit"]) if a.get("limit") else len(lines)
        return "\n".join(
            f"{i:>6}\t{line}" for i, line in enumerate(lines[start - 1 : end], start)
        ) or "(empty file)", True

    def _list(self, a: dict[str, Any]) -> tuple[str, bool]:
        pattern = str(a.get("pattern") or "**/*")
        if pattern.startswith("/") or ".." in Path(pattern).parts:
            raise Refused(f"glob outside the workspace: {pattern}")
        files = [self.policy.relative(p) for p in self._walk(pattern)]
        return "\n".join(files[:1000]) or "(no files)", True

    def _search(self, a: dict[str, Any]) -> tuple[str, bool]:
        try:
            rx = re.compile(str(a["pattern"]))
        except re.error as exc:
            return f"error: bad regular expression: {exc}", False
        glob = str(a.get("glob") or "**/*")
        if glob.startswith("/") or ".." in Path(glob).parts:
            raise Refused(f"glob outside the workspace: {glob}")
        hits: list[str] = []
        for p in self._walk(glob):
            if p.stat().st_size > MAX_READ_BYTES:
                continue
            try:
                text = p.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue  # binary
            for no, line in enumerate(text.splitlines(), 1):
                if rx.search(line):
                    hits.append(f"{self.policy.relative(p)}:{no}: {line[:300]}")
                    if len(hits) >= 200:
                        return "\n".join(hits) + "\n[… more matches cut]", True
        return "\n".join(hits) or "(no matches)", True

    def _write(self, a: dict[str, Any]) -> tuple[str, bool]:
        p = self.policy.write(str(a["path"]))
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(str(a["content"]), encoding="utf-8")
        if p in self.policy.workspace.write_files and self.outcome.role == "reporter":
            self.outcome.reported()
        return f"wrote {self.policy.relative(p)} ({len(str(a['content']))} characters)", True

    def _edit(self, a: dict[str, Any]) -> tuple[str, bool]:
        p = self.policy.write(str(a["path"]))
        if not p.is_file():
            return f"error: no such file: {a['path']}", False
        text = p.read_text(encoding="utf-8")
        old, new = str(a["old_string"]), str(a["new_string"])
        count = text.count(old) if old else 0
        if count != 1:
            return f"error: old_string occurs {count} times in {a['path']}; it must occur exactly once", False
        p.write_text(text.replace(old, new, 1), encoding="utf-8")
        return f"edited {self.policy.relative(p)}", True

    def _run(self, a: dict[str, Any]) -> tuple[str, bool]:
        result = self.sandbox.run(str(a["command"]), float(a.get("timeout_s") or 120))
        where = "bwrap" if result.sandboxed else "path policy"
        return f"exit code {result.exit_code} ({where})\n{result.output}", result.exit_code == 0
