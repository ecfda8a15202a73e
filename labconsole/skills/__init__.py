"""Agent Skills: the ``skills/<name>/SKILL.md`` format, validation and installation into harnesses."""

from labconsole.skills.format import (
    Problem,
    Skill,
    check_skill_dir,
    discover_skills,
    find_skill,
    load_skill,
    skill_text,
)
from labconsole.skills.install import HARNESSES, install_skill, skills_for_role, target_dir

__all__ = [
    "HARNESSES",
    "Problem",
    "Skill",
    "check_skill_dir",
    "discover_skills",
    "find_skill",
    "install_skill",
    "load_skill",
    "skill_text",
    "skills_for_role",
    "target_dir",
]
