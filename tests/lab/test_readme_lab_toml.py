"""The README's ``lab.toml`` example is a lab the console accepts, and it names every ``[objective]`` field."""

from __future__ import annotations

import dataclasses
import re
import shutil
import tomllib
from pathlib import Path

from labconsole.core.config import Objective, load_config

ROOT = Path(__file__).resolve().parents[2]


def readme_example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## A lab\n", 1)[1]
    block = re.search(r"```toml\n(.*?)```", section, re.S)
    assert block is not None, "README.md: no ```toml block under '## A lab'"
    return block.group(1)


def test_readme_lab_toml_parses_and_lists_every_objective_field(tmp_path: Path) -> None:
    example = readme_example()
    shutil.copy(ROOT / "labconsole" / "demo" / "lab" / "train.py", tmp_path / "train.py")
    (tmp_path / "lab.toml").write_text('[lab]\nname = "readme"\n' + example)
    obj = load_config(tmp_path / "lab.toml").objective
    documented = set(tomllib.loads(example)["objective"])
    assert documented == {f.name for f in dataclasses.fields(Objective)}
    # Each field on its own line with a comment saying what it does.
    for name in documented - {"name", "direction"}:
        assert re.search(rf"(?m)^{name} = .*#\s*\S", example), f"README: [objective] {name} has no comment"
    assert obj.env == ("WANDB_MODE",) and obj.require_sandbox is False and obj.network is False
