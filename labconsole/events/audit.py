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

The per-line checks (parse, hash, encoding, declaration, signature) need only their line, so
events/audit_scan.py runs them over byte ranges, on several processes for a large log; this module
joins the ranges (the links between them), then runs the gate, seal and git checks in order.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Iterator

from labconsole.events import kinds
from labconsole.events.audit_scan import Scanned, link_message, parse, scan_range, split
from labconsole.events.gitcheck import LoggedMerge, cross_check, is_repo
from labconsole.events.seal import ExternalSeal, check_checkpoint, read_external
from labconsole.events.signing import SIGNED_KINDS, TrustStore, lab_trust, short_key
from labconsole.events.log import GENESIS, LOG_NAME, BlobError, Event, get_blob, session_lock_holder


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


PARALLEL_BYTES = 32 << 20  # logs larger than this are scanned in byte ranges on several processes
MAX_WORKERS = 8
MIN_CORES = 4


def verify_session(
    session_dir: Path | str,
    *,
    live: bool | None = None,
    lab_root: Path | None = None,
    trust: TrustStore | None = None,
    git: bool = True,
    workers: int | None = None,
) -> AuditResult:
    """Audit ``session_dir``. ``live`` (default: a console holds the lock now) tolerates
    runs that have not ended yet and a half-written last line. ``lab_root`` (default: the directory
    above ``sessions/``) is the git repository checked; ``trust`` defaults to the user's trusted keys
    and the lab's ``[review] trusted_keys``. ``workers``: processes for the per-line checks (default:
    one for a small log, up to :data:`MAX_WORKERS` for a large one)."""
    session_dir = Path(session_dir)
    if lab_root is None:
        lab_root = session_dir.resolve().parent.parent
    if trust is None:
        trust = lab_trust(lab_root)
    path = session_dir / LOG_NAME
    if live is None:
        live = session_lock_holder(session_dir) is not None
    size = path.stat().st_size
    end = _end_of_whole_lines(path, size)
    seal = _SealChecker(session_dir, lab_root, trust, _first_event(path, end))
    problems: list[AuditProblem] = []
    notes: list[str] = []
    gate_problems: list[AuditProblem] = []
    gate = _GateChecker(session_dir, gate_problems, seal)
    if workers is None:
        # On 2 busy cores, 2 processes measured no faster than one, also with the fast per-line path (bench_audit's
        # 1M events at load ~3: 9.1-17.9 s against 8.6-13.6 s): spread only with cores to spare.
        cores = os.cpu_count() or 1
        workers = min(cores, MAX_WORKERS) if end > PARALLEL_BYTES and cores >= MIN_CORES else 1
    count, shift = 0, 0
    expect_seq, expect_prev = 0, GENESIS
    for part in _scan(
        path,
        split(path, end, workers * 2 if workers > 1 else 1),
        workers,
        seal.session_id,
        trust,
        frozenset(e.seq for e in seal.external),
        seal.covered_upto(),
    ):
        links = list(part.links)
        if part.first is not None:  # the join with the range before: the one link the range could not check
            line, seq, prev = part.first
            if prev != expect_prev:
                links.insert(0, (line, seq, "prev", expect_seq))
            if seq != expect_seq:
                links.insert(0, (line, seq, "seq", expect_seq))
        # per line: broken links first, then the line's own problems (the sort below keeps this order)
        problems.extend(
            AuditProblem(line + shift, seq, link_message(which, seq, expected, line + shift))
            for line, seq, which, expected in links
        )
        problems.extend(AuditProblem(line + shift, seq, msg) for line, seq, msg in part.chain)
        if part.last is not None:
            expect_seq, expect_prev = part.last[0] + 1, part.last[1]
        gate_problems.extend(AuditProblem(line + shift, seq, msg) for line, seq, msg in part.schema)
        for line, ev, sig_error in part.events:
            seal.see(line + shift, ev, sig_error, gate_problems)
            gate.see(line + shift, ev, sig_error)
        for line, seq, refs in part.blob_refs:
            gate.check_blobs(line + shift, seq, refs)
        seal.hash_at.update(part.hashes)
        count += part.count
        shift += part.lines
    if count:
        seal.last_seq = expect_seq - 1
    if end < size:  # the last line has no newline
        if live:
            notes.append(f"line {shift + 1}: being written (live session)")
        else:
            problems.append(
                AuditProblem(shift + 1, None, "torn last line (no trailing newline); opening the session repairs it")
            )
    gate.finish(live, notes)
    seal.finish(gate_problems, notes)
    outside: list[str] = []
    if git and is_repo(lab_root):
        found = cross_check(
            lab_root,
            baseline=seal.baseline,
            main_branch=seal.main_branch,
            merges=gate.merges,
            approvals=gate.all_approvals,
            session_dir=session_dir,
        )
        gate_problems.extend(AuditProblem(line, seq, msg) for line, seq, msg in found.problems)
        outside, notes = found.outside_gate, notes + found.notes
    elif git:
        notes.append(f"git cross-check skipped: {lab_root} is not a git repository (pass --lab)")
    # Chain breaks first: the first problem printed is the first tampered line, even when a
    # deletion also makes a gate check fail earlier in the file.
    problems = sorted(problems, key=lambda p: p.line) + sorted(gate_problems, key=lambda p: p.line or 1 << 62)
    return AuditResult(
        ok=not problems,
        events=count,
        problems=problems,
        notes=notes,
        seal_status=seal.status,
        outside_gate=outside,
        signers=seal.signers,
    )


def _scan(
    path: Path,
    ranges: list[tuple[int, int]],
    workers: int,
    session_id: str,
    trust: TrustStore,
    wanted: frozenset[int],
    covered_upto: int,
) -> Iterator[Scanned]:
    if workers <= 1 or len(ranges) <= 1:
        for a, b in ranges:
            yield scan_range(path, a, b, session_id, trust, wanted, covered_upto)
        return
    # forkserver, not fork: the caller may have threads (a console), and a forked lock could be held.
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("forkserver")) as pool:
        futures = [pool.submit(scan_range, path, a, b, session_id, trust, wanted, covered_upto) for a, b in ranges]
        for future in futures:
            yield future.result()


def _end_of_whole_lines(path: Path, size: int) -> int:
    """The offset just past the last newline: a torn last line is left out of the scan."""
    if size == 0:
        return 0
    with open(path, "rb") as f:
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return size
        pos = size
        while pos > 0:
            start = max(0, pos - 65536)
            f.seek(start)
            i = f.read(pos - start).rfind(b"\n")
            if i >= 0:
                return start + i + 1
            pos = start
    return 0


def _first_event(path: Path, end: int) -> Event | None:
    if end == 0:
        return None
    with open(path, "rb") as f:
        return parse(f.readline())[0]


class _SealChecker:
    """Signatures on decisions, signed checkpoints, and the seal kept outside the session dir."""

    def __init__(self, session_dir: Path, lab_root: Path, trust: TrustStore, first: Event | None) -> None:
        self.session_dir = session_dir
        self.lab_root = lab_root
        self.trust = trust
        # What signatures are bound to, and whether the session was sealed, is known from its first line.
        started = first.data if first is not None and first.kind == kinds.SESSION_STARTED else {}
        self.session_id = str(started.get("session_id") or session_dir.name)
        self.external: list[ExternalSeal] = read_external(self.session_id, lab_root)
        self.sealed = bool(self.external) or bool(started.get("signing_key"))
        # Decisions from this seq on must be signed. A session started before signing and resumed since
        # is sealed from its first checkpoint or signature on; its older decisions stay "pre-seal".
        self.sealed_from: int | None = 0 if started.get("signing_key") else None
        self.baseline: str | None = started.get("baseline_sha")
        self.main_branch: str | None = started.get("main_branch")
        self.last_seq = -1
        self.last_checkpoint = -1
        self.hash_at: dict[int, str] = {}
        self.signers: dict[int, str] = {}
        self.status = ""

    def covered_upto(self) -> int:
        """The highest seq an external seal with a valid signature names (-1: none)."""
        valid = [
            e.seq
            for e in self.external
            if e.record.get("session") in (self.session_id, None)
            and check_checkpoint(e.record, self.session_id, self.trust) is None
        ]
        return max(valid, default=-1)

    def see(self, line: int, ev: Event, sig_error: str | None, problems: list[AuditProblem]) -> None:
        """``sig_error``: the checkpoint's own check, computed with the line (events/audit_scan.py)."""
        kind, data = ev.kind, ev.data
        if kind == kinds.SESSION_STARTED and line == 1:
            key = data.get("signing_key")
            if key:
                if self.trust.name_of(str(key)) is None:
                    problems.append(
                        AuditProblem(
                            line,
                            ev.seq,
                            f"the session's key {short_key(str(key))} is not a "
                            "trusted key (swapped?): trust it with `labconsole keys trust` "
                            "if it is a colleague's",
                        )
                    )
        elif kind == kinds.SEAL_CHECKPOINT:
            if self.sealed_from is None:
                self.sealed_from = ev.seq
            if sig_error:
                problems.append(AuditProblem(line, ev.seq, f"checkpoint: {sig_error}"))
            else:
                self.last_checkpoint = ev.seq

    def decision_error(self, ev: Event, sig_error: str | None) -> str | None:
        """Why this person's decision does not count (None: it does), recording who signed it.
        ``sig_error``: its signature's check, computed with the line (events/audit_scan.py)."""
        if ev.kind not in SIGNED_KINDS:
            return None
        signature = ev.data.get("signature")
        if signature is None and (self.sealed_from is None or ev.seq < self.sealed_from):
            return None  # before this session was sealed: nothing was signed then
        if self.sealed_from is None:
            self.sealed_from = ev.seq
        key = signature.get("key") if isinstance(signature, dict) else None
        if sig_error is None and isinstance(key, str):
            verb = ev.kind.split(".")[-1].replace(
                "completed", "published" if ev.kind == kinds.PUBLISH_COMPLETED else "merged"
            )
            self.signers[ev.seq] = f"{verb} by {self.trust.label(key)}"
        return sig_error

    def finish(self, problems: list[AuditProblem], notes: list[str]) -> None:
        for ext in self.external:
            error = (
                check_checkpoint(ext.record, self.session_id, self.trust)
                if ext.record.get("session") in (self.session_id, None)
                else f"is for session {ext.record.get('session')!r}"
            )
            if error:
                problems.append(AuditProblem(0, None, f"external seal {ext.where}: {error}"))
            elif ext.seq > self.last_seq:
                problems.append(
                    AuditProblem(
                        0,
                        ext.seq,
                        f"truncated: {ext.where} seals seq {ext.seq}, but the log ends "
                        f"at seq {self.last_seq} (lines were cut off the end)",
                    )
                )
            elif self.hash_at.get(ext.seq) != ext.head:
                problems.append(
                    AuditProblem(
                        0,
                        ext.seq,
                        f"rewritten: event seq {ext.seq} is not the one {ext.where} sealed (its hash differs)",
                    )
                )
        self.sealed = self.sealed or self.sealed_from is not None
        if not self.sealed:
            self.status = "unsigned (pre-seal)"
            notes.append(
                "unsigned (pre-seal): this session predates signed decisions; only the chain and the gate were checked"
            )
            return
        if self.last_checkpoint < 0:
            self.status = "unsealed (no checkpoint)"
            notes.append("warning: unsealed: the session has no checkpoint (the console crashed early)")
        elif self.last_checkpoint < self.last_seq:
            self.status = f"unsealed after seq {self.last_checkpoint}"
            notes.append(
                f"warning: unsealed after seq {self.last_checkpoint}: {self.last_seq - self.last_checkpoint} "
                "event(s) after the last checkpoint (the console crashed or is still running)"
            )
        else:
            self.status = f"sealed at seq {self.last_checkpoint}"
        if self.sealed_from:
            notes.append(f"pre-seal before seq {self.sealed_from}: the session started before decisions were signed")
        if not self.external:
            notes.append(
                "warning: no copy of the seal outside the session dir (git ref or state dir) was found: "
                f"lines cut after seq {self.last_checkpoint} would go unnoticed"
            )


_DECISION_NOUN = {
    kinds.DECISION_APPROVED: "approval",
    kinds.DECISION_REJECTED: "rejection",
    kinds.MERGE_COMPLETED: "merge",
    kinds.PUBLISH_COMPLETED: "publish",
    kinds.BUDGET_RESUMED: "budget resume",
}


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

    def see(self, line: int, ev: Event, sig_error: str | None) -> None:
        kind, data = ev.kind, ev.data
        sig_error = self.seal.decision_error(ev, sig_error)
        if sig_error is not None:
            what = _DECISION_NOUN.get(kind, kind)
            self._problem(
                line, ev, f"{what} of {data.get('hyp_id') or data.get('sha')} by {ev.actor} does not count: {sig_error}"
            )
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
            best = next(
                (a for a in matches if a.evidence_hash == data.get("evidence_hash")), matches[0] if matches else None
            )
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

    def _check_bound(self, line: int, ev: Event, what: str, approval: _Approval | None) -> None:
        data = ev.data
        target = data.get("hyp_id") if what == "merge" else data.get("path") or data.get("sha")
        if approval is None:
            self._problem(
                line, ev, f"{what} of {target} (sha {_short(data.get('sha'))}) without a standing human approval"
            )
        elif approval.sha != data.get("sha"):
            self._problem(
                line,
                ev,
                f"{what} of {target}: sha {_short(data.get('sha'))} is not the approved sha "
                f"{_short(approval.sha)} (approval on line {approval.line})",
            )
        elif approval.evidence_hash != data.get("evidence_hash"):
            self._problem(
                line,
                ev,
                f"{what} of {target}: evidence hash {_short(data.get('evidence_hash'))} is not the "
                f"approved one {_short(approval.evidence_hash)} (approval on line {approval.line})",
            )

    def check_blobs(self, line: int, seq: int, refs: list[tuple[str, str]]) -> None:
        for key, value in refs:
            if value not in self.blobs_ok:
                self.blobs_ok[value] = _blob_error(self.session_dir, value)
            error = self.blobs_ok[value]
            if error:
                self.problems.append(AuditProblem(line, seq, f"{key}: {error}"))

    def finish(self, live: bool, notes: list[str]) -> None:
        for run_id, (line, seq) in self.runs.items():
            if live:
                notes.append(f"run {run_id} (line {line}) is still running")
            else:
                self.problems.append(AuditProblem(line, seq, f"run {run_id} started but never finished"))


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
