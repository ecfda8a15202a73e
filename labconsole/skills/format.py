"""The Agent Skills format: parse and validate ``skills/<name>/SKILL.md``.

A skill is a folder holding ``SKILL.md`` (YAML front matter between ``---``
lines, then a Markdown body) and optionally ``scripts/``, ``references/`` and
``assets/``. Validation returns every problem at once, each naming the file,
the field and what is allowed, so one ``skills check`` run fixes a skill.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from labconsole.errors import ConfigError

SKILL_FILE = "SKILL.md"
NAME_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
NAME_MAX = 64
DESCRIPTION_MAX = 1024
COMPATIBILITY_MAX = 500
BODY_MAX_LINES = 500  # the body must stay under this many lines
REQUIRED_KEYS = ("name", "description")
OPTIONAL_KEYS = ("license", "compatibility", "metadata", "allowed-tools")
ALLOWED_SUBDIRS = ("scripts", "references", "assets")


@dataclass(frozen=True)
class Problem:
    """One validation failure: where, which field, and what would be accepted."""

    path: Path
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.field}: {self.message}"


@dataclass
class Skill:
    name: str
    description: str
    path: Path  # the skill folder
    body: str
    license: str | None = None
    compatibility: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    allowed_tools: list[str] = field(default_factory=list)

    @property
    def skill_md(self) -> Path:
        return self.path / SKILL_FILE

    def files(self) -> list[Path]:
        """Every file of the skill (SKILL.md first), relative to its folder."""
        rest = sorted(
            p.relative_to(self.path)
            for p in self.path.rglob("*")
            if p.is_file() and p.name != SKILL_FILE and "__pycache__" not in p.parts
        )
        return [Path(SKILL_FILE), *rest]


def split_front_matter(text: str) -> tuple[str | None, str]:
    """Return (front matter YAML, body); None when the file does not start with ``---``."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        return None, text
    for i in range(1, len(lines)):
        if lines[i].strip() == "---":
            return "".join(lines[1:i]), "".join(lines[i + 1 :])
    return None, text


def _parse(skill_dir: Path) -> tuple[dict[str, Any] | None, str, list[Problem]]:
    md = skill_dir / SKILL_FILE
    if not md.is_file():
        return None, "", [Problem(md, "file", f"missing; a skill folder must hold {SKILL_FILE}")]
    text = md.read_text(encoding="utf-8")
    raw, body = split_front_matter(text)
    if raw is None:
        return (
            None,
            body,
            [
                Problem(
                    md,
                    "front matter",
                    "missing; start the file with a '---' line, "
                    "YAML keys (name, description, ...), then a closing '---' line",
                )
            ],
        )
    try:
        meta = yaml.safe_load(raw) or {}
    except yaml.YAMLError as exc:
        return None, body, [Problem(md, "front matter", f"not valid YAML: {exc}".replace("\n", " "))]
    if not isinstance(meta, dict):
        return None, body, [Problem(md, "front matter", "must be a YAML mapping of keys to values")]
    return meta, body, []


def check_skill_dir(skill_dir: Path) -> list[Problem]:
    """Every problem with the skill in ``skill_dir``; an empty list means it is valid."""
    skill_dir = Path(skill_dir)
    md = skill_dir / SKILL_FILE
    meta, body, problems = _parse(skill_dir)
    if meta is not None:
        problems += _check_meta(md, meta, skill_dir.name)
        n_lines = len(body.splitlines())
        if n_lines >= BODY_MAX_LINES:
            problems.append(
                Problem(
                    md,
                    "body",
                    f"{n_lines} lines; keep it under {BODY_MAX_LINES} lines and move detail into references/",
                )
            )
    if skill_dir.is_dir():
        for child in sorted(skill_dir.iterdir()):
            if child.name == SKILL_FILE or child.name.startswith(".") or child.name == "__pycache__":
                continue
            if child.is_dir() and child.name not in ALLOWED_SUBDIRS:
                problems.append(
                    Problem(child, "folder", f"unexpected folder {child.name!r}; allowed: {', '.join(ALLOWED_SUBDIRS)}")
                )
            elif child.is_file():
                problems.append(
                    Problem(
                        child,
                        "file",
                        f"unexpected file {child.name!r} at the skill root; put it "
                        f"under one of {', '.join(ALLOWED_SUBDIRS)}",
                    )
                )
    return problems


def _check_meta(md: Path, meta: dict[str, Any], folder: str) -> list[Problem]:
    out: list[Problem] = []
    for key in meta:
        if key not in REQUIRED_KEYS + OPTIONAL_KEYS:
            out.append(Problem(md, str(key), f"unknown key; allowed: {', '.join(REQUIRED_KEYS + OPTIONAL_KEYS)}"))
    for key in REQUIRED_KEYS:
        if key not in meta:
            out.append(Problem(md, key, "missing; it is required"))
    name = meta.get("name")
    if "name" in meta:
        if not isinstance(name, str) or not NAME_RE.match(name):
            out.append(
                Problem(
                    md,
                    "name",
                    f"{name!r} is not allowed; use lowercase letters, digits and single "
                    "hyphens, not starting or ending with a hyphen",
                )
            )
        elif len(name) > NAME_MAX:
            out.append(Problem(md, "name", f"{len(name)} characters; at most {NAME_MAX}"))
        if isinstance(name, str) and name != folder:
            out.append(Problem(md, "name", f"{name!r} differs from its folder {folder!r}; they must be equal"))
    if "description" in meta:
        desc = meta["description"]
        if not isinstance(desc, str) or not desc.strip():
            out.append(Problem(md, "description", "must be a non-empty string saying what the skill does and when"))
        elif len(desc) > DESCRIPTION_MAX:
            out.append(Problem(md, "description", f"{len(desc)} characters; at most {DESCRIPTION_MAX}"))
    if "license" in meta and not isinstance(meta["license"], str):
        out.append(Problem(md, "license", "must be a string (a license name or a file in the skill)"))
    if "compatibility" in meta:
        comp = meta["compatibility"]
        if not isinstance(comp, str) or not comp.strip() or len(comp) > COMPATIBILITY_MAX:
            out.append(
                Problem(md, "compatibility", f"must be a non-empty string of at most {COMPATIBILITY_MAX} characters")
            )
    if "metadata" in meta and not isinstance(meta["metadata"], dict):
        out.append(Problem(md, "metadata", "must be a mapping of keys to values"))
    if "allowed-tools" in meta:
        tools = meta["allowed-tools"]
        ok = isinstance(tools, str) or (isinstance(tools, list) and all(isinstance(t, str) for t in tools))
        if not ok:
            out.append(Problem(md, "allowed-tools", "must be a space-separated string or a list of tool names"))
    return out


def load_skill(skill_dir: Path) -> Skill:
    """Load a valid skill; raise ConfigError listing every problem otherwise."""
    skill_dir = Path(skill_dir)
    problems = check_skill_dir(skill_dir)
    if problems:
        raise ConfigError("; ".join(str(p) for p in problems))
    meta, body, _ = _parse(skill_dir)
    assert meta is not None
    tools = meta.get("allowed-tools") or []
    return Skill(
        name=meta["name"],
        description=meta["description"].strip(),
        path=skill_dir,
        body=body,
        license=meta.get("license"),
        compatibility=meta.get("compatibility"),
        metadata=dict(meta.get("metadata") or {}),
        allowed_tools=tools.split() if isinstance(tools, str) else list(tools),
    )


def discover_skills(root: Path) -> list[Path]:
    """Skill folders directly under ``root`` (those holding a SKILL.md), sorted by name."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and (p / SKILL_FILE).is_file())


def find_skill(name: str, root: Path) -> Skill:
    path = Path(root) / name
    if not (path / SKILL_FILE).is_file():
        known = ", ".join(p.name for p in discover_skills(root)) or "none"
        raise ConfigError(f"no skill named {name!r} under {root}; known: {known}")
    return load_skill(path)


def skill_text(skill: Skill, with_references: bool = True) -> str:
    """The skill as one text block for a prompt: SKILL.md, then each reference file, labelled."""
    parts = [f"# Skill: {skill.name}\n\n{skill.skill_md.read_text(encoding='utf-8')}"]
    if with_references:
        for ref in sorted((skill.path / "references").glob("*")):
            if ref.is_file():
                parts.append(f"## {skill.name}/references/{ref.name}\n\n{ref.read_text(encoding='utf-8')}")
    return "\n\n".join(parts)
