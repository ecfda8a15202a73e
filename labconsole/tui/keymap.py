"""Every key the console answers to, with a stable id, and the user's overrides.

Bindings carry ids (``review.approve``…) so ``App.set_keymap`` can rebind them
from ``~/.config/labconsole/keymap.toml`` (``[keymap]`` table or top-level
``"id" = "keys"``) and then from the lab's ``lab.toml`` ``[tui.keymap]``.
The help screen reads the same table, so it always lists the keys in force.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from textual.binding import Binding, BindingType


@dataclass(frozen=True)
class Key:
    id: str
    keys: str
    action: str
    description: str
    show: bool = True
    priority: bool = False


def _next_prev(
    scope: str, name: str, action: str, noun: str = "", keys: tuple[str, str] = ("n", "p"), show: bool = True
) -> list[Key]:
    """The forward/backward pair every list-like screen has (``action(1)`` / ``action(-1)``)."""
    suffix = f"_{name}" if name else ""
    return [
        Key(f"{scope}.next{suffix}", keys[0], f"{action}(1)", f"Next {noun}".strip(), show=show),
        Key(f"{scope}.prev{suffix}", keys[1], f"{action}(-1)", f"Prev {noun}".strip(), show=show),
    ]


def _back(scope: str) -> Key:
    return Key(f"{scope}.back", "escape", "app.show_overview", "Back", show=False)


SCOPES: dict[str, str] = {
    "app": "Everywhere",
    "replay": "Replay (timeline)",
    "overview": "Lab overview",
    "review": "Review (the gate)",
    "agent": "Agent detail",
    "bench": "Kernel benchmarks",
    "evals": "Skill evals",
    "profile": "Profile",
    "viewer": "Full diff / help",
}

KEYS: dict[str, list[Key]] = {
    "app": [
        Key("app.help", "question_mark", "help", "Help"),
        Key("app.overview", "1", "show_overview", "Overview"),
        Key("app.review", "2", "show_review", "Review"),
        Key("app.agent", "3", "show_agent", "Agents"),
        Key("app.bench", "4", "show_bench", "Bench"),
        Key("app.evals", "5", "show_evals", "Evals"),
        Key("app.profile", "6", "show_profile", "Profile"),
        Key("app.resume_budget", "B", "resume_budget", "Resume past budget", show=False),
        Key("app.quit", "q", "quit", "Quit"),
    ],
    "replay": [
        Key("replay.step_back", "left_square_bracket", "replay_step(-1)", "Step back", priority=True),
        Key("replay.step", "right_square_bracket", "replay_step(1)", "Step", priority=True),
        Key("replay.prev_decision", "left_curly_bracket", "replay_decision(-1)", "Prev decision", priority=True),
        Key("replay.next_decision", "right_curly_bracket", "replay_decision(1)", "Next decision", priority=True),
        Key("replay.search", "slash", "replay_search", "Search", priority=True),
        Key("replay.start", "less_than_sign", "replay_jump('start')", "Start", show=False, priority=True),
        Key("replay.end", "greater_than_sign", "replay_jump('end')", "End", show=False, priority=True),
    ],
    "overview": [
        Key("overview.open", "enter", "open_selected", "Open"),
        Key("overview.next_panel", "tab", "app.focus_next", "Next panel", show=False),
    ],
    "review": [
        Key("review.approve", "a", "approve", "Approve"),
        Key("review.reject", "r", "reject", "Reject"),
        Key("review.merge", "m", "merge", "Merge"),
        Key("review.remeasure", "e", "remeasure", "Re-measure"),
        *_next_prev("review", "", "step"),
        Key("review.diff", "d", "full_diff", "Full diff"),
        _back("review"),
    ],
    "agent": [
        Key("agent.pause", "p", "control('pause')", "Pause"),
        Key("agent.resume", "u", "control('resume')", "Resume"),
        Key("agent.stop", "x", "control('stop')", "Stop"),
        Key("agent.restart", "R", "control('restart')", "Restart"),
        Key("agent.message", "s", "message", "Send message"),
        Key("agent.follow", "f", "follow", "Follow log"),
        Key("agent.raw", "j", "raw", "Raw JSON"),
        *_next_prev("agent", "", "cycle", "agent", ("full_stop", "comma"), show=False),
        _back("agent"),
    ],
    "bench": [
        *_next_prev("bench", "file", "cycle_file", "file"),
        *_next_prev("bench", "section", "cycle_section", "section", ("full_stop", "comma"), show=False),
        _back("bench"),
    ],
    "evals": [
        *_next_prev("evals", "run", "cycle_run", "run"),
        _back("evals"),
    ],
    "profile": [
        Key("profile.propose", "h", "propose", "Propose hypotheses"),
        *_next_prev("profile", "", "cycle", "profile"),
        _back("profile"),
    ],
    "viewer": [
        Key("viewer.close", "escape,q", "close", "Close"),
    ],
}

# Actions that change the lab: hidden and refused in read-only views.
DECISION_ACTIONS = frozenset(
    {"approve", "reject", "merge", "remeasure", "control", "message", "resume_budget", "propose"}
)


def bindings(scope: str) -> list[BindingType]:
    return [Binding(k.keys, k.action, k.description, show=k.show, priority=k.priority, id=k.id) for k in KEYS[scope]]


def all_ids() -> set[str]:
    return {k.id for keys in KEYS.values() for k in keys}


def user_keymap_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(os.environ.get("LABCONSOLE_KEYMAP", Path(base) / "labconsole" / "keymap.toml"))


def _table(data: dict, *path: str) -> dict[str, str]:
    for part in path:
        data = data.get(part, {}) if isinstance(data, dict) else {}
    return {str(k): str(v) for k, v in data.items() if isinstance(v, str)} if isinstance(data, dict) else {}


def load_keymap(lab_root: Path | None = None, user_path: Path | None = None) -> tuple[dict[str, str], list[str]]:
    """``(binding id -> keys, problems)``: the user's file, then the lab's ``[tui.keymap]`` on top."""
    keymap: dict[str, str] = {}
    problems: list[str] = []
    sources: list[tuple[Path, tuple[str, ...]]] = [(user_path or user_keymap_path(), ())]
    if lab_root is not None:
        sources.append((Path(lab_root) / "lab.toml", ("tui", "keymap")))
    for path, where in sources:
        try:
            data = tomllib.loads(path.read_text())
        except FileNotFoundError:
            continue
        except (OSError, tomllib.TOMLDecodeError) as exc:
            problems.append(f"{path}: {exc}")
            continue
        table = _table(data, *where) if where else (_table(data, "keymap") or _table(data))
        for binding_id, keys in table.items():
            if binding_id not in all_ids():
                problems.append(f"{path}: unknown key binding id {binding_id!r}")
                continue
            keymap[binding_id] = keys
    return keymap, problems


def effective_keys(keymap: dict[str, str]) -> dict[str, list[tuple[str, str]]]:
    """Per scope, ``(keys, description)`` with the overrides applied: what the help screen lists."""
    return {scope: [(keymap.get(k.id, k.keys), k.description) for k in keys] for scope, keys in KEYS.items()}
