"""The agent's lab root for one attempt: the worker role spec with the skill under test toggled.

Agents get skills the way production agents do - through their role spec's ``skills`` list,
looked up in ``<lab_root>/skills`` first (see ``labconsole.agents.roles.skills_prompt``). So an
attempt runs with ``--lab-root`` pointing at a small folder beside its worktree holding
``agents/worker.md`` (the shipped worker spec, or the lab's, with only the skill under test added
or removed) and, for the with-skill arm, ``skills/<name>/``. The worktree itself stays untouched.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml  # type: ignore[import-untyped]  # no stubs in the dev tools

from labconsole.agents.roles import role_spec_path
from labconsole.skills.format import Skill, split_front_matter
from labconsole.skills.install import copy_skill


def make_role_lab(
    lab_root: Path, skill: Skill, with_skill: bool, role: str = "worker", base_lab: Path | None = None
) -> Path:
    """Write ``lab_root/agents/<role>.md`` (+ ``skills/<name>``); return ``lab_root``."""
    if lab_root.exists():
        shutil.rmtree(lab_root)
    source = role_spec_path(role, base_lab)
    raw, body = split_front_matter(source.read_text(encoding="utf-8"))
    meta = yaml.safe_load(raw or "") or {}
    # Toggle only the skill under test: the baseline keeps the role's other skills.
    skills = [s for s in meta.get("skills", []) if s != skill.name]
    if with_skill:
        skills.append(skill.name)
    meta["skills"] = skills
    spec = lab_root / "agents" / f"{role}.md"
    spec.parent.mkdir(parents=True)
    spec.write_text("---\n" + yaml.safe_dump(meta, sort_keys=False) + "---\n" + body, encoding="utf-8")
    if with_skill:
        copy_skill(skill, lab_root / "skills")
    return lab_root
