"""PreToolUse hook for the ``claude`` CLI: the path policy of :mod:`labconsole.agents.sandbox`
applied to Claude Code's own tools (its acceptEdits mode lets Write reach outside the cwd).

Claude runs ``python -m labconsole.agents.backends.claude_hook POLICY.json`` before every
tool use with the call as JSON on stdin; exit code 2 blocks it and stderr goes back to the
model (and into our ``tool_call`` error as ``refused: …``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from labconsole.agents.sandbox import PathPolicy, Refused, Workspace, command_refusal

WRITE_TOOLS = {"Write", "Edit", "MultiEdit", "NotebookEdit"}
READ_TOOLS = {"Read", "Grep", "Glob", "LS"}
NETWORK_TOOLS = {"WebFetch", "WebSearch"}


def workspace_to_json(ws: Workspace) -> dict[str, Any]:
    return {
        "root": str(ws.root),
        "writable": ws.writable,
        "protected": list(ws.protected),
        "write_files": [str(p) for p in ws.write_files],
        "read_roots": [str(p) for p in ws.read_roots],
    }


def workspace_from_json(data: dict[str, Any]) -> Workspace:
    return Workspace(
        Path(data["root"]),
        bool(data["writable"]),
        tuple(data["protected"]),
        tuple(Path(p) for p in data["write_files"]),
        tuple(Path(p) for p in data["read_roots"]),
    )


def decide(ws: Workspace, tool: str, inp: dict[str, Any]) -> str | None:
    """Why the call is refused, or ``None``."""
    policy = PathPolicy(ws)
    try:
        if tool in WRITE_TOOLS:
            policy.write(str(inp.get("file_path") or inp.get("notebook_path") or ""))
        elif tool in READ_TOOLS:
            path = inp.get("file_path") or inp.get("path")
            if path:
                policy.read(str(path))
        elif tool == "Bash":
            return command_refusal(str(inp.get("command", "")), ws)
        elif tool in NETWORK_TOOLS:
            return f"{tool}: agents have no network access"
    except Refused as exc:
        return str(exc)
    return None


def main(argv: list[str]) -> int:
    ws = workspace_from_json(json.loads(Path(argv[1]).read_text()))
    call = json.load(sys.stdin)
    reason = decide(ws, str(call.get("tool_name", "")), call.get("tool_input") or {})
    if reason:
        print(f"refused: {reason}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv))
