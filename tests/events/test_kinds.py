"""Event kinds are declared once (labconsole/events/kinds.py) and the writer holds every append to them."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from labconsole.errors import LabError
from labconsole.events import kinds as K
from labconsole.events.audit import verify_session
from labconsole.events.log import LOG_NAME, EventLog, read_events
from labconsole.events.schema import EVAL_LOG, SESSION_LOG, EventSchemaError

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "labconsole"
# A string that names an event kind: a known namespace, a dot, lower-case words (not a file name).
KIND_LITERAL = re.compile(
    r"^(session|log|agent|hypothesis|worktree|run|evidence|review|decision|merge|baseline|"
    r"publish|budget|gpu|report|eval)\.[a-z_]+(\.[a-z_]+)?$"
)
FILE_SUFFIXES = (".py", ".sh", ".json", ".jsonl", ".toml", ".md", ".txt", ".log", ".yaml", ".yml", ".csv")


def _sources() -> list[tuple[Path, ast.AST]]:
    return [(p, ast.parse(p.read_text(encoding="utf-8"))) for p in sorted(PACKAGE.rglob("*.py"))]


def _constant_names() -> set[str]:
    """Names of module constants that hold a declared kind: kinds.py's, and the eval results' re-exports."""
    from labconsole.evals import results

    return {
        name
        for module in (K, results)
        for name, value in vars(module).items()
        if name.isupper() and isinstance(value, str) and value in K.KINDS
    }


def test_every_kind_constant_is_declared() -> None:
    for name, value in vars(K).items():
        if name.isupper() and isinstance(value, str) and (KIND_LITERAL.match(value) or value == K.NOTE):
            assert value in K.KINDS, f"kinds.{name} = {value!r} is a bare string, not a declaration"


def test_every_appended_kind_in_the_source_is_declared() -> None:
    names = _constant_names()
    undeclared: list[str] = []
    appends = 0
    for path, tree in _sources():
        for node in ast.walk(tree):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "append"
                and node.args
            ):
                continue
            first = node.args[0]
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            if (
                isinstance(first, ast.Constant)
                and isinstance(first.value, str)
                and (len(node.args) >= 3 or KIND_LITERAL.match(first.value))
            ):  # not list/Text.append
                appends += 1
                if first.value not in K.KINDS:
                    undeclared.append(f"{where}: {first.value!r}")
            elif len(node.args) >= 2 and isinstance(first, (ast.Attribute, ast.Name)):
                # K.X, kinds.X, or a constant imported by name: it must be a declared kind's constant
                name = first.attr if isinstance(first, ast.Attribute) else first.id
                if name.isupper():
                    appends += 1
                    if name not in names:
                        undeclared.append(f"{where}: {ast.unparse(first)}")
    assert appends > 50  # the scan sees the lab's appends (it would pass vacuously if it saw none)
    assert not undeclared, "appends of undeclared kinds:\n" + "\n".join(undeclared)


def test_every_kind_literal_in_the_source_is_declared() -> None:
    found, undeclared = 0, []
    for path, tree in _sources():
        if path.name == "kinds.py" or path.relative_to(PACKAGE).as_posix() == "tui/keymap.py":
            continue  # the declarations themselves; key action names ("review.approve") share the dotted shape
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
                text = node.value.decode() if isinstance(node.value, bytes) else node.value
                for word in re.findall(r"[a-z_]+(?:\.[a-z_]+)+", text):
                    if KIND_LITERAL.match(word) and not word.endswith(FILE_SUFFIXES) and text.strip('"') == word:
                        found += 1
                        if word not in K.KINDS:
                            undeclared.append(f"{path.relative_to(ROOT)}:{node.lineno}: {word!r}")
    assert found >= 2  # the budget signals name their kinds as literals
    assert not undeclared, "kind strings that are not declared:\n" + "\n".join(undeclared)


def test_derived_sets_come_from_the_declarations() -> None:
    assert K.DURABLE_KINDS == {k for k, s in K.KINDS.items() if s.durable}
    assert K.DECISION_APPROVED in K.DURABLE_KINDS and K.AGENT_LOG not in K.DURABLE_KINDS
    assert K.DECISION_KINDS >= {K.DECISION_APPROVED, K.MERGE_COMPLETED, K.PUBLISH_COMPLETED, K.HYP_AWAITING}
    assert set(K.EVAL_KINDS) == {
        K.EVAL_STARTED,
        K.EVAL_ATTEMPT_STARTED,
        K.EVAL_ATTEMPT,
        K.EVAL_ATTEMPT_INTERRUPTED,
        K.EVAL_ATTEMPT_TRACKED,
        K.EVAL_FINISHED,
        K.LOG_REPAIRED,
    }
    assert not set(K.EVAL_KINDS) - {K.LOG_REPAIRED} & set(K.SESSION_KINDS)


def test_eval_attempt_declaration_matches_the_record() -> None:
    from labconsole.evals.summary import AttemptRecord

    record = AttemptRecord("a", "c", "m", True, 0, "pass")
    declared = set(K.KINDS[K.EVAL_ATTEMPT].declared)
    assert set(record.to_dict()) == declared
    K.validate(K.EVAL_ATTEMPT, record.to_dict(), log=EVAL_LOG)


@pytest.mark.parametrize(
    "kind,data,message",
    [
        ("hypothesis.propsed", {"hyp_id": "h1"}, "event kind 'hypothesis.propsed' is not declared"),
        (K.HYP_PROPOSED, {"title": "x"}, "event hypothesis.proposed: missing required field(s) hyp_id"),
        (K.HYP_PROPOSED, {"hyp_id": "h1", "titel": "x"}, "event hypothesis.proposed: undeclared field(s) titel"),
        (K.EVAL_STARTED, {"skill": "s"}, "event kind 'eval.started' is not declared for the session log"),
    ],
)
def test_bad_appends_are_refused_before_writing(tmp_path: Path, kind: str, data: dict, message: str) -> None:
    session = tmp_path / "s"
    with EventLog.open(session, log=SESSION_LOG) as log:
        log.append(K.NOTE, "console", {"text": "before"})
        with pytest.raises(EventSchemaError) as err:
            log.append(kind, "console", data)
        assert isinstance(err.value, LabError) and message in str(err.value) and "\n" not in str(err.value)
        log.append(K.NOTE, "console", {"text": "after"})
    assert [e.data["text"] for e in read_events(session)] == ["before", "after"]
    assert verify_session(session).ok


def test_open_kinds_keep_an_agents_extra_fields(tmp_path: Path) -> None:
    with EventLog.open(tmp_path / "s") as log:
        ev = log.append(K.AGENT_STATUS, "agent:w1", {"agent_id": "w1", "state": "working", "mood": "calm"})
    assert ev.data["mood"] == "calm"
    with EventLog.open(tmp_path / "s") as log, pytest.raises(EventSchemaError):
        log.append(K.AGENT_RAW, "console", {"agent_id": "w1", "text": "x", "mood": "calm"})  # console-made: closed


def test_not_required_keys_are_optional() -> None:
    # A `from __future__ import annotations` in a kinds module would make Python 3.11 count every key required.
    assert (K.KINDS[K.HYP_QUEUED].required, K.KINDS[K.HYP_QUEUED].optional) == ({"hyp_id"}, {"priority"})
    assert K.KINDS[K.AGENT_USAGE].required == {"agent_id"} and "cost_usd" in K.KINDS[K.AGENT_USAGE].optional
    assert K.KINDS[K.EVAL_ATTEMPT].required == {"attempt_id", "case", "model", "with_skill", "repeat", "status"}


def test_typed_constructor_gives_the_same_data() -> None:
    kind, data = K.event(K.HYP_QUEUED, K.HypQueued(hyp_id="h1", priority=0.5))
    assert (kind, data) == (K.HYP_QUEUED, {"hyp_id": "h1", "priority": 0.5})
    assert K.event(K.HYP_FAILED, K.HypFailed(hyp_id="h2", step="plan")) == (
        K.HYP_FAILED,
        {"hyp_id": "h2", "step": "plan"},
    )
    # An optional key given as None is left out (absent, as old writers wrote it); a required one stays.
    assert K.event(K.NOTE, {"text": "x"}) == (K.NOTE, {"text": "x"})
    assert K.event(K.PUBLISH_COMPLETED, {"sha": "a", "evidence_hash": "e", "hyp_id": None}) == (
        K.PUBLISH_COMPLETED,
        {"sha": "a", "evidence_hash": "e"},
    )
    with pytest.raises(EventSchemaError, match="missing required field"):
        K.event(K.HYP_FAILED, K.HypFailed(step="plan"))  # type: ignore[typeddict-item]


@pytest.mark.parametrize(
    "log_path",
    sorted(
        str(p.relative_to(ROOT))
        for p in ROOT.glob("**/events.jsonl")
        if ".git" not in p.parts and ".venv" not in p.parts
    ),
)
def test_recorded_logs_fit_the_declarations(log_path: str) -> None:
    """Old data stays valid: every event of every log kept in the repository fits its declaration."""
    for line in (ROOT / log_path).read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        K.validate(event["kind"], event["data"])


def test_audit_reports_an_undeclared_kind_or_field(tmp_path: Path) -> None:
    session = tmp_path / "s"
    with EventLog.open(session) as log:
        log.append(K.NOTE, "console", {"text": "fine"})
    from labconsole.events.log import _body, _line, compute_hash  # forge lines a writer would refuse

    lines = (session / LOG_NAME).read_text().splitlines()
    prev = json.loads(lines[-1])["hash"]
    for seq, (kind, data) in enumerate([("note.typo", {"text": "x"}), (K.NOTE, {"text": "x", "txt": "x"})], start=1):
        body = _body(seq, 1.0, kind, "console", data)
        digest = compute_hash(prev, body)
        lines.append(_line(body, prev, digest))
        prev = digest
    # the chain itself is intact: only the declarations are broken
    (session / LOG_NAME).write_text("".join(line + "\n" for line in lines))
    result = verify_session(session)
    assert not result.ok
    assert [p.line for p in result.problems] == [2, 3]
    assert "'note.typo' is not declared" in result.problems[0].message
    assert "undeclared field(s) txt" in result.problems[1].message


def _opens_a_log_for_writing(node: ast.AST) -> bool:
    """``EventLog.open(...)`` or ``EventLog(...)``: the only ways to get a writer."""
    if not isinstance(node, ast.Call):
        return False
    f = node.func
    return (
        isinstance(f, ast.Attribute) and f.attr == "open" and isinstance(f.value, ast.Name) and f.value.id == "EventLog"
    ) or (isinstance(f, ast.Name) and f.id == "EventLog")


def test_only_the_lab_service_and_the_eval_results_writer_open_a_log() -> None:
    """One writer per log: the Lab service writes sessions, ResultStore writes eval results."""
    allowed = {"labconsole/lab/service.py", "labconsole/evals/results.py"}
    writers = {
        str(path.relative_to(ROOT))
        for path, tree in _sources()
        if any(_opens_a_log_for_writing(node) for node in ast.walk(tree))
    }
    assert writers - allowed == set(), f"modules that open an event log for writing: {sorted(writers - allowed)}"
    assert writers == allowed  # the scan finds the two writers it allows (it is not looking at nothing)
