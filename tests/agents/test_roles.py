"""Role specs: the five built-ins parse, a lab overrides one, bad front matter names file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from labconsole.agents.roles import BUILTIN_DIR, ROLES, load_role, load_roles, parse_role_spec
from labconsole.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_builtin_specs_load_with_protocol_prompts() -> None:
    specs = load_roles()
    assert set(specs) == set(ROLES)
    assert specs["planner"].read_only and specs["reviewer"].read_only and not specs["worker"].read_only
    assert "propose" in specs["researcher"].tools and "commit" in specs["worker"].tools
    assert "rejected" in specs["planner"].prompt and "protected" in specs["worker"].prompt.lower()
    assert "stale" in specs["reviewer"].prompt.lower() and "log alone" in specs["reporter"].prompt
    assert specs["worker"].permission_mode == "acceptEdits"
    assert all(s.skills for s in specs.values())


def test_top_level_agents_dir_is_the_package_data() -> None:
    for role in ROLES:
        top = ROOT / "agents" / f"{role}.md"
        assert top.read_text() == (BUILTIN_DIR / f"{role}.md").read_text(), f"agents/{role}.md drifted"


def test_lab_overrides_one_role(tmp_path: Path) -> None:
    (tmp_path / "agents").mkdir()
    (tmp_path / "agents" / "planner.md").write_text(
        "---\nname: planner\ndescription: strict planner\ntools: read_file, decide\nmodel: m1\n"
        "backend: openai\nread-only: true\n---\nBe strict.\n"
    )
    specs = load_roles(tmp_path)
    assert specs["planner"].description == "strict planner" and specs["planner"].tools == ("read_file", "decide")
    assert specs["planner"].backend == "openai" and specs["planner"].path.parent == tmp_path / "agents"
    assert specs["worker"].path.parent == BUILTIN_DIR


GOOD = "name: worker\ndescription: d\ntools: [read_file]\n"


@pytest.mark.parametrize(
    "front, field",
    [
        ("description: d\ntools: [read_file]\n", "'name'"),
        ("name: worker\ntools: [read_file]\n", "'description'"),
        (GOOD + "read_only: true\n", "'read_only'"),
        (GOOD.replace("[read_file]", "[read_file, teleport]"), "'tools'"),
        (GOOD.replace("[read_file]", "42"), "'tools'"),
        (GOOD + "backend: gpt-magic\n", "'backend'"),
        (GOOD + "read-only: maybe\n", "'read-only'"),
        (GOOD + "permission-mode: yolo\n", "'permission-mode'"),
        (GOOD + "max-turns: 0\n", "'max-turns'"),
        (GOOD.replace("name: worker", "name: planner"), "'name'"),
        (GOOD.replace("[read_file]", "[write_file]") + "read-only: true\n", "'tools'"),
    ],
)
def test_bad_front_matter_names_file_and_field(tmp_path: Path, front: str, field: str) -> None:
    path = tmp_path / "worker.md"
    path.write_text(f"---\n{front}---\nprompt\n")
    with pytest.raises(ConfigError) as err:
        parse_role_spec(path, expected_role="worker")
    assert str(path) in str(err.value) and field in str(err.value)


@pytest.mark.parametrize(
    "text, words",
    [
        ("no front matter\n", "must start"),
        ("---\nname: worker\n", "not closed"),
        ("---\nname: [unclosed\n---\nx\n", "not valid YAML"),
        ("---\n- a\n- b\n---\nx\n", "mapping"),
        ("---\n" + GOOD + "---\n\n", "prompt"),
    ],
)
def test_malformed_spec_files(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "worker.md"
    path.write_text(text)
    with pytest.raises(ConfigError, match=words):
        parse_role_spec(path)


def test_unknown_role() -> None:
    with pytest.raises(ConfigError, match="unknown role"):
        load_role("intern")


def test_builtin_skills_exist_and_reach_the_prompt(tmp_path: Path) -> None:
    from labconsole.agents.roles import skills_prompt

    for spec in load_roles().values():
        text, missing = skills_prompt(spec)
        assert missing == [] and "# Skill: lab-protocol" in text
    (tmp_path / "agents").mkdir()
    (tmp_path / "agents" / "worker.md").write_text(
        "---\nname: worker\ndescription: d\ntools: [read_file]\nskills: [lab-protocol, no-such-skill]\n---\nWork.\n"
    )
    text, missing = skills_prompt(load_role("worker", tmp_path), tmp_path)
    assert missing == ["no-such-skill"] and "lab-protocol" in text
