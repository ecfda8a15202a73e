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

Seal checks (events/signing.py, events/seal.py): in a sealed session (its
``session.started`` records the person's key, or a seal of it exists outside the
session dir) every person's decision carries a valid signature by a trusted key,
and only a signed approval stands; every checkpoint is signed and names the line
before it; the external seal's seq is still in the log with the same hash (else
the tail was cut or the log rewritten). Events after the last checkpoint are a
warning ("unsealed after seq N"). An old session with no key is "unsigned (pre-seal)".

Git checks (events/gitcheck.py): merges and approvals against the lab's repository.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Iterator

from labconsole.events import kinds
from labconsole.events.gitcheck import LoggedMerge, cross_check, is_repo
from labconsole.events.schema import EventSchemaError
from labconsole.events.seal import ExternalSeal, check_checkpoint, read_external
from labconsole.events.signing import SIGNED_KINDS, TrustStore, check_decision, lab_trust, short_key
from labconsole.events.log import GENESIS, LOG_NAME, BlobError, Event, _line, compute_hash, get_blob, session_lock_holder


@dataclass
class AuditProblem:
    line: int  # 1-based line number in events.jsonl
    seq: int | None
    message: str

    def __str__(self) -> str:  # line 0: about the log as a whole (e.g. its end against the external seal)
        return f"{LOG_NAME}:{self.line or 'end'}: {self.message}"


@dataclass
class AuditResult:
    ok: bool
    events: int
    problems: list[AuditProblem] = field(default_factory=list)
    # Not failures: e.g. runs still running while a live console holds the session.
    notes: list[str] = field(default_factory=list)
    # "sealed at seq N", "unsealed after seq N" or "unsigned (pre-seal)".
    seal_status: str = ""
    # Commits on main no approval covers: not a forgery, not through the gate either.
    outside_gate: list[str] = field(default_factory=list)
    # seq -> "approved by alice (ed25519 ab12…)" for every signed decision.
    signers: dict[int, str] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        """Intact and nothing outside the gate."""
        return self.ok and not self.outside_gate


@dataclass
class _Approval:
    line: int
    sha: str | None
    evidence_hash: str | None


def verify_session(session_dir: Path | str, *, live: bool | None = None, lab_root: Path | None = None,
                   trust: TrustStore | None = None, git: bool = True) -> AuditResult:
    """Audit ``session_dir``. ``live`` (default: a console holds the lock now) tolerates
    runs that have not ended yet and a half-written last line. ``lab_root`` (default: the directory
    above ``sessions/``) is the git repository checked; ``trust`` defaults to the user's trusted keys
    and the lab's ``[review] trusted_keys``."""
    session_dir = Path(session_dir)
    if lab_root is None:
        lab_root = session_dir.resolve().parent.parent
    if trust is None:
        trust = lab_trust(lab_root)
    seal = _SealChecker(session_dir, lab_root, trust)
    path = session_dir / LOG_NAME
    if live is None:
        live = session_lock_holder(session_dir) is not None
    problems: list[AuditProblem] = []
    notes: list[str] = []
    gate_problems: list[AuditProblem] = []
    gate = _GateChecker(session_dir, gate_problems, seal)
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
        seal.see(lineno, ev, gate_problems)
        gate.see(lineno, ev)
    gate.finish(live, notes)
    seal.finish(gate_problems, notes)
    outside: list[str] = []
    if git and is_repo(lab_root):
        found = cross_check(lab_root, baseline=seal.baseline, main_branch=seal.main_branch, merges=gate.merges,
                            approvals=gate.all_approvals, session_dir=session_dir)
        gate_problems.extend(AuditProblem(line, seq, msg) for line, seq, msg in found.problems)
        outside, notes = found.outside_gate, notes + found.notes
    elif git:
        notes.append(f"git cross-check skipped: {lab_root} is not a git repository (pass --lab)")
    # Chain breaks first: the first problem printed is the first tampered line, even when a
    # deletion also makes a gate check fail earlier in the file.
    problems = sorted(problems, key=lambda p: p.line) + sorted(gate_problems, key=lambda p: p.line or 1 << 62)
    return AuditResult(ok=not problems, events=count, problems=problems, notes=notes, seal_status=seal.status,
                       outside_gate=outside, signers=seal.signers)


class _SealChecker:
    """Signatures on decisions, signed checkpoints, and the seal kept outside the session dir."""

    def __init__(self, session_dir: Path, lab_root: Path, trust: TrustStore) -> None:
        self.session_dir = session_dir
        self.lab_root = lab_root
        self.trust = trust
        self.session_id = session_dir.name
        self.external: list[ExternalSeal] = read_external(self.session_id, lab_root)
        self._wanted = {e.seq for e in self.external}  # seqs whose hash the external seals name
        self.sealed = bool(self.external)
        self.baseline: str | None = None
        self.main_branch: str | None = None
        self.last_seq = -1
        self.last_checkpoint = -1
        self.hash_at: dict[int, str] = {}
        self.signers: dict[int, str] = {}
        self.status = ""

    def see(self, line: int, ev: Event, problems: list[AuditProblem]) -> None:
        self.last_seq = ev.seq
        if ev.seq in self._wanted:
            self.hash_at[ev.seq] = ev.hash
        kind, data = ev.kind, ev.data
        if kind == kinds.SESSION_STARTED and line == 1:
            self.baseline, self.main_branch = data.get("baseline_sha"), data.get("main_branch")
            if data.get("session_id") and data["session_id"] != self.session_id:
                self.session_id = str(data["session_id"])
                self.external = read_external(self.session_id, self.lab_root)
                self._wanted = {e.seq for e in self.external}
                self.sealed = bool(self.external)
            key = data.get("signing_key")
            if key:
                self.sealed = True
                if self.trust.name_of(str(key)) is None:
                    problems.append(AuditProblem(line, ev.seq, f"the session's key {short_key(str(key))} is not a "
                                                 "trusted key (swapped?): trust it with `labconsole keys trust` "
                                                 "if it is a colleague's"))
        elif kind == kinds.SEAL_CHECKPOINT:
            error = check_checkpoint(data, self.session_id, self.trust)
            if error is None and (data.get("seq") != ev.seq - 1 or data.get("head") != ev.prev):
                error = f"seals seq {data.get('seq')}, not the line before it"
            if error:
                problems.append(AuditProblem(line, ev.seq, f"checkpoint: {error}"))
            else:
                self.last_checkpoint = ev.seq

    def decision_error(self, line: int, ev: Event) -> str | None:
        """Why this person's decision does not count (None: it does), recording who signed it."""
        if ev.kind not in SIGNED_KINDS:
            return None
        if not self.sealed and "signature" not in ev.data:
            return None  # an old session: nothing was signed then
        error, key = check_decision(self.session_id, ev.seq, ev.prev, ev.kind, ev.actor, ev.data, self.trust)
        if key and error is None:
            verb = ev.kind.split(".")[-1].replace("completed", "published" if ev.kind == kinds.PUBLISH_COMPLETED
                                                   else "merged")
            self.signers[ev.seq] = f"{verb} by {self.trust.label(key)}"
        return error

    def finish(self, problems: list[AuditProblem], notes: list[str]) -> None:
        for ext in self.external:
            error = check_checkpoint(ext.record, self.session_id, self.trust) if ext.record.get("session") \
                in (self.session_id, None) else f"is for session {ext.record.get('session')!r}"
            if error:
                problems.append(AuditProblem(0, None, f"external seal {ext.where}: {error}"))
            elif ext.seq > self.last_seq:
                problems.append(AuditProblem(0, ext.seq, f"truncated: {ext.where} seals seq {ext.seq}, but the log ends "
                                             f"at seq {self.last_seq} (lines were cut off the end)"))
            elif self.hash_at.get(ext.seq) != ext.head:
                problems.append(AuditProblem(0, ext.seq, f"rewritten: event seq {ext.seq} is not the one {ext.where} "
                                             "sealed (its hash differs)"))
        if not self.sealed:
            self.status = "unsigned (pre-seal)"
            notes.append("unsigned (pre-seal): this session predates signed decisions; only the chain and the gate "
                         "were checked")
            return
        if self.last_checkpoint < 0:
            self.status = "unsealed (no checkpoint)"
            notes.append("warning: unsealed: the session has no checkpoint (the console crashed early)")
        elif self.last_checkpoint < self.last_seq:
            self.status = f"unsealed after seq {self.last_checkpoint}"
            notes.append(f"warning: unsealed after seq {self.last_checkpoint}: {self.last_seq - self.last_checkpoint} "
                         "event(s) after the last checkpoint (the console crashed or is still running)")
        else:
            self.status = f"sealed at seq {self.last_checkpoint}"
        if not self.external:
            notes.append("warning: no copy of the seal outside the session dir (git ref or state dir) was found: "
                         f"lines cut after seq {self.last_checkpoint} would go unnoticed")


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


_DECISION_NOUN = {kinds.DECISION_APPROVED: "approval", kinds.DECISION_REJECTED: "rejection",
                  kinds.MERGE_COMPLETED: "merge", kinds.PUBLISH_COMPLETED: "publish", kinds.BUDGET_RESUMED: "budget resume"}


class _GateChecker:
    """Approval/merge binding, run completeness and blob integrity."""

    def __init__(self, session_dir: Path, problems: list[AuditProblem], seal: _SealChecker) -> None:
        self.session_dir = session_dir
        self.problems = problems
        self.seal = seal
        self.merges: list[LoggedMerge] = []  # for the git cross-check
        self.all_approvals: list[tuple[int, int, str, str]] = []  # (line, seq, hyp_id, sha)
        self.approvals: dict[str, _Approval] = {}  # hyp_id -> latest standing human approval
        self.runs: dict[str, tuple[int, int]] = {}  # run_id -> (line, seq) of run.started, until it finishes
        self.finished: set[str] = set()
        self.blobs_ok: dict[str, str | None] = {}  # digest -> error (None = fine); each blob read once

    def _problem(self, line: int, ev: Event, msg: str) -> None:
        self.problems.append(AuditProblem(line, ev.seq, msg))

    def see(self, line: int, ev: Event) -> None:
        kind, data = ev.kind, ev.data
        sig_error = self.seal.decision_error(line, ev)
        if sig_error is not None:
            what = _DECISION_NOUN.get(kind, kind)
            self._problem(line, ev, f"{what} of {data.get('hyp_id') or data.get('sha')} by {ev.actor} does not "
                          f"count: {sig_error}")
        if kind == kinds.DECISION_APPROVED:
            if isinstance(data.get("sha"), str):
                self.all_approvals.append((line, ev.seq, str(data.get("hyp_id")), data["sha"]))
            if not ev.actor.startswith("human:"):
                self._problem(line, ev, f"approval of {data.get('hyp_id')} by {ev.actor!r}, not a human")
            elif sig_error is not None:
                pass  # a forged approval stands for nothing
            else:
                self.approvals[str(data.get("hyp_id"))] = _Approval(line, data.get("sha"), data.get("evidence_hash"))
        elif kind == kinds.DECISION_REJECTED:
            self.approvals.pop(str(data.get("hyp_id")), None)
        elif kind == kinds.MERGE_COMPLETED:
            self._check_bound(line, ev, "merge", self.approvals.get(str(data.get("hyp_id"))))
            if isinstance(data.get("merge_sha"), str) and isinstance(data.get("sha"), str):
                self.merges.append(LoggedMerge(line, ev.seq, str(data.get("hyp_id")), data["sha"], data["merge_sha"]))
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
