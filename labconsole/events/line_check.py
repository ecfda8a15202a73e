"""The audit's fast path for one log line: hash the line's own bytes when they are provably canonical.

A log line is ``canonical_json(body)[:-1] + ',"prev":"<prev>","hash":"<hash>"}'`` (events/log.py), so
when the bytes are canonical the hash input *is* the line's prefix and needs no re-serialising. The
reference check (events/audit_scan.py) parses with ``json``, re-encodes with ``json.dumps`` and compares;
here ``orjson`` parses and re-encodes (several times faster) and the line is accepted only when

- the tail sits at its fixed offsets, and ``prev`` / ``hash`` are 64 ASCII letters or digits (no escapes);
- the body parses to an object with exactly the five body keys of the types the reference requires;
- ``orjson``'s sorted compact encoding of it is byte for byte the body, and
- nothing in the body looks like a float that ``orjson`` writes differently from ``json.dumps``.

``orjson`` and ``json.dumps(sort_keys, compact, ensure_ascii=False)`` agree on every string (each code
point checked), on integers (``orjson`` refuses those past 64 bits) and on key order (code point order);
they differ only on floats below 1e-4 (``orjson`` writes ``0.00001``, ``json`` ``1e-05``) and on some
written with an exponent. Every such float renders with ``0.0000`` or a signed exponent (``e+``/``e-``
after a digit), which :func:`_risky` finds (checked over millions of random floats, and by
tests/events/test_line_check.py), so such a line goes to the reference check; so does anything
``orjson`` refuses (NaN, lone surrogates, big integers) and any mismatch. A line the fast path accepts
is therefore exactly what ``json.dumps`` writes for the object it parses to: the same verdict, faster.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from labconsole.events.log import _TAIL_LEN

BODY_KEYS = frozenset({"actor", "data", "kind", "seq", "ts"})
_PREV_AT = len(',"prev":"')
_HASH_AT = _PREV_AT + 64 + len('","hash":"')
_DIGITS = frozenset(b"0123456789")
_SORTED = orjson.OPT_SORT_KEYS

# (body, prev, hash, hash recomputes) of a line in canonical form
Canonical = tuple[dict[str, Any], str, str, bool]


def read_canonical(line: bytes, risky: bool | None = None) -> Canonical | None:
    """``line`` (no newline) parsed when it is certainly canonical; None: use the reference check.
    ``risky``: whether the line holds a float pattern :func:`_risky` looks for, when the caller found that
    for a whole block at once (:func:`risky_lines`); None: looked for here."""
    n = len(line) - _TAIL_LEN
    if n < 2 or not (line.startswith(b',"prev":"', n) and line.startswith(b'","hash":"', n + _HASH_AT - 10)):
        return None
    if not line.endswith(b'"}'):
        return None
    prev, digest = line[n + _PREV_AT : n + _PREV_AT + 64], line[n + _HASH_AT : -2]
    if not (prev.isalnum() and digest.isalnum()):  # ASCII only: then JSON writes them unescaped
        return None
    body = line[:n] + b"}"
    try:
        d = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if (
        type(d) is not dict
        or d.keys() != BODY_KEYS
        or type(d["seq"]) is not int
        or type(d["data"]) is not dict
        or type(d["kind"]) is not str
        or type(d["actor"]) is not str
    ):
        return None
    try:
        if risky or orjson.dumps(d, option=_SORTED) != body or (risky is None and _risky(body)):
            return None
    except orjson.JSONEncodeError:
        return None
    prev_s, digest_s = prev.decode("ascii"), digest.decode("ascii")
    return d, prev_s, digest_s, hashlib.sha256(prev + body).hexdigest() == digest_s


def _risky(body: bytes) -> bool:
    """Whether ``body`` may hold a float ``orjson`` writes unlike ``json``: ``0.0000`` or a digit then ``e+``/``e-``.
    (Substring searches, then a look at the byte before: a regex over every line cost more than the parse.)"""
    if b"0.0000" in body:
        return True
    if b"e+" not in body and b"e-" not in body:  # nearly every line: two scans in C, no loop
        return False
    for exponent in (b"e+", b"e-"):
        i = body.find(exponent)
        while i > 0:
            if body[i - 1] in _DIGITS:
                return True
            i = body.find(exponent, i + 2)
    return False


def risky_lines(block: bytes) -> set[int]:
    """Offsets of the lines in ``block`` (whole lines) where :func:`_risky` would find something: a few
    searches over the block instead of three per line."""
    return (
        lines_with(block, b"0.0000")
        | lines_with(block, b"e+", after_digit=True)
        | lines_with(block, b"e-", after_digit=True)
    )


def lines_with(block: bytes, needle: bytes, *, after_digit: bool = False) -> set[int]:
    """Offsets in ``block`` of the lines that contain ``needle`` (right after a digit, with ``after_digit``)."""
    starts: set[int] = set()
    i = block.find(needle)
    while i >= 0:
        if not after_digit or (i > 0 and block[i - 1] in _DIGITS):
            starts.add(block.rfind(b"\n", 0, i) + 1)
        i = block.find(needle, i + 1)
    return starts


__all__ = ["BODY_KEYS", "Canonical", "lines_with", "read_canonical", "risky_lines"]
