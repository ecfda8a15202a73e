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

# One row a binding, in footer order: id (``scope.name``: what a keymap file rebinds), keys, action,
# description, flags ("hide": not in the footer; "first": before a focused widget's own binding of the keys).
_TABLE: tuple[tuple[str, str, str, str, str], ...] = (
    ("app.help", "question_mark", "help", "Help", ""),
    ("app.overview", "1", "show_overview", "Overview", ""),
    ("app.review", "2", "show_review", "Review", ""),
    ("app.agent", "3", "show_agent", "Agents", ""),
    ("app.bench", "4", "show_bench", "Bench", ""),
    ("app.evals", "5", "show_evals", "Evals", ""),
    ("app.profile", "6", "show_profile", "Profile", ""),
    ("app.resume_budget", "B", "resume_budget", "Resume past budget", "hide"),
    ("app.quit", "q", "quit", "Quit", ""),
    ("replay.step_back", "left_square_bracket", "replay_step(-1)", "Step back", "first"),
    ("replay.step", "right_square_bracket", "replay_step(1)", "Step", "first"),
    ("replay.prev_decision", "left_curly_bracket", "replay_decision(-1)", "Prev decision", "first"),
    ("replay.next_decision", "right_curly_bracket", "replay_decision(1)", "Next decision", "first"),
    ("replay.search", "slash", "replay_search", "Search", "first"),
    ("replay.start", "less_than_sign", "replay_jump('start')", "Start", "hide first"),
    ("replay.end", "greater_than_sign", "replay_jump('end')", "End", "hide first"),
    ("overview.open", "enter", "open_selected", "Open", ""),
    ("overview.next_panel", "tab", "app.focus_next", "Next panel", "hide"),
    ("review.approve", "a", "approve", "Approve", ""),
    ("review.reject", "r", "reject", "Reject", ""),
    ("review.merge", "m", "merge", "Merge", ""),
    ("review.remeasure", "e", "remeasure", "Re-measure", ""),
    ("review.next", "n", "step(1)", "Next", ""),
    ("review.prev", "p", "step(-1)", "Prev", ""),
    ("review.diff", "d", "full_diff", "Full diff", ""),
    ("review.back", "escape", "app.show_overview", "Back", "hide"),
    ("agent.pause", "p", "control('pause')", "Pause", ""),
    ("agent.resume", "u", "control('resume')", "Resume", ""),
    ("agent.stop", "x", "control('stop')", "Stop", ""),
    ("agent.restart", "R", "control('restart')", "Restart", ""),
    ("agent.message", "s", "message", "Send message", ""),
    ("agent.follow", "f", "follow", "Follow log", ""),
    ("agent.raw", "j", "raw", "Raw JSON", ""),
    ("agent.next", "full_stop", "cycle(1)", "Next agent", "hide"),
    ("agent.prev", "comma", "cycle(-1)", "Prev agent", "hide"),
    ("agent.back", "escape", "app.show_overview", "Back", "hide"),
    ("bench.next_file", "n", "cycle_file(1)", "Next file", ""),
    ("bench.prev_file", "p", "cycle_file(-1)", "Prev file", ""),
    ("bench.next_section", "full_stop", "cycle_section(1)", "Next section", "hide"),
    ("bench.prev_section", "comma", "cycle_section(-1)", "Prev section", "hide"),
    ("bench.back", "escape", "app.show_overview", "Back", "hide"),
    ("evals.next_run", "n", "cycle_run(1)", "Next run", ""),
    ("evals.prev_run", "p", "cycle_run(-1)", "Prev run", ""),
    ("evals.back", "escape", "app.show_overview", "Back", "hide"),
    ("profile.propose", "h", "propose", "Propose hypotheses", ""),
    ("profile.next", "n", "cycle(1)", "Next profile", ""),
    ("profile.prev", "p", "cycle(-1)", "Prev profile", ""),
    ("profile.back", "escape", "app.show_overview", "Back", "hide"),
    ("viewer.close", "escape,q", "close", "Close", ""),
)


def _by_scope(table: tuple[tuple[str, str, str, str, str], ...]) -> dict[str, list[Key]]:
    """The table's rows as :class:`Key` objects under their id's scope (one of :data:`SCOPES`), in row order."""
    keys: dict[str, list[Key]] = {scope: [] for scope in SCOPES}
    for id_, keys_, action, description, flags in table:
        scope, words = id_.partition(".")[0], set(flags.split())
        if scope not in keys or words - {"hide", "first"}:
            raise ValueError(f"keymap row {id_!r}: unknown scope {scope!r} or flags {flags!r}")
        keys[scope].append(Key(id_, keys_, action, description, show="hide" not in words, priority="first" in words))
    return keys


KEYS: dict[str, list[Key]] = _by_scope(_TABLE)


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
