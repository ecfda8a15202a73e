"""One line of an agent's log (its protocol stdout, JSONL) as a person reads it (pure, no widgets).

The log is the agent's own output, so every field is hostile: nothing here trusts a type or a
length, and control characters are dropped so a line cannot move the cursor or retitle the
terminal. A line that is not a protocol message is shown as it is (minus control characters).
"""

from __future__ import annotations

import json
from typing import Any
from collections.abc import Callable

# Styles, named for the widget to map onto theme colours.
PLAIN, DIM, GOOD, BAD, WARN, ACCENT = "plain", "dim", "good", "bad", "warn", "accent"


def clean(value: Any, limit: int = 400) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return "".join(ch if ch.isprintable() else " " for ch in text[:limit])


# Replay builds an agent's log from its recorded events: the protocol message each kind came from.
_EVENT_TYPES = {"hypothesis.proposed": "proposal", "hypothesis.committed": "commit", "review.verdict": "verdict"}


def render_event(line: str) -> tuple[str, str]:
    """``(text, style)`` for one recorded event line (replay), as :func:`render` shows the message it
    came from, after the event's number; console events about the agent read ``kind: fields``."""
    try:
        event = json.loads(line)
        kind, data, seq = event["kind"], event["data"], int(event["seq"])
    except (ValueError, KeyError, TypeError):
        return clean(line, 4096), PLAIN
    if not isinstance(kind, str) or not isinstance(data, dict):
        return clean(line, 4096), PLAIN
    special = _console_event(kind, data)
    if special is not None:
        return f"#{seq} {special[0]}", special[1]
    kind_type = kind[len("agent.") :] if kind.startswith("agent.") else _EVENT_TYPES.get(kind, kind)
    msg = {**data, "type": kind_type}
    if kind == "review.verdict" and "hypothesis" not in msg:
        msg["hypothesis"] = data.get("hyp_id")
    if kind == "hypothesis.committed" and "message" not in msg:
        msg["message"] = data.get("hyp_id", "")
    text, style = render(json.dumps(msg, default=str))
    return f"#{seq} {text}", style


# The console's own events about an agent (no protocol message behind them): kind -> its line and style.
_CONSOLE_EVENTS: dict[str, Callable[[dict[str, Any]], tuple[str, str]]] = {
    "agent.started": lambda d: (f"▶ started: {clean(d.get('role', '?'))} on {clean(d.get('backend', '?'))}", ACCENT),
    "agent.exited": lambda d: (f"■ exited: {clean(d.get('reason') or '?')} (code {clean(d.get('returncode'))})", WARN),
    "hypothesis.claimed": lambda d: (f"→ claimed {clean(d.get('hyp_id', '?'))}", ACCENT),
}


def _console_event(kind: str, data: dict[str, Any]) -> tuple[str, str] | None:
    """The line for one of the console's own events about an agent, or None for any other kind."""
    line = _CONSOLE_EVENTS.get(kind)
    return line(data) if line is not None else None


def render(line: str) -> tuple[str, str]:
    """``(text, style)`` for one log line."""
    stripped = line.strip()
    if not stripped.startswith("{"):
        return clean(line, 4096), PLAIN
    try:
        msg = json.loads(stripped)
    except ValueError:
        return clean(line, 4096), PLAIN
    if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
        return clean(line, 4096), PLAIN
    kind = msg["type"]
    get = msg.get
    if kind == "heartbeat":
        return "· heartbeat", DIM
    if kind == "hello":
        return f"hello: {clean(get('role', '?'))} on {clean(get('backend', '?'))} {clean(get('model', ''))}", ACCENT
    if kind == "status":
        hyp = f" {clean(get('hypothesis'))}" if get("hypothesis") else ""
        detail = f" — {clean(get('detail'))}" if get("detail") else ""
        return f"● {clean(get('state', '?'))}{hyp}{detail}", ACCENT
    if kind == "log":
        level = clean(get("level", "info"), 10)
        return (
            f"[{level}] {clean(get('text', ''), 2000)}",
            BAD if level == "error" else WARN if level == "warning" else PLAIN,
        )
    if kind == "tool_call":
        ok = get("ok", True) is not False
        tail = "✓" if ok else f"✗ {clean(get('error') or 'failed')}"
        return f"⚙ {clean(get('tool', '?'), 60)} {clean(get('input', ''))}  {tail}", PLAIN if ok else BAD
    if kind == "proposal":
        return f"+ proposed: {clean(get('title', '?'))}", GOOD
    if kind == "commit":
        return f"✎ commit {clean(get('sha', ''), 12)} {clean(get('message', ''))}", GOOD
    if kind == "verdict":
        return f"⚖ verdict on {clean(get('hypothesis', '?'))}: {clean(get('verdict', '?'))}", ACCENT
    if kind == "usage":
        return (
            f"$ usage: {clean(get('input_tokens', 0))} in / {clean(get('output_tokens', 0))} out tokens, "
            f"${clean(get('cost_usd', 0))}"
        ), DIM
    if kind == "done":
        return f"■ task {clean(get('task', '?'))} done {clean(get('summary') or '')}".rstrip(), GOOD
    if kind == "error":
        return f"✗ error{' in task ' + clean(get('task')) if get('task') else ''}: {clean(get('message', ''))}", BAD
    fields = ", ".join(f"{clean(k, 30)}={clean(v, 80)}" for k, v in list(msg.items())[:6] if k != "type")
    return f"{clean(kind, 30)}: {fields}", PLAIN
