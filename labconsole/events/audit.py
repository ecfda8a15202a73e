"""``audit verify``: re-check a session log from its bytes alone.

Chain checks (per line): valid JSON event, canonical encoding, seq consecutive
from 0, ``prev`` equal to the previous line's hash, hash recomputes. After a
break the checker re-synchronizes on the bad line's own values, so each
independent break is reported once and the first problem is the first bad line.

Declaration checks: every event's kind is declared in ``events/kinds.py`` and its
data fits the declaration.

Gate checks (over the parsed events): every merge and publish is bound to a
human approval of the same commit SHA and evidence hash with no rejection in
between; every started run ended; every referenced blob exists and hashes
correctly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Iterator

from labconsole.events import kinds
from labconsole.events.schema import EventSchemaError
from labconsole.events.log import GENESIS, LOG_NAME, BlobError, Event, _line, compute_hash, get_blob, session_lock_holder


@dataclass
class AuditProblem:
    line: int  # 1-based line number in events.jsonl
    seq: int | None
    message: str

    def __str__(self) -> str:
        return f"{LOG_NAME}:{self.line}: {self.message}"


@dataclass
class AuditResult:
    ok: bool
    events: int
    problems: list[AuditProblem] = field(default_factory=list)
    # Not failures: e.g. runs still running while a live console holds the session.
    notes: list[str] = field(default_factory=list)


@dataclass
class _Approval:
    line: int
    sha: str | None
    evidence_hash: str | None


def verify_session(session_dir: Path | str, *, live: bool | None = None) -> AuditResult:
    """Audit ``session_dir``. ``live`` (default: a console holds the lock now) tolerates
    runs that have not ended yet and a half-written last line."""
    session_dir = Path(session_dir)
    path = session_dir / LOG_NAME
    if live is None:
        live = session_lock_holder(session_dir) is not None
    problems: list[AuditProblem] = []
    notes: list[str] = []
    gate_problems: list[AuditProblem] = []
    gate = _GateChecker(session_dir, gate_problems)
    count = 0
    expect_seq, expect_prev = 0, GENESIS
    for lineno, raw, is_last in _lines(path):
        if is_last and not raw.endswith(b"\n"):
            if live:
                notes.append(f"line {lineno}: being written (live session)")
            else:
                problems.append(AuditProblem(lineno, None, "torn last line (no trailing newline); "
                                             "opening the session repairs it"))
            break
        ev, error = _parse(raw)
        if ev is None:
            problems.append(AuditProblem(lineno, None, error))
            continue
        count += 1
        if ev.seq != expect_seq:
            problems.append(AuditProblem(lineno, ev.seq, f"seq {ev.seq}, expected {expect_seq} "
                                         "(a line was deleted, inserted or reordered)"))
        if ev.prev != expect_prev:
            problems.append(AuditProblem(lineno, ev.seq, f"prev does not match the hash of line {lineno - 1} "
                                         "(this line or the one before it was altered, inserted or reordered)"))
        body = ev.body()
        if compute_hash(ev.prev, body) != ev.hash:
            problems.append(AuditProblem(lineno, ev.seq, "hash does not recompute (the line was edited)"))
        elif raw.rstrip(b"\n") != _line(body, ev.prev, ev.hash).encode("utf-8"):
            problems.append(AuditProblem(lineno, ev.seq, "line is not in canonical form (re-encoded or edited)"))
        expect_seq, expect_prev = ev.seq + 1, ev.hash  # re-sync on this line
        try:  # the writer refuses what does not fit a declaration, so a misfit was written some other way
            kinds.validate(ev.kind, ev.data)
        except EventSchemaError as exc:
            gate_problems.append(AuditProblem(lineno, ev.seq, str(exc)))
        gate.see(lineno, ev)
    gate.finish(live, notes)
    # Chain breaks first: the first problem printed is the first tampered line, even when a
    # deletion also makes a gate check fail earlier in the file.
    problems = sorted(problems, key=lambda p: p.line) + sorted(gate_problems, key=lambda p: p.line)
    return AuditResult(ok=not problems, events=count, problems=problems, notes=notes)


def _lines(path: Path) -> Iterator[tuple[int, bytes, bool]]:
    with open(path, "rb") as f:
        prev: bytes | None = None
        n = 0
        for raw in f:
            if prev is not None:
                yield n, prev, False
            n += 1
            prev = raw
        if prev is not None:
            yield n, prev, True


def _parse(raw: bytes) -> tuple[Event | None, str]:
    try:
        d = json.loads(raw)
    except ValueError:
        return None, "not valid JSON"
    if not isinstance(d, dict):
        return None, "not a JSON object"
    missing = [k for k in ("seq", "ts", "kind", "actor", "data", "prev", "hash") if k not in d]
    if missing:
        return None, f"missing field(s) {', '.join(missing)}"
    if set(d) - {"seq", "ts", "kind", "actor", "data", "prev", "hash"}:
        return None, f"unexpected field(s) {', '.join(sorted(set(d) - set(Event.__slots__)))}"
    if not isinstance(d["seq"], int) or not isinstance(d["data"], dict) or not isinstance(d["kind"], str) \
            or not isinstance(d["actor"], str) or not isinstance(d["prev"], str) or not isinstance(d["hash"], str):
        return None, "a field has the wrong type"
    return Event(d["seq"], d["ts"], d["kind"], d["actor"], d["data"], d["prev"], d["hash"]), ""


class _GateChecker:
    """Approval/merge binding, run completeness and blob integrity."""

    def __init__(self, session_dir: Path, problems: list[AuditProblem]) -> None:
        self.session_dir = session_dir
        self.problems = problems
        self.approvals: dict[str, _Approval] = {}  # hyp_id -> latest standing human approval
        self.runs: dict[str, tuple[int, int]] = {}  # run_id -> (line, seq) of run.started, until it finishes
        self.finished: set[str] = set()
        self.blobs_ok: dict[str, str | None] = {}  # digest -> error (None = fine); each blob read once

    def _problem(self, line: int, ev: Event, msg: str) -> None:
        self.problems.append(AuditProblem(line, ev.seq, msg))

    def see(self, line: int, ev: Event) -> None:
        kind, data = ev.kind, ev.data
        if kind == kinds.DECISION_APPROVED:
            if not ev.actor.startswith("human:"):
                self._problem(line, ev, f"approval of {data.get('hyp_id')} by {ev.actor!r}, not a human")
            else:
                self.approvals[str(data.get("hyp_id"))] = _Approval(line, data.get("sha"), data.get("evidence_hash"))
        elif kind == kinds.DECISION_REJECTED:
            self.approvals.pop(str(data.get("hyp_id")), None)
        elif kind == kinds.MERGE_COMPLETED:
            self._check_bound(line, ev, "merge", self.approvals.get(str(data.get("hyp_id"))))
        elif kind == kinds.PUBLISH_COMPLETED:
            sha = data.get("sha")
            matches = [a for a in self.approvals.values() if a.sha == sha]
            best = next((a for a in matches if a.evidence_hash == data.get("evidence_hash")), matches[0] if matches else None)
            self._check_bound(line, ev, "publish", best)
        elif kind == kinds.RUN_STARTED:
            run_id = str(data.get("run_id"))
            if run_id in self.runs or run_id in self.finished:
                self._problem(line, ev, f"run {run_id} started twice")
            self.runs[run_id] = (line, ev.seq)
        elif kind == kinds.RUN_FINISHED:
            run_id = str(data.get("run_id"))
            if self.runs.pop(run_id, None) is None:
                self._problem(line, ev, f"run {run_id} finished but never started")
            self.finished.add(run_id)
        self._check_blobs(line, ev, data)

    def _check_bound(self, line: int, ev: Event, what: str, approval: _Approval | None) -> None:
        data = ev.data
        target = data.get("hyp_id") if what == "merge" else data.get("path") or data.get("sha")
        if approval is None:
            self._problem(line, ev, f"{what} of {target} (sha {_short(data.get('sha'))}) without a standing human approval")
        elif approval.sha != data.get("sha"):
            self._problem(line, ev, f"{what} of {target}: sha {_short(data.get('sha'))} is not the approved sha "
                          f"{_short(approval.sha)} (approval on line {approval.line})")
        elif approval.evidence_hash != data.get("evidence_hash"):
            self._problem(line, ev, f"{what} of {target}: evidence hash {_short(data.get('evidence_hash'))} is not the "
                          f"approved one {_short(approval.evidence_hash)} (approval on line {approval.line})")

    def _check_blobs(self, line: int, ev: Event, data: Any) -> None:
        for key, value in _blob_refs(data):
            if value not in self.blobs_ok:
                self.blobs_ok[value] = _blob_error(self.session_dir, value)
            error = self.blobs_ok[value]
            if error:
                self._problem(line, ev, f"{key}: {error}")

    def finish(self, live: bool, notes: list[str]) -> None:
        for run_id, (line, seq) in self.runs.items():
            if live:
                notes.append(f"run {run_id} (line {line}) is still running")
            else:
                self.problems.append(AuditProblem(line, seq, f"run {run_id} started but never finished"))


def _blob_refs(data: Any) -> Iterator[tuple[str, str]]:
    """``(key, digest)`` for every ``*_blob`` / ``blob`` string field, at any depth."""
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, str):
                if key == "blob" or key.endswith("_blob"):
                    yield key, value
            elif isinstance(value, (dict, list)):
                yield from _blob_refs(value)
    elif isinstance(data, list):
        for item in data:
            yield from _blob_refs(item)


def _blob_error(session_dir: Path, digest: str) -> str | None:
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        return f"{digest!r} is not a sha256 blob reference"
    try:
        get_blob(session_dir, digest)
    except BlobError as exc:
        return str(exc)
    return None


def _short(value: Any) -> str:
    return str(value)[:12] if value else "<none>"


__all__ = ["AuditProblem", "AuditResult", "verify_session"]
