"""Role specs: ``agents/<role>.md`` = YAML front matter + the role prompt.

The same format Claude Code uses for subagents. Built-in specs ship as package data
(``labconsole/data/agents/``; the repo's top-level ``agents/`` links to them); a lab
overrides any of them with ``<lab>/agents/<role>.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from labconsole.errors import ConfigError

ROLES = ("researcher", "planner", "worker", "reviewer", "reporter")
# Tool names a spec may list (the SDK backends' tools; the CLI backends map them onto theirs).
TOOLS = frozenset(
    {
        "read_file",
        "list_files",
        "search",
        "write_file",
        "edit_file",
        "run_command",
        "propose",
        "decide",
        "verdict",
        "commit",
    }
)
PERMISSION_MODES = frozenset({"default", "acceptEdits", "plan", "bypassPermissions", "dontAsk"})
KNOWN_KEYS = frozenset(
    {"name", "description", "tools", "model", "backend", "read-only", "skills", "permission-mode", "max-turns", "color"}
)
BUILTIN_DIR = Path(__file__).resolve().parent.parent / "data" / "agents"


@dataclass(frozen=True)
class RoleSpec:
    name: str
    description: str
    tools: tuple[str, ...]
    prompt: str
    path: Path
    model: str | None = None
    backend: str | None = None
    read_only: bool = False
    skills: tuple[str, ...] = ()
    permission_mode: str | None = None
    max_turns: int | None = None


def _split_front_matter(text: str, path: Path) -> tuple[str, str]:
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise ConfigError(f"{path}: role spec must start with a '---' YAML front matter line")
    for i, line in enumerate(lines[1:], start=1):
        if line.strip() == "---":
            return "".join(lines[1:i]), "".join(lines[i + 1 :])
    raise ConfigError(f"{path}: front matter is not closed by a '---' line")


def _str_list(value: Any, path: Path, field: str) -> tuple[str, ...]:
    if isinstance(value, str):  # Claude Code style: "Read, Grep, Bash"
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{path}: field '{field}' must be a list of strings, got {value!r}")
    return tuple(value)


def parse_role_spec(path: Path, expected_role: str | None = None) -> RoleSpec:
    """Parse one spec; any problem → :class:`ConfigError` naming the file and the field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read role spec: {exc.strerror or exc}") from None
    header, body = _split_front_matter(text, path)
    try:
        meta = yaml.safe_load(header) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: front matter is not valid YAML: {exc}") from None
    if not isinstance(meta, dict):
        raise ConfigError(f"{path}: front matter must be a mapping of fields, got {type(meta).__name__}")

    unknown = sorted(set(map(str, meta)) - KNOWN_KEYS)
    if unknown:
        raise ConfigError(f"{path}: unknown field '{unknown[0]}'; allowed: {', '.join(sorted(KNOWN_KEYS))}")
    for req in ("name", "description", "tools"):
        if req not in meta:
            raise ConfigError(f"{path}: missing required field '{req}'")
    name, description = meta["name"], meta["description"]
    if not isinstance(name, str) or name not in ROLES:
        raise ConfigError(f"{path}: field 'name' must be one of {', '.join(ROLES)}, got {name!r}")
    if expected_role is not None and name != expected_role:
        raise ConfigError(f"{path}: field 'name' is {name!r} but the file defines role {expected_role!r}")
    if not isinstance(description, str) or not description.strip():
        raise ConfigError(f"{path}: field 'description' must be a non-empty string")
    tools = _str_list(meta["tools"], path, "tools")
    bad = [t for t in tools if t not in TOOLS]
    if bad:
        raise ConfigError(f"{path}: field 'tools' has unknown tool '{bad[0]}'; allowed: {', '.join(sorted(TOOLS))}")
    for key in ("model", "backend", "permission-mode"):
        if meta.get(key) is not None and not isinstance(meta[key], str):
            raise ConfigError(f"{path}: field '{key}' must be a string, got {meta[key]!r}")
    backend = meta.get("backend")
    if backend is not None:
        from labconsole.agents.backends import BACKENDS  # the registry only; imports no SDK

        if backend not in BACKENDS:
            raise ConfigError(f"{path}: field 'backend' is {backend!r}; allowed: {', '.join(sorted(BACKENDS))}")
    read_only = meta.get("read-only", False)
    if not isinstance(read_only, bool):
        raise ConfigError(f"{path}: field 'read-only' must be true or false, got {read_only!r}")
    mode = meta.get("permission-mode")
    if mode is not None and mode not in PERMISSION_MODES:
        raise ConfigError(
            f"{path}: field 'permission-mode' is {mode!r}; allowed: {', '.join(sorted(PERMISSION_MODES))}"
        )
    max_turns = meta.get("max-turns")
    if max_turns is not None and (isinstance(max_turns, bool) or not isinstance(max_turns, int) or max_turns < 1):
        raise ConfigError(f"{path}: field 'max-turns' must be a positive integer, got {max_turns!r}")
    if read_only and any(t in tools for t in ("write_file", "edit_file", "commit")) and name != "reporter":
        raise ConfigError(f"{path}: field 'tools' lists a writing tool but 'read-only' is true")
    if not body.strip():
        raise ConfigError(f"{path}: the role prompt (after the front matter) is empty")
    return RoleSpec(
        name=name,
        description=description.strip(),
        tools=tools,
        prompt=body.strip() + "\n",
        path=path,
        model=meta.get("model"),
        backend=backend,
        read_only=read_only,
        skills=_str_list(meta.get("skills", []), path, "skills"),
        permission_mode=mode,
        max_turns=max_turns,
    )


def skills_prompt(spec: RoleSpec, lab_root: Path | None = None) -> tuple[str, list[str]]:
    """The text of the role's skills for a prompt, and the names that were not found.

    A lab's own ``skills/`` folder wins over the shipped one. Missing skills are reported,
    not fatal: an agent without its skill text still works, and the backend logs a warning.
    """
    from labconsole.skills import find_skill
    from labconsole.skills.format import skill_text
    from labconsole.skills.install import default_skills_root

    roots = [Path(lab_root) / "skills"] if lab_root is not None else []
    roots.append(default_skills_root())
    texts, missing = [], []
    for name in spec.skills:
        for root in roots:
            try:
                texts.append(skill_text(find_skill(name, root), with_references=False))
                break
            except (ConfigError, OSError):
                continue
        else:
            missing.append(name)
    return "\n\n".join(texts), missing


def role_spec_path(role: str, lab_root: Path | None = None) -> Path:
    """The lab's own ``agents/<role>.md`` when present, else the built-in one."""
    if role not in ROLES:
        raise ConfigError(f"unknown role {role!r}; allowed: {', '.join(ROLES)}")
    if lab_root is not None:
        own = Path(lab_root) / "agents" / f"{role}.md"
        if own.is_file():
            return own
    return BUILTIN_DIR / f"{role}.md"


def load_role(role: str, lab_root: Path | None = None) -> RoleSpec:
    return parse_role_spec(role_spec_path(role, lab_root), expected_role=role)


def load_roles(lab_root: Path | None = None) -> dict[str, RoleSpec]:
    """All five roles, each from the lab's override or the built-in spec."""
    return {role: load_role(role, lab_root) for role in ROLES}
