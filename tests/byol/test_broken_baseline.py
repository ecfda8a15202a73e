"""Issue 23: a lab whose baseline cannot be measured stops before any agent starts, with one line that says
what to fix (`labconsole run`), and `labconsole check` shows the same cause on its baseline line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from byol.repo_fixture import commit_all

from labconsole.cli import main
from labconsole.events import kinds as K
from labconsole.events.log import read_events
from labconsole.lab.session import list_sessions

pytestmark = pytest.mark.slow

CASES = {
    "command not found": (
        {"command": '"no_such_command_b23 train.py"'},
        (
            r"the baseline command was not found \(.*no_such_command_b23: (command )?not found\)",
            r"fix \[objective\] command",
        ),
    ),
    "exit code and last stderr line": (
        {"command": '"python no_such_file.py"'},
        (
            r"the baseline run failed with exit code 2: python: can't open file .*"
            r"no_such_file\.py.*",
            r"fix \[objective\] command 'python no_such_file\.py'",
        ),
    ),
    "metric pattern not found": (
        {"metric": r"'regex:^val_score:\s*([0-9.]+)'"},
        (
            r"the baseline run printed no metric: no line of the output matches "
            r"'\^val_score:.*' \(its last line: 'depth: +1'\)",
            r"fix \[objective\] metric",
        ),
    ),
    "timeout": (
        {"command": "\"python -c 'import time; time.sleep(60)'\"", "timeout_s": "1"},
        (r"the baseline run timed out \(timed out after 1 s\)", r"raise \[objective\] timeout_s"),
    ),
}


def _break(repo: Path, fields: dict[str, str]) -> None:
    assert main(["init", str(repo)]) == 0
    text = (repo / "lab.toml").read_text()
    for key, value in fields.items():
        text, n = re.subn(
            rf"(?m)^{key} = .*?(\s+#|$)", lambda m, k=key, v=value: f"{k} = {v}{m.group(1)}", text, count=1
        )
        assert n == 1, key
    (repo / "lab.toml").write_text(text)
    commit_all(repo, "a broken lab.toml")


@pytest.fixture(autouse=True)
def _no_uv(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("labconsole.lab.preflight_init._has_uv", lambda: False)


@pytest.mark.parametrize("case", list(CASES))
def test_run_refuses_a_broken_baseline_before_any_agent(
    case: str, autoresearch_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fields, (what, fix) = CASES[case]
    _break(autoresearch_repo, fields)
    capsys.readouterr()

    rc = main(["run", "--headless", "--lab", str(autoresearch_repo)])
    err = capsys.readouterr().err
    assert rc != 0
    assert len(err.strip().splitlines()) == 1, err
    assert re.fullmatch(
        rf"labconsole: the lab's baseline cannot be measured, no agent started: {what}; {fix}.*\n", err
    ), err
    session_dir = list_sessions(autoresearch_repo)[-1]
    events = list(read_events(session_dir))
    assert K.AGENT_STARTED not in {e.kind for e in events}
    assert not any(e.kind == K.HYP_PROPOSED for e in events)
    assert events[-1].kind == K.SESSION_STOPPED and "baseline cannot be measured" in events[-1].data["reason"]

    assert main(["check", "--lab", str(autoresearch_repo)]) == 1
    out = capsys.readouterr().out
    assert re.search(rf"^FAIL baseline run: {what} — {fix}", out, re.MULTILINE), out
    assert out.rstrip().endswith("1 item to fix before `labconsole run`")
