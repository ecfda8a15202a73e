"""The audit's fast path (events/line_check.py) skips re-serialising with ``json``: it must never accept
a line the reference check (json parse, json re-encode, compare) would not, nor miss what it reports.

Each forged line below chains: its hash is recomputed over its own bytes, so a fast path that hashed
the bytes without proving them canonical would take it as intact."""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labconsole.events import audit_scan, kinds
from labconsole.events.audit import verify_session
from labconsole.events.line_check import read_canonical
from labconsole.events.log import _body, _line, canonical_json, compute_hash

from .conftest import write_lines, write_session

EVENTS: list[tuple[str, str, dict[str, Any]]] = [
    (kinds.SESSION_STARTED, "console", {"lab": "demo"}),
    (kinds.NOTE, "console", {"text": "one"}),
    (kinds.NOTE, "console", {"text": "two"}),
    (kinds.NOTE, "console", {"text": "three"}),
]


def _chained(prev: str, body: bytes) -> str:
    """A line whose hash is over exactly these body bytes, as a careless fast path would recompute it."""
    digest = hashlib.sha256(prev.encode() + body).hexdigest()
    return body[:-1].decode() + f',"prev":"{prev}","hash":"{digest}"}}'


def _head(seq: int, text: str = "two") -> bytes:
    return f'{{"actor":"console","data":{{"text":"{text}"}},"kind":"note","seq":{seq},"ts":1.5}}'.encode()


# Each: the body bytes of line 3 (seq 2): not what json.dumps writes for the object they parse to.
FORGED: dict[str, bytes] = {
    "spacing": b'{"actor": "console","data":{"text":"two"},"kind":"note","seq":2,"ts":1.5}',
    "key order": b'{"data":{"text":"two"},"actor":"console","kind":"note","seq":2,"ts":1.5}',
    "duplicate key": b'{"actor":"console","data":{"text":"two","text":"owned"},"kind":"note","seq":2,"ts":1.5}',
    "duplicate top key": b'{"actor":"console","data":{"text":"two"},"kind":"note","kind":"note","seq":2,"ts":1.5}',
    "escaped letter": b'{"actor":"console","data":{"text":"t\\u0077o"},"kind":"note","seq":2,"ts":1.5}',
    "escaped non-ASCII": b'{"actor":"console","data":{"text":"\\u00e9"},"kind":"note","seq":2,"ts":1.5}',
    # orjson writes these floats so; json.dumps writes 1e-05 and 1e+16
    "small float as orjson writes it": b'{"actor":"console","data":{"text":"two"},"kind":"note","seq":2,"ts":0.00001}',
    "float with exponent": b'{"actor":"console","data":{"text":"two"},"kind":"note","seq":2,"ts":1E+16}',
    "float trailing zero": b'{"actor":"console","data":{"text":"two"},"kind":"note","seq":2,"ts":1.50}',
    "int as float": b'{"actor":"console","data":{"text":"two"},"kind":"note","seq":2.0,"ts":1.5}',
    "lone surrogate": b'{"actor":"console","data":{"text":"\\ud800"},"kind":"note","seq":2,"ts":1.5}',
    "extra body key": b'{"actor":"console","data":{"text":"two"},"kind":"note","seq":2,"ts":1.5,"zz":1}',
    "prev inside the body": b'{"actor":"console","data":{"text":"two"},"kind":"note","prev":"x","seq":2,"ts":1.5}',
}

# json.dumps's own form, which orjson refuses or reads otherwise: the reference's verdict, whatever it is.
JSON_ONLY: dict[str, tuple[bytes, bool]] = {
    "NaN": (b'{"actor":"console","data":{"text":"two"},"kind":"note","seq":2,"ts":NaN}', True),
    "Infinity": (b'{"actor":"console","data":{"text":"two"},"kind":"note","seq":2,"ts":-Infinity}', True),
    "NaN in data, undeclared": (
        b'{"actor":"console","data":{"text":"two","x":NaN},"kind":"note","seq":2,"ts":1.5}',
        False,
    ),
    "big int": (
        b'{"actor":"console","data":{"text":"two"},"kind":"note","seq":2,"ts":123456789012345678901234567890}',
        True,
    ),
    "bool seq": (b'{"actor":"console","data":{"text":"two"},"kind":"note","seq":true,"ts":1.5}', False),
}


def _audit(session: Path, monkeypatch: pytest.MonkeyPatch, *, fast: bool) -> tuple[Any, ...]:
    with monkeypatch.context() as m:
        if not fast:  # every line through the reference check
            m.setattr(audit_scan, "read_canonical", lambda line, risky=None: None)
        r = verify_session(session, live=False, git=False)
    return r.ok, r.events, [(p.line, p.seq, p.message) for p in r.problems]


@pytest.mark.parametrize("case", sorted(FORGED))
def test_a_non_canonical_line_that_chains_is_caught_as_the_reference_catches_it(
    case: str, session: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = write_session(session, EVENTS)
    prev = json.loads(lines[1])["hash"]
    lines[2] = _chained(prev, FORGED[case])
    assert read_canonical(lines[2].encode()) is None
    write_lines(session, lines)
    fast, reference = _audit(session, monkeypatch, fast=True), _audit(session, monkeypatch, fast=False)
    assert fast == reference
    assert not fast[0] and fast[2][0][0] == 3, fast


@pytest.mark.parametrize("case", sorted(JSON_ONLY))
def test_what_only_json_reads_gets_the_references_verdict(
    case: str, session: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body, ok = JSON_ONLY[case]
    lines = write_session(session, EVENTS)
    prev = json.loads(lines[1])["hash"]
    lines[2] = _chained(prev, body)
    if case != "bool seq":  # the next line chains on: only the forged line's own content is in question
        lines[3] = _chained(json.loads(lines[2])["hash"], _head(3, "three"))
    assert read_canonical(lines[2].encode()) is None
    write_lines(session, lines)
    fast = _audit(session, monkeypatch, fast=True)
    assert fast == _audit(session, monkeypatch, fast=False)
    assert fast[0] == ok, fast


@pytest.mark.parametrize(
    "tail",
    [
        "garbage after the object",
        "space before the newline",
        "carriage return",
        "upper-case hash",
        "escaped prev",
    ],
)
def test_a_damaged_tail_is_caught_as_the_reference_catches_it(
    tail: str, session: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = write_session(session, EVENTS)
    line = lines[2]
    if tail == "garbage after the object":
        line += "x"
    elif tail == "space before the newline":
        line += " "
    elif tail == "carriage return":
        line += "\r"
    elif tail == "upper-case hash":
        line = line[:-66] + line[-66:].upper()
    else:
        prev = json.loads(line)["prev"]
        line = line.replace(prev, f"\\u{ord(prev[0]):04x}" + prev[1:])  # the same prev, escaped
    lines[2] = line
    write_lines(session, lines)
    parsed = read_canonical(line.encode())
    assert parsed is None or not parsed[3]  # not taken, or taken and its hash fails
    fast, reference = _audit(session, monkeypatch, fast=True), _audit(session, monkeypatch, fast=False)
    assert fast == reference and not fast[0]
    assert fast[2][0][0] == 3


def test_a_blob_key_escaped_to_hide_it_is_still_checked(session: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path looks for blob keys by their bytes; a key escaped so that its bytes hide it is not canonical."""
    lines = write_session(session, EVENTS)
    prev = json.loads(lines[1])["hash"]
    body = b'{"actor":"console","data":{"text":"two","\\u0062lob":"' + b"a" * 64 + b'"},"kind":"note","seq":2,"ts":1.5}'
    lines[2] = _chained(prev, body)
    write_lines(session, lines)
    fast = _audit(session, monkeypatch, fast=True)
    assert fast == _audit(session, monkeypatch, fast=False)
    assert any("blob" in message and line == 3 for line, _, message in fast[2])


def test_the_writers_lines_take_the_fast_path(session: Path) -> None:
    extra = [
        (kinds.NOTE, "console", {"text": 'é ✓ \u2028 \x01 \x7f " \\ / 😀'}),
        (kinds.RUN_FINISHED, "console", {"run_id": "r1", "status": "ok", "metric": 0.000125}),
    ]
    write_session(session, [*EVENTS, *extra])
    lines = (session / "events.jsonl").read_bytes().splitlines()  # bytes: str.splitlines() splits at U+2028
    assert len(lines) == len(EVENTS) + len(extra)
    for line in lines:
        parsed = read_canonical(line)
        assert parsed is not None and parsed[3], line


def test_an_edited_canonical_line_fails_its_hash_on_the_fast_path(
    session: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = write_session(session, EVENTS)
    lines[2] = lines[2].replace('"two"', '"tw0"')
    write_lines(session, lines)
    parsed = read_canonical(lines[2].encode())
    assert parsed is not None and not parsed[3]
    fast = _audit(session, monkeypatch, fast=True)
    assert fast == _audit(session, monkeypatch, fast=False)
    assert fast[2][0][:2] == (3, 2) and "hash does not recompute" in fast[2][0][2]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(data=st.dictionaries(st.text(max_size=8), JSON, max_size=5), ts=st.floats(allow_nan=False))
def test_the_fast_path_accepts_only_what_json_dumps_writes(data: dict[str, Any], ts: float) -> None:
    """For any object, in json's canonical form and in orjson's (the form that would fool it): the fast
    path takes a line only if it is what json.dumps writes for the object it parses to (the reference's
    canonical check), and then its hash verdict is the reference's."""
    prev = "0" * 64
    canonical = _body(2, ts, "note", "console", data)
    try:
        canonical.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: the writer cannot write it
        return
    candidates = [canonical.encode()]
    try:
        candidates.append(
            orjson.dumps(
                {"seq": 2, "ts": ts, "kind": "note", "actor": "console", "data": data}, option=orjson.OPT_SORT_KEYS
            )
        )
    except orjson.JSONEncodeError:
        pass
    for body in candidates:
        line = _chained(prev, body).encode()
        parsed = read_canonical(line)
        if parsed is None:
            continue
        reference = json.loads(line)  # as the reference check reads it
        del reference["prev"], reference["hash"]
        again = canonical_json(reference)
        assert line == _line(again, prev, compute_hash(prev, again)).encode()
        assert parsed[0] == reference and parsed[3]


@pytest.mark.parametrize("block", [64, 300, 1000])
def test_blocks_cut_anywhere_find_the_same(block: int, session: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The per-block marks (lines with a risky float, lines naming a blob) land on the right lines however
    the log is cut into blocks: a forged orjson-form float and missing blobs are found wherever they sit."""
    events: list[tuple[str, str, dict[str, Any]]] = [(kinds.SESSION_STARTED, "console", {"lab": "demo"})]
    for i in range(12):
        events.append((kinds.NOTE, "console", {"text": f"note {i} " + "x" * (i * 7)}))
        if i % 4 == 1:
            events.append((kinds.HYP_COMMITTED, "console", {"hyp_id": f"h{i}", "diff_blob": f"{i:x}" * 64}))
    lines = write_session(session, events)
    for at in (2, 9, len(lines) - 1):  # forged floats that orjson writes so, their hash over their own bytes
        old = json.loads(lines[at])
        body = _head(old["seq"]).replace(b'"ts":1.5', b'"ts":0.00001')
        lines[at] = _chained(old["prev"], body)
    write_lines(session, lines)
    whole = _audit(session, monkeypatch, fast=True)
    assert whole == _audit(session, monkeypatch, fast=False)
    with monkeypatch.context() as m:
        m.setattr(audit_scan, "_blocks", functools.partial(audit_scan._blocks, size=block))
        assert _audit(session, monkeypatch, fast=True) == whole
    flagged = {line for line, _, message in whole[2]}
    assert {3, 10, len(lines)} <= flagged
    assert sum("blob" in message for _, _, message in whole[2]) == 3
