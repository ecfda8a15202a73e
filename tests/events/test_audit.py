"""``audit verify``: tampering is caught at the first bad line; the gate is re-checked from the log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labconsole.cli import main
from labconsole.events import kinds
from labconsole.events.audit import verify_session
from labconsole.events.log import GENESIS, LOG_NAME, compute_hash, put_blob

from .conftest import write_lines, write_session

SHA, EVID = "a" * 40, "e" * 64


def _good_session() -> list[tuple[str, str, dict]]:
    return [
        (kinds.SESSION_STARTED, "console", {"lab": "demo"}),  # line 1
        (kinds.HYP_PROPOSED, "agent:r1", {"hyp_id": "h1", "title": "lr 3e-3", "params": {}}),  # 2
        (kinds.RUN_STARTED, "console", {"run_id": "r1", "hyp_id": "h1"}),  # 3
        (kinds.RUN_FINISHED, "console", {"run_id": "r1", "status": "ok", "metric": 1.5}),  # 4
        (kinds.EVIDENCE_RECORDED, "console", {"hyp_id": "h1", "evidence_hash": EVID}),  # 5
        (kinds.DECISION_APPROVED, "human:ann", {"hyp_id": "h1", "sha": SHA, "evidence_hash": EVID}),  # 6
        (kinds.MERGE_COMPLETED, "console", {"hyp_id": "h1", "sha": SHA, "evidence_hash": EVID}),  # 7
        (kinds.NOTE, "console", {"text": "done"}),  # 8
    ]


def _forge(seq: int, prev: str, kind: str, actor: str, data: dict, ts: float = 1.0) -> str:
    body = json.dumps(
        {"seq": seq, "ts": ts, "kind": kind, "actor": actor, "data": data},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return f'{body[:-1]},"prev":"{prev}","hash":"{compute_hash(prev, body)}"}}'


def _first(session: Path):
    result = verify_session(session, live=False)
    assert not result.ok
    return result.problems[0]


def test_intact_session_verifies(session: Path) -> None:
    write_session(session, _good_session())
    result = verify_session(session)
    assert result.ok and result.events == 8 and result.problems == []


def test_edited_line_is_named(session: Path) -> None:
    lines = write_session(session, _good_session())
    lines[3] = lines[3].replace('"metric":1.5', '"metric":1.2')
    write_lines(session, lines)
    problem = _first(session)
    assert (problem.line, problem.seq) == (4, 3) and "hash" in problem.message


def test_deleted_line_is_named(session: Path) -> None:
    lines = write_session(session, _good_session())
    del lines[3]  # hide the run's end
    write_lines(session, lines)
    result = verify_session(session, live=False)
    assert result.problems[0].line == 4 and "seq 4, expected 3" in result.problems[0].message
    assert any("run r1 started but never finished" in p.message for p in result.problems)


def test_reordered_lines_are_named(session: Path) -> None:
    lines = write_session(session, _good_session())
    lines[4], lines[5] = lines[5], lines[4]
    write_lines(session, lines)
    assert _first(session).line == 5


def test_forged_line_with_bad_hash_is_named(session: Path) -> None:
    lines = write_session(session, _good_session())
    forged = json.loads(lines[2])
    forged["data"]["run_id"] = "r-hidden"
    forged["hash"] = "f" * 64
    lines[2] = json.dumps(forged)
    write_lines(session, lines)
    assert _first(session).line == 3


def test_forged_inserted_line_that_chains_is_named(session: Path) -> None:
    lines = write_session(session, _good_session())
    prev = json.loads(lines[4])["hash"]
    lines.insert(
        5,
        _forge(5, prev, kinds.DECISION_APPROVED, "human:mallory", {"hyp_id": "h1", "sha": SHA, "evidence_hash": EVID}),
    )
    write_lines(session, lines)
    problem = _first(session)
    assert problem.line == 7  # the forged line chains; the line after it no longer does


def test_forged_tail_with_recomputed_chain_still_fails_the_gate(session: Path) -> None:
    lines = write_session(session, _good_session())
    last = json.loads(lines[-1])
    lines.append(
        _forge(
            8, last["hash"], kinds.MERGE_COMPLETED, "console", {"hyp_id": "h2", "sha": "b" * 40, "evidence_hash": EVID}
        )
    )
    write_lines(session, lines)
    problem = _first(session)
    assert problem.line == 9 and "without a standing human approval" in problem.message


def test_non_canonical_line_is_caught(session: Path) -> None:
    lines = write_session(session, _good_session())
    lines[1] = json.dumps(json.loads(lines[1]), indent=None)  # same content, other spacing
    write_lines(session, lines)
    problem = _first(session)
    assert problem.line == 2 and "canonical" in problem.message


def _gate(session: Path, events: list[tuple[str, str, dict]]):
    write_session(session, [(kinds.SESSION_STARTED, "console", {}), *events])
    return verify_session(session, live=False)


def test_merge_without_approval(session: Path) -> None:
    result = _gate(session, [(kinds.MERGE_COMPLETED, "console", {"hyp_id": "h1", "sha": SHA, "evidence_hash": EVID})])
    assert [(p.line, p.seq) for p in result.problems] == [(2, 1)]
    assert "without a standing human approval" in result.problems[0].message


def test_approval_for_a_different_sha(session: Path) -> None:
    result = _gate(
        session,
        [
            (kinds.DECISION_APPROVED, "human:ann", {"hyp_id": "h1", "sha": "c" * 40, "evidence_hash": EVID}),
            (kinds.MERGE_COMPLETED, "console", {"hyp_id": "h1", "sha": SHA, "evidence_hash": EVID}),
        ],
    )
    assert len(result.problems) == 1 and result.problems[0].line == 3
    assert "is not the approved sha" in result.problems[0].message


def test_approval_for_different_evidence(session: Path) -> None:
    result = _gate(
        session,
        [
            (kinds.DECISION_APPROVED, "human:ann", {"hyp_id": "h1", "sha": SHA, "evidence_hash": "0" * 64}),
            (kinds.MERGE_COMPLETED, "console", {"hyp_id": "h1", "sha": SHA, "evidence_hash": EVID}),
        ],
    )
    assert "evidence hash" in result.problems[0].message


def test_rejection_after_approval_revokes_it(session: Path) -> None:
    result = _gate(
        session,
        [
            (kinds.DECISION_APPROVED, "human:ann", {"hyp_id": "h1", "sha": SHA, "evidence_hash": EVID}),
            (kinds.DECISION_REJECTED, "human:bob", {"hyp_id": "h1", "reason": "noise"}),
            (kinds.MERGE_COMPLETED, "console", {"hyp_id": "h1", "sha": SHA, "evidence_hash": EVID}),
        ],
    )
    assert result.problems[0].line == 4


def test_agent_approval_does_not_count(session: Path) -> None:
    result = _gate(
        session,
        [
            (kinds.DECISION_APPROVED, "agent:w1", {"hyp_id": "h1", "sha": SHA, "evidence_hash": EVID}),
            (kinds.MERGE_COMPLETED, "console", {"hyp_id": "h1", "sha": SHA, "evidence_hash": EVID}),
        ],
    )
    assert [p.line for p in result.problems] == [2, 3]
    assert "not a human" in result.problems[0].message


def test_publish_needs_an_approval_of_its_sha(session: Path) -> None:
    ok = _gate(
        session,
        [
            (kinds.DECISION_APPROVED, "human:ann", {"hyp_id": "h1", "sha": SHA, "evidence_hash": EVID}),
            (
                kinds.PUBLISH_COMPLETED,
                "console",
                {"path": "kernels/rms", "sha": SHA, "evidence_hash": EVID, "destination": "hub"},
            ),
        ],
    )
    assert ok.ok, ok.problems
    bad = _gate(
        session.with_name("other"),
        [
            (
                kinds.PUBLISH_COMPLETED,
                "console",
                {"path": "kernels/rms", "sha": SHA, "evidence_hash": EVID, "destination": "hub"},
            ),
        ],
    )
    assert bad.problems[0].line == 2 and "publish" in bad.problems[0].message


def test_run_without_end(session: Path) -> None:
    result = _gate(
        session,
        [
            (kinds.RUN_STARTED, "console", {"run_id": "r1"}),
            (kinds.RUN_STARTED, "console", {"run_id": "r2"}),
            (kinds.RUN_FINISHED, "console", {"run_id": "r2", "status": "failed"}),
        ],
    )
    assert [(p.line, p.message) for p in result.problems] == [(2, "run r1 started but never finished")]
    live = verify_session(session, live=True)  # a console still running it: a note, not a failure
    assert live.ok and "r1" in live.notes[0]


def test_blob_references_are_checked(session: Path) -> None:
    session.mkdir(parents=True)
    good = put_blob(session, "log text")
    gone = "1" * 64
    tampered = put_blob(session, "evidence")
    (session / "blobs" / tampered).write_text("changed")
    result = _gate(
        session,
        [
            (kinds.HYP_COMMITTED, "console", {"hyp_id": "h1", "diff_blob": good}),
            (kinds.RUN_STARTED, "console", {"run_id": "r1"}),
            (kinds.RUN_FINISHED, "console", {"run_id": "r1", "log_blob": gone}),
            (kinds.EVIDENCE_RECORDED, "console", {"hyp_id": "h1", "blob": tampered, "evidence_hash": EVID}),
        ],
    )
    assert [(p.line, "missing" in p.message or "corrupt" in p.message) for p in result.problems] == [
        (4, True),
        (5, True),
    ]


def test_cli_verify(
    session: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = write_session(session, _good_session())
    assert main(["audit", "verify", str(session)]) == 0
    assert capsys.readouterr().out.startswith("OK ")
    monkeypatch.chdir(tmp_path)  # an id resolves under ./sessions/
    assert main(["audit", "verify", "s-test"]) == 0
    capsys.readouterr()
    assert main(["audit", "verify", "s-test", "--lab", str(tmp_path)]) == 0
    capsys.readouterr()
    lines[2] = lines[2].replace('"r1"', '"r9"')
    write_lines(session, lines)
    assert main(["audit", "verify", str(session)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("events.jsonl:3: ")
    assert out[-1].startswith("FAILED")
    assert main(["audit", "verify", "nope"]) == 2
    assert "no session log found" in capsys.readouterr().err


def test_empty_session_is_ok(session: Path) -> None:
    session.mkdir(parents=True)
    (session / LOG_NAME).write_bytes(b"")
    assert verify_session(session).ok
    assert GENESIS == "0" * 64
