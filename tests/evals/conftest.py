"""A tiny skill and eval suite whose lift is known: the answer is 42 only with the skill's text."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from evals.fake_agent import MARKER

FAKE_AGENT = Path(__file__).with_name("fake_agent.py")
AGENT_CMD = f"{sys.executable} {FAKE_AGENT}"


def write_suite(root: Path, gpu_case: bool = False) -> tuple[Path, Path]:
    skills, evals = root / "skills", root / "evals"
    sk = skills / "answer-skill"
    (sk / "references").mkdir(parents=True)
    (sk / "SKILL.md").write_text(
        f"---\nname: answer-skill\ndescription: knows the answer\n---\nThe answer is 42. {MARKER}\n"
    )
    (sk / "references" / "why.md").write_text("Because.\n")
    for case in ("answer-a", "answer-b"):
        d = evals / "answer-skill" / case
        (d / "fixture").mkdir(parents=True)
        (d / "fixture" / "README.md").write_text("Write the answer to answer.txt\n")
        (d / "fixture" / "keep.txt").write_text("do not touch\n")
        (d / "case.toml").write_text(
            'title = "answer"\nprompt = "Write the answer to answer.txt"\nfixture = "fixture"\n'
            'protected = ["keep.txt"]\ntimeout_s = 60\nmax_tokens = 100000\n\n'
            '[[checks]]\nname = "scope"\nkind = "diff"\nallow = ["answer.txt"]\nrequire_change = true\n\n'
            '[[checks]]\nname = "answer"\nkind = "expect"\npath = "answer.txt"\ncontains = ["42"]\n\n'
            '[[checks]]\nname = "number"\nrun = "python -c \\"import sys; sys.exit(int(open(\'answer.txt\').read()) != 42)\\""\n'
            + (
                '\n[[checks]]\nname = "gpu-bench"\nrun = "true"\nrequires_gpu = true\n'
                if gpu_case and case == "answer-b"
                else ""
            )
        )
    return skills, evals


@pytest.fixture
def suite(tmp_path: Path) -> tuple[Path, Path]:
    return write_suite(tmp_path)
