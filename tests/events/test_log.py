"""The session log writer/reader: chain, lock, torn-tail repair, durability, blobs."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from labconsole.errors import SessionLockedError
from labconsole.events import kinds
from labconsole.events.audit import verify_session
from labconsole.events.log import (
    GENESIS,
    LOG_NAME,
    BlobError,
    Event,
    EventLog,
    LogCorruptError,
    compute_hash,
    get_blob,
    read_events,
    session_lock_holder,
)

from .conftest import read_lines, write_lines, write_session

ROOT = Path(__file__).resolve().parents[2]


def test_chain_round_trip(session: Path) -> None:
    with EventLog.open(session) as log:
        # agent.log is declared open (it carries an agent's message), so arbitrary nested data round-trips
        first = log.append(
            kinds.AGENT_LOG, "console", {"agent_id": "w1", "text": "héllo ✓", "nested": {"b": 1, "a": [1, 2.5, None]}}
        )
        second = log.append(kinds.AGENT_LOG, "agent:w1", {"agent_id": "w1", "level": "info", "text": "x"})
        assert log.last == second
    assert first.seq == 0 and first.prev == GENESIS
    assert second.seq == 1 and second.prev == first.hash
    canonical = json.dumps(
        {"seq": 0, "ts": first.ts, "kind": first.kind, "actor": "console", "data": first.data},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    assert first.hash == compute_hash(GENESIS, canonical)
    lines = read_lines(session)
    assert lines == [first.to_json(), second.to_json()]
    assert "héllo ✓" in lines[0]  # UTF-8, not \u escapes
    events = list(read_events(session))
    assert events == [first, second]
    assert Event.from_json(lines[1]) == second
    assert list(read_events(session, start_seq=1)) == [second]


def test_reopen_continues_chain(session: Path) -> None:
    write_session(session, [(kinds.NOTE, "console", {"text": "a"})])
    with EventLog.open(session, create=False) as log:
        assert log.last is not None and log.last.seq == 0
        ev = log.append(kinds.NOTE, "console", {"text": "b"})
    assert ev.seq == 1 and verify_session(session).ok


def test_open_without_create_fails_cleanly(tmp_path: Path) -> None:
    from labconsole.errors import LabError

    with pytest.raises(LabError, match="no session log"):
        EventLog.open(tmp_path / "nope", create=False)


def test_concurrent_appends_keep_the_chain(session: Path) -> None:
    with EventLog.open(session) as log:

        def worker(n: int) -> None:
            for i in range(300):
                log.append(kinds.AGENT_LOG, f"agent:{n}", {"agent_id": str(n), "i": i}, durable=(i % 50 == 0))

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    result = verify_session(session)
    assert result.ok, result.problems
    assert result.events == 1200


def test_non_json_data_is_rejected_before_writing(session: Path) -> None:
    with EventLog.open(session) as log:
        with pytest.raises(TypeError):
            log.append(kinds.NOTE, "console", {"text": object()})
        log.append(kinds.NOTE, "console", {"text": "fine"})
    assert verify_session(session).ok


# ----------------------------------------------------------------- lock


def test_second_writer_in_process_is_refused(session: Path) -> None:
    log = EventLog.open(session)
    try:
        with pytest.raises(
            SessionLockedError,
            match=rf"session s-test is already open by another console \(pid {os.getpid()}\); use --readonly",
        ):
            EventLog.open(session)
        assert session_lock_holder(session) == os.getpid()
    finally:
        log.close()
    assert session_lock_holder(session) is None
    EventLog.open(session).close()  # released


_HOLDER = textwrap.dedent("""
    import sys, time
    from labconsole.events.log import EventLog
    log = EventLog.open(sys.argv[1])
    log.append("note", "console", {"text": "holder"})
    print("ready", flush=True)
    sys.stdin.readline()
    log.close()
""")


def test_second_writer_across_processes_is_refused(session: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(session)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        assert session_lock_holder(session) == proc.pid
        with pytest.raises(SessionLockedError, match=f"pid {proc.pid}"):
            EventLog.open(session)
        assert [e.data["text"] for e in read_events(session)] == ["holder"]  # readers need no lock
    finally:
        proc.communicate("\n", timeout=10)
    assert proc.returncode == 0
    assert session_lock_holder(session) is None
    with EventLog.open(session) as log:
        assert log.last.data == {"text": "holder"}


# ----------------------------------------------------------------- torn tail


def _events(session: Path, n: int = 5) -> list[str]:
    return write_session(session, [(kinds.NOTE, "console", {"text": f"event {i}"}) for i in range(n)])


@pytest.mark.parametrize(
    "damage, reason",
    [
        (lambda lines: ("\n".join(lines) + "\n" + lines[-1][:37]).encode(), "no trailing newline"),
        (lambda lines: ("\n".join(lines) + "\n" + '{"not": "an event"}\n').encode(), "invalid JSON or bad hash"),
        (
            lambda lines: ("\n".join(lines[:-1]) + "\n" + lines[-1].replace("event 4", "event X") + "\n").encode(),
            "invalid JSON or bad hash",
        ),
        (lambda lines: ("\n".join(lines) + "\n").encode() + b"\x00" * 300, "no trailing newline"),
    ],
)
def test_torn_last_line_is_cut_and_recorded(session: Path, damage, reason: str) -> None:
    lines = _events(session)
    good = ("\n".join(lines) + "\n").encode()
    damaged = damage(lines)
    (session / LOG_NAME).write_bytes(damaged)
    keep = good if damaged.startswith(good) else ("\n".join(lines[:-1]) + "\n").encode()
    with EventLog.open(session) as log:
        repair = log.last
        assert repair.kind == kinds.LOG_REPAIRED
        assert repair.data["offset"] == len(keep)
        assert repair.data["cut_bytes"] == len(damaged) - len(keep)
        assert reason in repair.data["reason"]
        log.append(kinds.NOTE, "console", {"text": "after repair"})
    assert (session / LOG_NAME).read_bytes().startswith(keep)
    result = verify_session(session)
    assert result.ok, result.problems
    assert [e.kind for e in read_events(session)][-2:] == [kinds.LOG_REPAIRED, kinds.NOTE]


def test_torn_only_line_cuts_to_empty(session: Path) -> None:
    session.mkdir(parents=True)
    (session / LOG_NAME).write_bytes(b'{"seq":0,"ts":1')
    with EventLog.open(session) as log:
        assert log.last.seq == 0 and log.last.kind == kinds.LOG_REPAIRED
        assert log.last.prev == GENESIS
    assert verify_session(session).ok


def test_bad_line_in_the_middle_is_not_repaired(session: Path) -> None:
    lines = _events(session)
    lines[3] = lines[3].replace("event 3", "event Z")
    write_lines(session, lines)
    before = (session / LOG_NAME).read_bytes()
    with pytest.raises(LogCorruptError, match="line 4"):
        EventLog.open(session)
    assert (session / LOG_NAME).read_bytes() == before
    assert session_lock_holder(session) is None  # the failed open released the lock


def test_read_events_skips_a_torn_tail_but_not_a_bad_middle(session: Path) -> None:
    lines = _events(session)
    (session / LOG_NAME).write_text("\n".join(lines) + "\n" + lines[0][:20], encoding="utf-8")
    assert [e.seq for e in read_events(session)] == [0, 1, 2, 3, 4]
    write_lines(session, [lines[0], "garbage", *lines[2:]])
    with pytest.raises(LogCorruptError, match=":2:"):
        list(read_events(session))


# ----------------------------------------------------------------- durability across kill -9


_WRITER = textwrap.dedent("""
    import sys
    from labconsole.events.log import EventLog
    log = EventLog.open(sys.argv[1])
    i = 0
    while True:
        durable = i % 10 == 0
        if durable:
            ev = log.append("decision.approved", "human:t", {"hyp_id": f"h{i}", "reason": "y" * (i % 700)})
        else:
            ev = log.append("agent.log", "agent:w", {"agent_id": "w", "i": i, "text": "y" * (i % 700)})
        if durable:
            print(ev.seq, flush=True)
        i += 1
""")


def test_kill_9_mid_stream_keeps_every_durable_event(session: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(session)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    durable: list[int] = []
    try:
        while len(durable) < 200:
            durable.append(int(proc.stdout.readline()))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    with EventLog.open(session) as log:  # repairs a torn tail if the kill landed mid-line
        log.append(kinds.SESSION_RESUMED, "console", {"pid": os.getpid(), "last_seq": log.last.seq})
    events = {e.seq: e for e in read_events(session)}
    for seq in durable:
        assert events[seq].kind == kinds.DECISION_APPROVED and int(events[seq].data["hyp_id"][1:]) % 10 == 0
    assert verify_session(session).ok


def test_background_fsync_clears_dirty(session: Path) -> None:
    import time

    with EventLog.open(session) as log:
        log.append(kinds.AGENT_LOG, "agent:w", {"agent_id": "w", "text": "x"})
        assert log._dirty
        deadline = time.monotonic() + 3
        while log._dirty and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not log._dirty  # fsynced by the background thread within a second
        log.append(kinds.DECISION_APPROVED, "human:a", {"hyp_id": "h", "sha": "s", "evidence_hash": "e"})
        assert not log._dirty  # durable kinds are fsynced before append returns


# ----------------------------------------------------------------- blobs


def test_blobs_round_trip_dedup_and_verify(session: Path) -> None:
    with EventLog.open(session) as log:
        digest = log.put_blob("a diff ✓")
        assert log.put_blob("a diff ✓".encode()) == digest
        assert log.put_blob(b"\x00\xff") != digest
    assert get_blob(session, digest) == "a diff ✓".encode()
    blob_dir = session / "blobs"
    assert sorted(p.name for p in blob_dir.iterdir()) == sorted([digest, hashlib.sha256(b"\x00\xff").hexdigest()])
    (blob_dir / digest).write_bytes(b"tampered")
    with pytest.raises(BlobError, match="corrupt"):
        get_blob(session, digest)
    with pytest.raises(BlobError, match="missing"):
        get_blob(session, "0" * 64)
