from pathlib import Path

import pytest

from labconsole.errors import ConfigError
from labconsole.core.config import load_config

GOOD = """
[lab]
name = "t"
[objective]
name = "loss"
direction = "minimize"
command = "python train.py"
metric = "regex:^loss:\\\\s*([0-9.]+)"
timeout_s = 10
repeats = 2
protected = ["prepare.py", "bench/**"]
[search]
file = "train.py"
budget = 3
[search.space]
LR = { type = "float", low = 1e-4, high = 1e-1, log = true }
WIDTH = { type = "int", low = 8, high = 64, step = 8 }
ACT = { type = "categorical", choices = ["relu", "gelu"] }
[budget]
usd = 1.5
[agents]
worker = { backend = "sweep", count = 2 }
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lab.toml"
    path.write_text(text)
    return path


def test_good_config_parses(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD))
    assert cfg.name == "t"
    assert cfg.objective.metric.kind == "regex"
    assert cfg.objective.protected == ("prepare.py", "bench/**")
    assert [p.name for p in cfg.search.params] == ["LR", "WIDTH", "ACT"]
    assert cfg.agents["worker"].count == 2
    assert cfg.agents["reviewer"].backend == "rules"  # default
    assert cfg.budget.limits() == {"usd": 1.5}
    assert cfg.objective.better(1.0, 2.0)
    assert cfg.objective.max_repeats == 0  # unset: the adaptive plan's default cap
    assert (
        load_config(write(tmp_path, GOOD.replace("repeats = 2", "repeats = 2\nmax_repeats = 6"))).objective.max_repeats
        == 6
    )


# Each bad config is GOOD with one line replaced: the line -> [(its replacement, what the error must say)].
METRIC = 'metric = "regex:^loss:\\\\s*([0-9.]+)"'
WORKER = 'worker = { backend = "sweep", count = 2 }'
BAD_LINES: dict[str, list[tuple[str, str]]] = {
    'direction = "minimize"': [
        ('direction = "down"', "lab.toml: [objective] direction is 'down'; allowed: 'minimize' or 'maximize'")
    ],
    METRIC: [
        ('metric = "stdout"', "lab.toml: [objective] metric is 'stdout'; it must start with 'json:' or 'regex:'"),
        ('metric = "json:result.json"', "must look like 'json:result.json#val_bpb'"),
        ('metric = "regex:loss"', "needs one capture group"),
    ],
    "repeats = 2": [
        ("repeats = 0", "[objective] repeats is 0; must be >= 1"),
        ('repeats = "two"', "[objective] repeats is 'two'; expected an integer"),
        ("repeats = 2\nmax_repeats = 1", "[objective] max_repeats is 1; must be >= repeats (2), or 0"),
    ],
    "timeout_s = 10": [("timeout_s = true", "[objective] timeout_s is True")],
    'protected = ["prepare.py", "bench/**"]': [
        ("protected = [1]", "[objective] protected must be a list of non-empty glob strings")
    ],
    "low = 8, high = 64": [("low = 64, high = 8", "[search.space.WIDTH] high is 8; must be greater than low (64)")],
    'type = "categorical"': [('type = "choice"', "[search.space.ACT] type is 'choice'")],
    WORKER: [
        ('worker = { backend = "gpt" }', "[agents.worker] backend is 'gpt'; allowed:"),
        ('boss = { backend = "sweep" }', "[agents] boss is not a role; allowed: researcher"),
        ('planner = { backend = "sweep", count = 2 }', "only workers may have count > 1"),
    ],
    "usd = 1.5": [
        ("usd = -1", "[budget] usd is -1; must be >= 0"),
        ("dollars = 3", "[budget] dollars is not a known field; allowed: gpu_hours, roles, tokens, usd"),
    ],
    "[lab]": [("[labb]", "[labb] is not a known table")],
}


@pytest.mark.parametrize(
    "old,new,expected", [(old, new, expected) for old, cases in BAD_LINES.items() for new, expected in cases]
)
def test_errors_name_file_field_and_what_is_allowed(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert old in GOOD
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, GOOD.replace(old, new, 1)))
    assert expected in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found; a lab is a git repository with a lab.toml"):
        load_config(tmp_path)
    with pytest.raises(ConfigError, match="lab.toml: not valid TOML"):
        load_config(write(tmp_path, "[objective\nname="))
    with pytest.raises(ConfigError, match=r"the \[objective\] table is missing"):
        load_config(write(tmp_path, "[lab]\nname='x'\n"))


def test_demo_lab_config_is_valid() -> None:
    from labconsole.demo import demo_source

    cfg = load_config(demo_source() / "lab.toml")
    assert cfg.objective.name == "val_bpb" and cfg.search.params


def test_role_budgets(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD + "\n[budget.roles.worker]\nusd = 0.5\n"))
    assert cfg.budget.limits() == {"usd": 1.5, "roles": {"worker": {"usd": 0.5}}}
    with pytest.raises(ConfigError, match=r"\[budget.roles\] boss is not a role"):
        load_config(write(tmp_path, GOOD + "\n[budget.roles.boss]\nusd = 0.5\n"))
    with pytest.raises(ConfigError, match=r"\[budget.roles.worker\] dollars is not a known field"):
        load_config(write(tmp_path, GOOD + "\n[budget.roles.worker]\ndollars = 0.5\n"))


def test_lab_instructions_names_a_text_file_in_the_repository(tmp_path: Path) -> None:
    with_instructions = GOOD.replace('name = "t"', 'name = "t"\ninstructions = "docs/program.md"', 1)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "program.md").write_text("Change only train.py.\n")
    assert load_config(write(tmp_path, with_instructions)).instructions == "docs/program.md"
    assert load_config(write(tmp_path, GOOD)).instructions == ""


@pytest.mark.parametrize(
    "value,make,expected",
    [
        ('"nope.md"', None, r"lab.toml: \[lab\] instructions is 'nope.md', which is not a file in .*; give the path"),
        ('"../up.md"', None, r"lab.toml: \[lab\] instructions is '../up.md'; give the path of a text file"),
        ('"/etc/passwd"', None, r"\[lab\] instructions is '/etc/passwd'; give the path"),
        ('""', None, r"\[lab\] instructions is ''; give the path"),
        ("3", None, r"\[lab\] instructions is 3; expected the path of a file in the repository"),
        ('"link.md"', "symlink", r"instructions is 'link.md', which leads outside the repository"),
        ('"big.md"', "big", r"instructions 'big.md' is 65537 bytes; instructions may be at most 65536 bytes"),
        ('"bin.md"', "binary", r"instructions 'bin.md' is a binary file; instructions must be text"),
        ('"latin.md"', "latin1", r"instructions 'latin.md' is not UTF-8 text; save it as UTF-8"),
    ],
)
def test_bad_lab_instructions_are_one_clear_line(tmp_path: Path, value: str, make: str | None, expected: str) -> None:
    lab = tmp_path / "lab"
    lab.mkdir()
    outside = tmp_path / "outside.md"
    outside.write_text("secret\n")
    if make == "symlink":
        (lab / "link.md").symlink_to(outside)
    elif make == "big":
        (lab / "big.md").write_text("x" * 65537)
    elif make == "binary":
        (lab / "bin.md").write_bytes(b"# x\0y\n")
    elif make == "latin1":
        (lab / "latin.md").write_bytes("caf\xe9\n".encode("latin-1"))
    text = GOOD.replace('name = "t"', f'name = "t"\ninstructions = {value}', 1)
    with pytest.raises(ConfigError, match=expected) as info:
        load_config(write(lab, text))
    assert "\n" not in str(info.value)
