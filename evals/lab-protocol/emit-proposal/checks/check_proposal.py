"""Is proposal.jsonl exactly one valid protocol ``proposal`` for task.json?"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "_checks"))  # shared check helpers
from verdict import verdict  # noqa: E402

FIELDS = {"type", "title", "params", "rationale", "source", "priority"}


def in_space(name: str, value: object, spec: dict) -> bool:
    if spec["type"] == "choice":
        return value in spec["values"]
    if spec["type"] == "int" and not (isinstance(value, int) and not isinstance(value, bool)):
        return False
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    return spec["low"] <= value <= spec["high"]


def problems() -> list[str]:
    payload = json.loads(Path("task.json").read_text())["payload"]
    path = Path("proposal.jsonl")
    if not path.is_file():
        return ["proposal.jsonl missing"]
    lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
    if len(lines) != payload["count"]:
        return [f"{len(lines)} lines; the task asked for {payload['count']} proposal"]
    try:
        msg = json.loads(lines[0])
    except json.JSONDecodeError as exc:
        return [f"not one JSON object per line: {exc}"]
    if not isinstance(msg, dict):
        return ["a protocol line is a JSON object"]
    out = []
    if msg.get("type") != "proposal":
        out.append(f"type must be 'proposal', got {msg.get('type')!r}")
    extra = set(msg) - FIELDS
    if extra:
        out.append(f"unknown fields {sorted(extra)}; a proposal has {sorted(FIELDS)}")
    for key in ("title", "rationale", "source"):
        if not isinstance(msg.get(key), str) or not msg[key].strip():
            out.append(f"{key} must be a non-empty string")
    params = msg.get("params")
    if not isinstance(params, dict) or len(params) != 1:
        out.append("params must hold exactly one change (one hypothesis = one change)")
    else:
        ((name, value),) = params.items()
        space = payload["search_space"]
        if name not in space:
            out.append(f"param {name!r} is not in the search space {sorted(space)}")
        elif not in_space(name, value, space[name]):
            out.append(f"{name}={value!r} is outside the search space {space[name]}")
        if any(h["params"] == params for h in payload["history"]):
            out.append(f"{params} was already measured")
    if isinstance(msg.get("title"), str) and msg["title"].strip().lower() in {
        t.lower() for t in payload["do_not_repeat"]
    }:
        out.append("title repeats a rejected idea")
    if "priority" in msg and not isinstance(msg["priority"], (int, float)):
        out.append("priority must be a number")
    return out


def main() -> int:
    return verdict(problems(), "one valid proposal")


if __name__ == "__main__":
    sys.exit(main())
