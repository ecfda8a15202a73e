"""Skill format validation: the shipped skills pass; each kind of bad skill fails with a clear message."""

from __future__ import annotations

from pathlib import Path

import pytest

from labconsole.cli import main
from labconsole.errors import ConfigError
from labconsole.skills import check_skill_dir, discover_skills, load_skill, skill_text

ROOT = Path(__file__).resolve().parents[2]


def make(tmp: Path, folder: str, front: str, body: str = "Do the thing.\n") -> Path:
    d = tmp / folder
    d.mkdir(parents=True)
    (d / "SKILL.md").write_text(f"---\n{front}---\n{body}")
    return d


def messages(d: Path) -> list[str]:
    return [str(p) for p in check_skill_dir(d)]


def test_shipped_skills_are_valid():
    found = {p.name for p in discover_skills(ROOT / "skills")}
    assert {"cuda-kernels", "lab-protocol"} <= found
    for name in found:
        assert check_skill_dir(ROOT / "skills" / name) == []
        skill = load_skill(ROOT / "skills" / name)
        assert skill.name == name and skill.description


def test_good_skill_with_all_optional_fields(tmp_path):
    d = make(
        tmp_path,
        "my-skill-2",
        "name: my-skill-2\ndescription: does x\nlicense: MIT\n"
        "compatibility: any\nmetadata:\n  a: b\nallowed-tools: Bash Read\n",
    )
    (d / "scripts").mkdir()
    (d / "references").mkdir()
    (d / "references" / "r.md").write_text("ref text")
    assert check_skill_dir(d) == []
    skill = load_skill(d)
    assert skill.allowed_tools == ["Bash", "Read"] and skill.metadata == {"a": "b"}
    assert "ref text" in skill_text(skill)


@pytest.mark.parametrize(
    "front,field,fragment",
    [
        ("name: Bad_Name\ndescription: d\n", "name", "lowercase"),
        ("name: -x\ndescription: d\n", "name", "hyphen"),
        ("name: other\ndescription: d\n", "name", "differs from its folder"),
        ("description: d\n", "name", "missing"),
        ("name: {f}\n", "description", "missing"),
        ("name: {f}\ndescription: " + "x" * 1025 + "\n", "description", "at most 1024"),
        ("name: {f}\ndescription: d\ncolour: red\n", "colour", "unknown key"),
        ("name: {f}\ndescription: d\nmetadata: [1, 2]\n", "metadata", "mapping"),
    ],
)
def test_bad_front_matter(tmp_path, front, field, fragment):
    folder = "-x" if "-x" in front else ("Bad_Name" if "Bad_Name" in front else "skill-a")
    d = make(tmp_path, folder, front.replace("{f}", folder))
    msgs = messages(d)
    assert any(f": {field}: " in m and fragment in m and "SKILL.md" in m for m in msgs), msgs


def test_name_too_long(tmp_path):
    name = "a" * 65
    msgs = messages(make(tmp_path, name, f"name: {name}\ndescription: d\n"))
    assert any("at most 64" in m for m in msgs)


def test_body_too_long_and_bad_folders(tmp_path):
    d = make(tmp_path, "s", "name: s\ndescription: d\n", body="line\n" * 500)
    (d / "docs").mkdir()
    (d / "notes.txt").write_text("x")
    msgs = messages(d)
    assert any("body" in m and "under 500" in m for m in msgs)
    assert any("unexpected folder 'docs'" in m and "scripts, references, assets" in m for m in msgs)
    assert any("unexpected file 'notes.txt'" in m for m in msgs)


def test_missing_front_matter_and_file(tmp_path):
    d = tmp_path / "s"
    d.mkdir()
    assert any("missing" in m for m in messages(d))
    (d / "SKILL.md").write_text("# no front matter\n")
    assert any("front matter" in m for m in messages(d))
    with pytest.raises(ConfigError):
        load_skill(d)


def test_cli_check_exit_codes(tmp_path, capsys):
    assert main(["skills", "--root", str(ROOT / "skills"), "check"]) == 0
    bad = make(tmp_path, "bad", "name: nope\ndescription: d\n")
    assert main(["skills", "check", str(bad / "SKILL.md")]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "differs from its folder" in out
