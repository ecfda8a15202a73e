"""The change checks as pure functions: trees in, flags out; the lab.toml fields and their bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from labconsole.core.config import load_config
from labconsole.errors import ConfigError
from labconsole.lab import change_checks as C

BASE = {
    "train.py": ("100644", "a"),
    "prepare.py": ("100644", "b"),
    "data/x.bin": ("100644", "c"),
    "lab.toml": ("100644", "d"),
    "lib/eval/score.py": ("100644", "e"),
}
RULES = C.TrustRules(
    protected=("prepare.py", "data/**", "lib/eval/score.py"),
    editable=None,
    rules_files=C.LAB_RULE_FILES,
    import_roots=("",),
)


def flags(cand: dict[str, tuple[str, str]], rules: C.TrustRules = RULES) -> dict[str, list[str]]:
    return {f.flag: list(f.paths) for f in C.check_changes(rules, BASE, cand)}


def test_honest_edit_raises_nothing() -> None:
    assert flags({**BASE, "train.py": ("100644", "z")}) == {}


@pytest.mark.parametrize(
    "path,flag",
    [
        ("prepare/__init__.py", "shadows-protected"),
        ("prepare/evil.py", "shadows-protected"),
        ("prepare.pyc", "shadows-protected"),
        ("__pycache__/prepare.cpython-311.pyc", "shadows-protected"),
        ("prepare.cpython-311-x86_64-linux-gnu.so", "shadows-protected"),
        ("lib/__init__.py", "shadows-protected"),
        ("lib/eval/score/__init__.py", "shadows-protected"),
        ("score.py", "shadows-protected"),
        ("sitecustomize.py", "startup-hook"),
        ("sub/usercustomize.py", "startup-hook"),
        ("x.pth", "startup-hook"),
        ("conftest.py", "test-config"),
        ("pyproject.toml", "project-config"),
        ("requirements-dev.txt", "project-config"),
        ("uv.lock", "project-config"),
        (".python-version", "project-config"),
        (".env", "project-config"),
        (".gitattributes", "git-config"),
        ("agents/worker.md", "changes-lab-rules"),
        ("skills/x/SKILL.md", "changes-lab-rules"),
    ],
)
def test_what_a_run_loads_is_flagged_when_added(path: str, flag: str) -> None:
    rules = RULES if path != "score.py" else C.TrustRules(RULES.protected, None, RULES.rules_files, ("", "lib/eval"))
    assert flags({**BASE, path: ("100644", "n")}, rules) == {flag: [path]}


def test_symlink_swap_and_protected_edits_and_lab_toml() -> None:
    got = flags({**BASE, "prepare.py": ("120000", "b"), "data/x.bin": ("100644", "q"), "lab.toml": ("100644", "r")})
    assert got == {"protected": ["data/x.bin", "prepare.py"], "changes-lab-rules": ["lab.toml"]}


def test_editable_allow_list() -> None:
    rules = C.TrustRules(RULES.protected, ("train.py", "pyproject.toml"), RULES.rules_files, ("",))
    got = flags(
        {**BASE, "train.py": ("100644", "z"), "helper.py": ("100644", "h"), "pyproject.toml": ("100644", "p")}, rules
    )
    assert got == {"outside-editable": ["helper.py"]}  # the allow-list names pyproject.toml: no project-config


def test_rules_diff_reads_like_a_person_would_say_it() -> None:
    old = {"objective": {"name": "val_loss", "protected": ["prepare.py", "data/**"], "repeats": 3}}
    new = {"objective": {"name": "train_loss", "protected": ["data/**"], "repeats": 3, "editable": ["x.py"]}}
    assert C.rules_diff(old, new) == [
        "editable added: [x.py]",
        "metric val_loss → train_loss",
        "protected loses prepare.py",
    ]
    assert C.rules_diff_of_texts('[objective]\nname = "a"\n', None) == ["lab.toml deleted"]
    assert C.rules_diff_of_texts('[objective]\nname = "a"\n', "[objective\n")[0].startswith("lab.toml no longer parses")


def _lab(tmp_path: Path, extra: str) -> Path:
    (tmp_path / "lab.toml").write_text(
        '[objective]\nname = "m"\ncommand = "python train.py"\nmetric = "regex:m=(\\\\S+)"\n'
        f'protected = ["prepare.py"]\n{extra}\n[search]\nfile = "train.py"\n[search.space]\n'
        'LR = { type = "float", low = 0.1, high = 1.0 }\n'
    )
    return tmp_path / "lab.toml"


def test_config_editable_fields_and_bad_input(tmp_path: Path) -> None:
    cfg = load_config(_lab(tmp_path, 'editable = ["train.py"]\nmeasure_outside_editable = true'))
    assert cfg.objective.editable == ("train.py",) and cfg.objective.measure_outside_editable
    assert load_config(_lab(tmp_path, "")).objective.editable is None
    with pytest.raises(ConfigError, match=r"\[objective\] editable must be a list"):
        load_config(_lab(tmp_path, 'editable = ["", 3]'))
    cfg = load_config(_lab(tmp_path, 'editable = ["*.py", "nothing/**"]'))
    errors, warnings = C.check_patterns(cfg, ["train.py", "prepare.py"])
    assert errors == [
        "lab.toml: [objective] editable pattern '*.py' includes 'prepare.py', which protected "
        "pattern 'prepare.py' protects; narrow editable or drop it from protected"
    ]
    assert warnings == ["warning: lab.toml [objective] editable pattern 'nothing/**' matches no file in main"]


def test_trust_rules_from_config(tmp_path: Path) -> None:
    cfg = load_config(_lab(tmp_path, 'editable = ["train.py"]').parent)
    rules = C.TrustRules.from_config(cfg)
    assert rules.editable == ("train.py",) and "train.py" not in rules.rules_files and rules.import_roots == ("",)
    assert C.command_scripts("python src/run.py --x=1 eval.sh ../up.py") == ["src/run.py", "eval.sh"]
