"""``audit verify`` on sealed sessions: the three findings of issue 16 (a forged approval with a recomputed
chain, a truncated tail, git contradicting the log), crashes as warnings, old sessions as "unsigned (pre-seal)".

Sessions here are written the way the Lab writes them (events/signing.py signs each decision at its seq,
events/seal.py checkpoints after it and keeps the latest seal in git and the state dir), on a real git repo."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from labconsole.cli import main
from labconsole.events import kinds as K
from labconsole.events.audit import verify_session
from labconsole.events.log import GENESIS, EventLog, compute_hash
from labconsole.events.seal import Sealer, state_dir
from labconsole.events.signing import SIGNED_KINDS, Signer, load_signer, sign_decision

EXAMPLES = Path(__file__).resolve().parents[2] / "sessions" / "examples"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


class Writer:
    """Appends like the Lab: decisions signed where they will sit, a checkpoint after each, one at close."""

    def __init__(self, lab: Path, session_id: str, signer: Signer) -> None:
        self.log = EventLog.open(lab / "sessions" / session_id)
        self.session_id = session_id
        self.signer = signer
        self.sealer = Sealer(signer, session_id, lab)

    def append(self, kind: str, actor: str, data: dict[str, Any]) -> None:
        if kind in SIGNED_KINDS:
            last = self.log.last
            seq, prev = (0, GENESIS) if last is None else (last.seq + 1, last.hash)
            data = {
                **data,
                "signature": sign_decision(
                    self.signer, session_id=self.session_id, seq=seq, prev=prev, kind=kind, actor=actor, data=data
                ),
            }
        self.log.append(kind, actor, data)
        if kind in SIGNED_KINDS:
            self.seal("decision")

    def seal(self, reason: str) -> None:
        last = self.log.last
        assert last is not None
        checkpoint = self.log.append(K.SEAL_CHECKPOINT, "console", self.sealer.checkpoint(last.seq, last.hash, reason))
        self.sealer.sealed(checkpoint.seq, checkpoint.hash)

    def close(self, *, seal: bool = True) -> None:
        if seal:
            self.seal("close")
        self.sealer.flush()
        self.log.close()


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    root = tmp_path / "lab"
    root.mkdir()
    (root / ".gitignore").write_text("sessions/\n")
    (root / "train.py").write_text("LR = 1e-3\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "baseline")
    return root


def run_session(lab: Path, *, close: bool = True, extra_notes: int = 70) -> dict[str, Any]:
    """Baseline, a candidate on lab/h1, its measurement, a signed approval, the gate's merge, more events."""
    signer = load_signer(announce=False)
    baseline = git(lab, "rev-parse", "HEAD")
    git(lab, "checkout", "-q", "-b", "lab/h1")
    (lab / "train.py").write_text("LR = 3e-3\n")
    git(lab, "commit", "-qam", "lr 3e-3")
    sha = git(lab, "rev-parse", "HEAD")
    git(lab, "checkout", "-q", "main")
    git(lab, "merge", "-q", "--no-ff", "-m", "Merge h1: lr 3e-3", sha)
    merge_sha = git(lab, "rev-parse", "HEAD")
    evid = "e" * 64
    w = Writer(lab, "s1", signer)
    w.append(
        K.SESSION_STARTED,
        "console",
        {
            "session_id": "s1",
            "lab": "t",
            "baseline_sha": baseline,
            "main_branch": "main",
            "signing_key": signer.public_hex,
        },
    )
    w.append(K.HYP_PROPOSED, "agent:r1", {"hyp_id": "h1", "title": "lr 3e-3", "params": {}})
    w.append(K.RUN_STARTED, "console", {"run_id": "r1", "hyp_id": "h1"})
    w.append(K.RUN_FINISHED, "console", {"run_id": "r1", "status": "ok", "metric": 1.5})
    w.append(K.EVIDENCE_RECORDED, "console", {"hyp_id": "h1", "evidence_hash": evid})
    w.append(K.DECISION_APPROVED, "human:ann", {"hyp_id": "h1", "sha": sha, "evidence_hash": evid, "who": "ann"})
    w.append(
        K.MERGE_COMPLETED,
        "human:ann",
        {"hyp_id": "h1", "sha": sha, "merge_sha": merge_sha, "into": "main", "evidence_hash": evid},
    )
    for i in range(extra_notes):
        w.append(K.NOTE, "console", {"text": f"note {i}"})
    w.close(seal=close)
    return {
        "session": lab / "sessions" / "s1",
        "sha": sha,
        "merge_sha": merge_sha,
        "evid": evid,
        "baseline": baseline,
        "signer": signer,
    }


def events(session: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (session / "events.jsonl").read_text().splitlines()]


def append_forged(session: Path, evs: list[dict[str, Any]], kind: str, data: dict[str, Any]) -> None:
    """Add a decision by "human:ann" at the end of ``evs`` and recompute the chain over it, as a forger would."""
    forged = {"seq": 0, "ts": evs[-1]["ts"], "kind": kind, "actor": "human:ann", "prev": "", "hash": "", "data": data}
    rewrite(session, [*evs, forged], len(evs))


def rewrite(session: Path, evs: list[dict[str, Any]], start: int) -> None:
    """What anyone who can write the file can do: recompute the chain from ``start`` on."""
    prev = evs[start - 1]["hash"] if start else GENESIS
    for i in range(start, len(evs)):
        ev = evs[i] = {**evs[i], "seq": i, "prev": prev}
        body = json.dumps(
            {k: ev[k] for k in ("seq", "ts", "kind", "actor", "data")},
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
        ev["hash"] = prev = compute_hash(ev["prev"], body)
    lines = []
    for ev in evs:
        body = json.dumps(
            {k: ev[k] for k in ("seq", "ts", "kind", "actor", "data")},
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
        lines.append(f'{body[:-1]},"prev":"{ev["prev"]}","hash":"{ev["hash"]}"}}\n')
    (session / "events.jsonl").write_text("".join(lines))


def messages(session: Path, **kw: Any) -> list[str]:
    result = verify_session(session, live=False, **kw)
    return [p.message for p in result.problems]


def test_sealed_session_verifies_with_signers(lab: Path) -> None:
    s = run_session(lab)
    result = verify_session(s["session"], live=False)
    assert result.ok and result.clean, result.problems
    assert result.seal_status == f"sealed at seq {result.events - 1}"
    who = s["signer"].public_hex[:8]
    assert any(line.startswith("approved by ") and f"(ed25519 {who}…)" in line for line in result.signers.values())
    assert any(line.startswith("merged by ") for line in result.signers.values())


def test_finding_1_forged_approval_with_recomputed_chain_is_refused(lab: Path) -> None:
    s = run_session(lab)
    evs = events(s["session"])
    data = {"hyp_id": "h1", "sha": s["sha"], "evidence_hash": s["evid"], "who": "ann"}
    append_forged(s["session"], evs, K.DECISION_APPROVED, data)
    # even with every copy of the seal outside the session dir gone, the missing signature alone fails it
    git(lab, "update-ref", "-d", "refs/labconsole/seal/s1")
    for f in state_dir().glob("s1.*.json"):
        f.unlink()
    result = verify_session(s["session"], live=False)
    assert not result.ok
    assert any("approval of h1 by human:ann does not count: no signature" in m for m in messages(s["session"]))


def test_a_signature_cannot_be_lifted_onto_another_decision(lab: Path) -> None:
    s = run_session(lab)
    evs = events(s["session"])
    i = next(i for i, e in enumerate(evs) if e["kind"] == K.DECISION_APPROVED)
    evs[i]["data"]["reason"] = "forged reason"
    rewrite(s["session"], evs, i)
    assert any("does not count: invalid signature" in m for m in messages(s["session"]))


@pytest.mark.parametrize("cut", [1, 3, 60])
def test_finding_2_truncated_tail_is_caught(lab: Path, cut: int) -> None:
    s = run_session(lab)
    lines = (s["session"] / "events.jsonl").read_text().splitlines(keepends=True)
    (s["session"] / "events.jsonl").write_text("".join(lines[:-cut]))
    msgs = messages(s["session"])
    assert msgs and msgs[0].startswith("truncated: git refs/labconsole/seal/s1 seals seq")


def test_truncation_is_caught_by_the_state_dir_copy_without_git(lab: Path) -> None:
    s = run_session(lab)
    git(lab, "update-ref", "-d", "refs/labconsole/seal/s1")
    lines = (s["session"] / "events.jsonl").read_text().splitlines(keepends=True)
    (s["session"] / "events.jsonl").write_text("".join(lines[:-3]))
    msgs = messages(s["session"])
    assert msgs and msgs[0].startswith("truncated:") and "seals" in msgs[0] and ".json seals seq" in msgs[0]


def test_crashed_session_is_a_warning_not_a_failure(lab: Path) -> None:
    s = run_session(lab, close=False)
    result = verify_session(s["session"], live=False)
    assert result.ok, result.problems
    last_checkpoint = max(e["seq"] for e in events(s["session"]) if e["kind"] == K.SEAL_CHECKPOINT)
    assert result.seal_status == f"unsealed after seq {last_checkpoint}"
    assert any(n.startswith(f"warning: unsealed after seq {last_checkpoint}") for n in result.notes)


def test_finding_3_git_contradicts_the_log(lab: Path) -> None:
    s = run_session(lab)
    evs = events(s["session"])
    i = next(i for i, e in enumerate(evs) if e["kind"] == K.MERGE_COMPLETED)
    evs[i]["data"]["merge_sha"] = s["baseline"]  # a "merge" that is not on main since the baseline
    j = next(i for i, e in enumerate(evs) if e["kind"] == K.DECISION_APPROVED)
    evs[j]["data"]["sha"] = "c0ffee" + "0" * 34  # an approval of a commit that does not exist
    rewrite(s["session"], evs, j)
    msgs = messages(s["session"])
    assert any("commit c0ffee000000 is not in the lab's repository" in m for m in msgs)
    assert any(f"merge commit {s['baseline'][:12]} is not on main since the baseline" in m for m in msgs)


def test_merge_commit_of_another_sha_is_caught(lab: Path) -> None:
    s = run_session(lab)
    evs = events(s["session"])
    i = next(i for i, e in enumerate(evs) if e["kind"] == K.MERGE_COMPLETED)
    evs[i]["data"]["merge_sha"] = git(lab, "rev-parse", "HEAD")
    git(lab, "checkout", "-q", "-b", "other", s["baseline"])
    (lab / "x.txt").write_text("x\n")
    git(lab, "add", "x.txt")
    git(lab, "commit", "-qm", "x")
    git(lab, "checkout", "-q", "main")
    git(lab, "merge", "-q", "--no-ff", "-m", "hand", "other")
    evs[i]["data"]["merge_sha"] = git(lab, "rev-parse", "HEAD")
    rewrite(s["session"], evs, i)
    assert any(f"merges {git(lab, 'rev-parse', 'other')[:12]}, not the approved" in m for m in messages(s["session"]))


def test_commit_on_main_without_approval_is_outside_the_gate(lab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    s = run_session(lab)
    (lab / "hand.txt").write_text("by hand\n")
    git(lab, "add", "hand.txt")
    git(lab, "commit", "-qm", "merged by hand")
    result = verify_session(s["session"], live=False)
    assert result.ok and not result.clean
    assert len(result.outside_gate) == 1 and "'merged by hand' on main" in result.outside_gate[0]
    assert main(["audit", "verify", str(s["session"])]) == 3
    out = capsys.readouterr().out
    assert "outside the gate: " in out and out.strip().splitlines()[-1].startswith("OUTSIDE THE GATE")


def test_cli_exit_codes_and_status(lab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    s = run_session(lab)
    assert main(["audit", "verify", str(s["session"])]) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK ") and "sealed at seq" in out.splitlines()[0] and "approved by " in out
    lines = (s["session"] / "events.jsonl").read_text().splitlines(keepends=True)
    (s["session"] / "events.jsonl").write_text("".join(lines[:-3]))
    assert main(["audit", "verify", str(s["session"])]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("events.jsonl:end: truncated:") and out[-1].startswith("FAILED")


def test_session_key_not_trusted_is_caught(lab: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = run_session(lab)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "someone-else"))  # an auditor who trusts nobody yet
    msgs = messages(s["session"])
    assert any("is not a trusted key" in m for m in msgs) and any("unknown key" in m for m in msgs)


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.iterdir() if (p / "events.jsonl").exists()))
def test_old_unsigned_sessions_verify_as_pre_seal(
    example: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    session = tmp_path / "sessions" / example
    shutil.copytree(EXAMPLES / example, session)
    result = verify_session(session, live=False)
    assert result.ok and result.seal_status == "unsigned (pre-seal)"
    assert main(["audit", "verify", str(session)]) == 0
    assert "unsigned (pre-seal)" in capsys.readouterr().out.splitlines()[0]


@pytest.mark.parametrize("damage", ["none", "edit", "delete", "reorder", "unparsable", "torn"])
def test_scanning_in_ranges_on_several_processes_finds_the_same(lab: Path, damage: str) -> None:
    s = run_session(lab, extra_notes=300)
    path = s["session"] / "events.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    if damage == "edit":
        lines[150] = lines[150].replace("note", "NOTE", 1)
    elif damage == "delete":
        del lines[100]
    elif damage == "reorder":
        lines[200], lines[201] = lines[201], lines[200]
    elif damage == "unparsable":
        lines[120] = "{not json\n"
    elif damage == "torn":
        lines[-1] = lines[-1].rstrip("\n")
    path.write_text("".join(lines))

    def found(workers: int) -> tuple[Any, ...]:
        r = verify_session(s["session"], live=False, workers=workers)
        return r.ok, r.events, [(p.line, p.seq, p.message) for p in r.problems], r.seal_status, sorted(r.signers)

    one = found(1)
    assert found(3) == one
    assert one[0] == (damage == "none")


def test_an_old_session_resumed_is_sealed_from_its_first_checkpoint(lab: Path) -> None:
    """Unsigned decisions from before signing stay valid; a forged unsigned one after the seal does not."""
    session = lab / "sessions" / "old"
    with EventLog.open(session) as log:
        log.append(K.SESSION_STARTED, "console", {"session_id": "old", "lab": "t"})
        log.append(K.HYP_PROPOSED, "agent:r1", {"hyp_id": "h1", "title": "x", "params": {}})
        log.append(K.DECISION_REJECTED, "human:ann", {"hyp_id": "h1", "who": "ann", "reason": "noise"})
    w = Writer.__new__(Writer)  # resumed by today's console: it seals what it appends
    w.log, w.session_id, w.signer = EventLog.open(session, create=False), "old", load_signer(announce=False)
    w.sealer = Sealer(w.signer, "old", lab)
    w.append(K.NOTE, "console", {"text": "resumed"})
    w.seal("periodic")
    w.append(K.DECISION_REJECTED, "human:ann", {"hyp_id": "h1", "who": "ann", "reason": "still noise"})
    w.close()
    result = verify_session(session, live=False, git=False)
    assert result.ok, result.problems
    assert any(n.startswith("pre-seal before seq 4") for n in result.notes)
    evs = events(session)
    append_forged(session, evs, K.DECISION_REJECTED, {"hyp_id": "h1", "who": "ann", "reason": "forged"})
    assert any("rejection of h1 by human:ann does not count: no signature" in m for m in messages(session, git=False))
