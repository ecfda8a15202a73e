"""Installing skills where each harness looks, and the role helper used by the agent launcher."""

from __future__ import annotations

from pathlib import Path

import pytest

from labconsole.cli import main
from labconsole.errors import ConfigError
from labconsole.skills import skills_for_role, target_dir

ROOT = Path(__file__).resolve().parents[2]
SKILLS = ROOT / "skills"


@pytest.mark.parametrize(
    "flag,project_rel,global_rel",
    [
        ("--claude", ".claude/skills", ".claude/skills"),
        ("--codex", ".agents/skills", ".agents/skills"),
        ("--opencode", ".opencode/skills", ".config/opencode/skills"),
    ],
)
def test_install_project_and_global(tmp_path, monkeypatch, flag, project_rel, global_rel):
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    proj = tmp_path / "proj"
    assert main(["skills", "--root", str(SKILLS), "install", "cuda-kernels", flag, "--project", str(proj)]) == 0
    assert (proj / project_rel / "cuda-kernels" / "SKILL.md").is_file()
    assert (proj / project_rel / "cuda-kernels" / "scripts" / "bandwidth.py").is_file()
    assert main(["skills", "--root", str(SKILLS), "install", "lab-protocol", flag, "--global"]) == 0
    assert (home / global_rel / "lab-protocol" / "SKILL.md").is_file()


def test_install_unknown_skill_is_a_user_error(tmp_path, capsys):
    rc = main(["skills", "--root", str(SKILLS), "install", "nope", "--claude", "--project", str(tmp_path)])
    assert rc == 2 and "no skill named 'nope'" in capsys.readouterr().err


def test_skills_for_role(tmp_path):
    dest = target_dir("claude", tmp_path)
    paths = skills_for_role(["lab-protocol", "cuda-kernels"], dest, skills_root=SKILLS)
    assert [p.name for p in paths] == ["lab-protocol", "cuda-kernels"]
    assert all((p / "SKILL.md").is_file() for p in paths)
    # Reinstalling replaces the old copy instead of failing.
    skills_for_role(["lab-protocol"], dest, skills_root=SKILLS)
    with pytest.raises(ConfigError):
        skills_for_role(["missing-skill"], dest, skills_root=SKILLS)
