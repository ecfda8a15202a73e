"""Put a skill where a coding-agent harness looks for it.

Discovery folders (checked against each harness's documentation, Nov 2026):

* Claude Code: ``<project>/.claude/skills/<name>/`` and ``~/.claude/skills/<name>/``.
* Codex: ``<repo>/.agents/skills/<name>/`` (searched from the cwd up to the repo
  root) and ``~/.agents/skills/<name>/`` (user scope); the older
  ``$CODEX_HOME/skills`` is still read but no longer the documented place.
* OpenCode: ``<project>/.opencode/skills/<name>/`` and
  ``~/.config/opencode/skills/<name>/`` (it also reads the Claude and
  ``.agents`` folders).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from labconsole.errors import ConfigError
from labconsole.skills.format import Skill, find_skill

HARNESSES = ("claude", "codex", "opencode")
_PROJECT_DIRS = {"claude": ".claude/skills", "codex": ".agents/skills", "opencode": ".opencode/skills"}


def _global_dir(harness: str) -> Path:
    home = Path.home()
    if harness == "claude":
        return home / ".claude" / "skills"
    if harness == "codex":
        return home / ".agents" / "skills"
    config = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
    return config / "opencode" / "skills"


def target_dir(harness: str, project: Path | None = None, global_: bool = False) -> Path:
    """The folder holding skill folders for ``harness`` (project scope unless ``global_``)."""
    if harness not in HARNESSES:
        raise ConfigError(f"unknown harness {harness!r}; allowed: {', '.join(HARNESSES)}")
    if global_:
        return _global_dir(harness)
    return Path(project or Path.cwd()) / _PROJECT_DIRS[harness]


def copy_skill(skill: Skill, dest_root: Path) -> Path:
    """Copy the skill folder to ``dest_root/<name>``, replacing an older copy; return the new folder."""
    dest = Path(dest_root) / skill.name
    if dest.exists():
        shutil.rmtree(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(skill.path, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dest


def install_skill(
    name: str, harness: str, skills_root: Path, project: Path | None = None, global_: bool = False
) -> Path:
    """Validate skill ``name`` under ``skills_root`` and install it for ``harness``."""
    skill = find_skill(name, skills_root)
    return copy_skill(skill, target_dir(harness, project, global_))


def default_skills_root() -> Path:
    """``$LABCONSOLE_SKILLS``, else ``./skills``, else the skills shipped beside this package."""
    env = os.environ.get("LABCONSOLE_SKILLS")
    if env:
        return Path(env)
    local = Path.cwd() / "skills"
    if local.is_dir():
        return local
    return Path(__file__).resolve().parents[2] / "skills"


def skills_for_role(role_spec_skills: list[str], dest_dir: Path, skills_root: Path | None = None) -> list[Path]:
    """Install every skill a role names into ``dest_dir`` (e.g. ``<worktree>/.claude/skills``).

    The agent launcher calls this before starting an agent so the harness finds
    the role's skills in its own discovery folder. Unknown names fail loudly:
    an agent silently missing its skill would skew every measurement.
    """
    root = Path(skills_root) if skills_root else default_skills_root()
    return [copy_skill(find_skill(name, root), dest_dir) for name in role_spec_skills]
