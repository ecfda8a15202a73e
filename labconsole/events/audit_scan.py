"""The per-line half of ``audit verify``, over one byte range of ``events.jsonl`` (events/audit.py).

Each line's checks need only the line: valid JSON event, hash recomputes, canonical encoding,
fits its declaration, its signature (decisions) or checkpoint verifies. Only the links between
lines (seq consecutive, ``prev`` = the previous line's hash) cross lines, and those are checked
inside the range here and at the ranges' joins by the caller. So a 1M-event log is scanned in
ranges on several processes; a small one in one range, in process.

A line the writer wrote is checked on the fast path (events/line_check.py: ``orjson``, the hash over the
line's own bytes once they are proven canonical); any other line takes the reference check here (``json``
parse, re-encode, compare), so both give the same verdict. The range is read in blocks of 8 MiB.

A range returns what the gate and seal checks need, not the whole log: the events of the kinds
they read, blob references, the hashes at the seqs the external seals name, and its problems.
Line numbers in it count from 1 at the range's start; the caller shifts them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Iterator

from labconsole.events import kinds
from labconsole.events.line_check import lines_with, read_canonical, risky_lines
from labconsole.events.log import Event, _line, compute_hash
from labconsole.events.schema import EventSchemaError
from labconsole.events.seal import check_checkpoint
from labconsole.events.signing import SIGNED_KINDS, TrustStore, check_decision

_FIELDS = ("seq", "ts", "kind", "actor", "data", "prev", "hash")
# The kinds the gate and seal checks read (events/audit.py); every other event only needs its line checked.
GATE_KINDS = frozenset(
    {
        kinds.SESSION_STARTED,
        kinds.DECISION_APPROVED,
        kinds.DECISION_REJECTED,
        kinds.MERGE_COMPLETED,
        kinds.PUBLISH_COMPLETED,
        kinds.RUN_STARTED,
        kinds.RUN_FINISHED,
        kinds.SEAL_CHECKPOINT,
        kinds.BUDGET_RESUMED,
    }
)

Problem = tuple[int, "int | None", str]  # (line, seq, message)


@dataclass
class Scanned:
    lines: int = 0  # lines in the range, parsed or not
    count: int = 0  # events parsed
    first: tuple[int, int, str] | None = None  # (line, seq, prev) of the first event
    last: tuple[int, str] | None = None  # (seq, hash) of the last event
    chain: list[Problem] = field(default_factory=list)  # parse, hash and encoding problems
    # broken links inside the range: (line, seq, "seq" | "prev", expected seq); worded by link_message()
    # once line numbers are absolute
    links: list[tuple[int, int, str, int]] = field(default_factory=list)
    schema: list[Problem] = field(default_factory=list)  # events that do not fit their declaration
    events: list[tuple[int, Event, str | None]] = field(default_factory=list)  # (line, event, signature error)
    blob_refs: list[tuple[int, int, list[tuple[str, str]]]] = field(default_factory=list)  # (line, seq, refs)
    hashes: dict[int, str] = field(default_factory=dict)  # seq -> hash, for the seqs asked for


def scan_range(
    path: Path,
    start: int,
    end: int,
    session_id: str,
    trust: TrustStore,
    wanted: frozenset[int],
    covered_upto: int = -1,
) -> Scanned:
    """``covered_upto``: the seq a validly signed external seal names. Checkpoints up to it need no signature
    check of their own: if the log's event there has the sealed hash, the chain proves every line before it
    is what the console wrote; if not, the audit fails on that anyway (half the signatures of a big log)."""
    out = Scanned()
    # locals, not attributes of ``out``: this loop runs once per line of a log of a million
    chain, links, schema, events, hashes = out.chain, out.links, out.schema, out.events, out.hashes
    declared_of = _DECLARED.get
    lineno = count = 0
    # (seq, prev) the next event must have; unknown at the range's start
    expect_seq: int | None = None
    expect_prev = ""
    for block in _blocks(path, start, end):
        # Found once per block, looked up per line: lines with a float orjson writes unlike json (events/
        # line_check.py), and lines that name a blob key (a canonical line names it literally: JSON never
        # escapes those letters).
        risky, blobby = risky_lines(block), lines_with(block, b'blob":')
        lines = block.split(b"\n")
        if not lines[-1]:
            lines.pop()  # after the block's last newline
        at = 0
        for line in lines:
            here, at = at, at + len(line) + 1
            lineno += 1
            fast = read_canonical(line, here in risky)  # events/line_check.py: the reference's verdict, faster
            ev: Event | None = None  # built only where the gate needs the whole event
            if fast is not None:
                d, prev, digest, hash_ok = fast
                seq, kind, data = d["seq"], d["kind"], d["data"]
                if not hash_ok:
                    chain.append((lineno, seq, "hash does not recompute (the line was edited)"))
            else:
                ev, error = parse(line)
                if ev is None:
                    chain.append((lineno, None, error))
                    continue
                seq, kind, data, prev, digest = ev.seq, ev.kind, ev.data, ev.prev, ev.hash
                chain.extend(_reference_check(lineno, line, ev))
            count += 1
            if expect_seq is None:
                out.first = (lineno, seq, prev)
            else:
                if seq != expect_seq:
                    links.append((lineno, seq, "seq", expect_seq))
                if prev != expect_prev:
                    links.append((lineno, seq, "prev", expect_seq))
            expect_seq, expect_prev = seq + 1, digest  # re-sync on this line
            if seq in wanted:
                hashes[seq] = digest
            # the writer refuses what does not fit a declaration, so a misfit was written some other way
            declared, keys = declared_of(kind), data.keys()
            if declared is None or not (keys >= declared[0] and (declared[1] is None or keys <= declared[1])):
                misfit = _misfit(kind, data)
                if misfit is not None:
                    schema.append((lineno, seq, misfit))
            if kind in GATE_KINDS:
                if ev is None:
                    ev = Event(seq, d["ts"], kind, d["actor"], data, prev, digest)
                events.append((lineno, ev, _signature_error(ev, session_id, trust, covered_upto)))
            if fast is None or here in blobby:
                refs = list(blob_refs(data))
                if refs:
                    out.blob_refs.append((lineno, seq, refs))
    out.lines, out.count = lineno, count
    out.last = None if expect_seq is None else (expect_seq - 1, expect_prev)
    return out


def _reference_check(lineno: int, line: bytes, ev: Event) -> list[Problem]:
    """The hash and encoding check by re-serialising with ``json``: for lines the fast path does not take."""
    try:
        body = ev.body()
        if compute_hash(ev.prev, body) != ev.hash:
            return [(lineno, ev.seq, "hash does not recompute (the line was edited)")]
        if line != _line(body, ev.prev, ev.hash).encode("utf-8"):
            return [(lineno, ev.seq, "line is not in canonical form (re-encoded or edited)")]
    except UnicodeEncodeError:  # a lone surrogate escaped in the JSON: the writer cannot have written it
        return [(lineno, ev.seq, "line is not in canonical form (a lone surrogate; re-encoded or edited)")]
    return []


def _blocks(path: Path, start: int, end: int, size: int = 8 << 20) -> Iterator[bytes]:
    """``[start, end)`` in blocks of about ``size`` bytes that end at a line's end."""
    with open(path, "rb", buffering=0) as f:
        f.seek(start)
        left, carry = end - start, b""
        while left > 0:
            block = f.read(min(size, left))
            if not block:
                break  # the file shrank under us: what was read is checked
            left -= len(block)
            block = carry + block
            cut = block.rfind(b"\n") + 1
            carry = block[cut:]
            if cut:
                yield block[:cut]
        if carry:
            yield carry


# kind -> (required fields, declared fields or None when undeclared ones are allowed), from events/kinds.py
_DECLARED = {kind: (spec.required, None if spec.open else spec.declared) for kind, spec in kinds.KINDS.items()}


def _misfit(kind: str, data: dict[str, Any]) -> str | None:
    """Why ``data`` does not fit ``kind``'s declaration, worded by the append-time check; for the events
    that fail the check compiled from :data:`_DECLARED` (or a kind it lacks)."""
    try:  # worded by the append-time check itself
        kinds.validate(kind, data)
    except EventSchemaError as exc:
        return str(exc)
    return None


def _signature_error(ev: Event, session_id: str, trust: TrustStore, covered_upto: int) -> str | None:
    if ev.kind in SIGNED_KINDS:
        return check_decision(session_id, ev.seq, ev.prev, ev.kind, ev.actor, ev.data, trust)[0]
    if ev.kind == kinds.SEAL_CHECKPOINT:
        error = None if ev.seq <= covered_upto else check_checkpoint(ev.data, session_id, trust)
        if error is None and (ev.data.get("seq") != ev.seq - 1 or ev.data.get("head") != ev.prev):
            error = f"seals seq {ev.data.get('seq')}, not the line before it"
        return error
    return None


def link_message(which: str, seq: int, expected_seq: int, lineno: int) -> str:
    if which == "seq":
        return f"seq {seq}, expected {expected_seq} (a line was deleted, inserted or reordered)"
    return (
        f"prev does not match the hash of line {lineno - 1} "
        "(this line or the one before it was altered, inserted or reordered)"
    )


def parse(raw: bytes) -> tuple[Event | None, str]:
    try:
        d = json.loads(raw)
    except ValueError:
        return None, "not valid JSON"
    if not isinstance(d, dict):
        return None, "not a JSON object"
    missing = [k for k in _FIELDS if k not in d]
    if missing:
        return None, f"missing field(s) {', '.join(missing)}"
    if set(d) - set(_FIELDS):
        return None, f"unexpected field(s) {', '.join(sorted(set(d) - set(_FIELDS)))}"
    if (
        not isinstance(d["seq"], int)
        or not isinstance(d["data"], dict)
        or not isinstance(d["kind"], str)
        or not isinstance(d["actor"], str)
        or not isinstance(d["prev"], str)
        or not isinstance(d["hash"], str)
    ):
        return None, "a field has the wrong type"
    return Event(d["seq"], d["ts"], d["kind"], d["actor"], d["data"], d["prev"], d["hash"]), ""


def blob_refs(data: Any) -> Iterator[tuple[str, str]]:
    """``(key, digest)`` for every ``*_blob`` / ``blob`` string field, at any depth."""
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, str):
                if key == "blob" or key.endswith("_blob"):
                    yield key, value
            elif isinstance(value, (dict, list)):
                yield from blob_refs(value)
    elif isinstance(data, list):
        for item in data:
            yield from blob_refs(item)


def split(path: Path, end: int, parts: int) -> list[tuple[int, int]]:
    """``parts`` byte ranges of whole lines covering ``[0, end)``."""
    cuts = [0]
    with open(path, "rb") as f:
        for i in range(1, parts):
            f.seek(max(cuts[-1], end * i // parts))
            f.readline()  # to the start of the next line
            at = min(f.tell(), end)
            if at > cuts[-1]:
                cuts.append(at)
    cuts.append(end)
    return [(a, b) for a, b in zip(cuts, cuts[1:], strict=False) if b > a]


__all__ = ["GATE_KINDS", "Scanned", "blob_refs", "link_message", "parse", "scan_range", "split"]
