"""Replay: offset index, kind index, snapshots, and their invalidation."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from labconsole.events import kinds
from labconsole.events.log import EventLog, LOG_NAME, read_events
from labconsole.events.replay import INDEX_DIR, Replay

from .conftest import read_lines, write_lines


def _apply(state: Counter, ev) -> None:
    state[ev.kind] += 1
    state["sum"] += ev.data.get("i", 0)
    state["last"] = ev.seq


def _append(log: EventLog, i: int) -> None:
    """Event ``i`` of a test log: every 97th a decision, the rest agent lines."""
    if i % 97 == 0:
        log.append(kinds.DECISION_APPROVED, "console", {"hyp_id": f"h{i}", "reason": f"line {i} ✓"}, durable=False)
    else:
        # agent.log is open, so the nested "kind" keys (which must not confuse the kind index) are allowed
        log.append(
            kinds.AGENT_LOG,
            "console",
            {"agent_id": "w", "i": i, "text": f"line {i} ✓", "inner": {"kind": "decoy", "seq": 1}},
            durable=False,
        )


def _write(session: Path, n: int, start: int = 0) -> None:
    with EventLog.open(session) as log:
        for i in range(start, start + n):
            _append(log, i)


# Snapshots are data: a Counter goes out as a dict and comes back through Counter().
CODEC = {"to_data": dict, "from_data": Counter}


def _replay(session: Path, every: int = 100) -> Replay:
    return Replay(session, initial=Counter, apply=_apply, snapshot_every=every, **CODEC)


def _expected(session: Path, seq: int) -> Counter:
    state: Counter = Counter()
    for ev in read_events(session):
        if ev.seq > seq:
            break
        _apply(state, ev)
    return state


def _snaps(session: Path) -> list[str]:
    return sorted(p for p in os.listdir(session / INDEX_DIR) if p.startswith("snap-"))


def test_index_events_and_states(session: Path) -> None:
    _write(session, 1000)
    with _replay(session) as r:
        assert r.built_from_scratch and r.count == 1000
        assert r.event(0).data["hyp_id"] == "h0" and r.event(1).data["i"] == 1 and r.event(999).seq == 999
        assert [e.seq for e in r.events(10, 13)] == [10, 11, 12]
        assert r.state_at(999) == _expected(session, 999)
        assert len(_snaps(session)) == 10  # after seqs 99, 199, ... 999
        assert r.state_at(450) == _expected(session, 450)
        assert r.state_at(0) == _expected(session, 0)
        s1 = r.state_at(500)
        s1["mutated"] = 1  # the caller owns what it gets
        assert "mutated" not in r.state_at(500)
        with pytest.raises(IndexError):
            r.state_at(1000)
        assert r.seqs_of(frozenset({kinds.DECISION_APPROVED})) == list(range(0, 1000, 97))
        assert r.seqs_of(frozenset({"decoy"})) == []
        assert r.find("line 42 ", 0) == 42
        assert r.find("line 42", 43) == 420
        assert r.find("line 42", 419, forward=False) == 42
        assert r.find("✓", 999, forward=False) == 999
        assert r.find("nowhere", 0) is None


def test_cached_index_is_reused_and_extended_when_the_log_grows(session: Path) -> None:
    _write(session, 300)
    with _replay(session) as r:
        r.state_at(299)
    _write(session, 250, start=300)
    with _replay(session) as r:
        assert not r.built_from_scratch and r.count == 550
        assert r.event(549).data["i"] == 549
        assert r.state_at(549) == _expected(session, 549)
        assert len(_snaps(session)) == 5
        assert r.seqs_of(frozenset({kinds.DECISION_APPROVED})) == list(range(0, 550, 97))


def test_live_refresh_sees_new_lines_and_skips_a_half_written_one(session: Path) -> None:
    _write(session, 50)
    with _replay(session) as r:
        with open(session / LOG_NAME, "ab") as f:
            f.write(b'{"actor":"console","da')
        assert r.refresh() == 50
    with EventLog.open(session) as log:  # repairs the torn tail, appends log.repaired
        log.append(kinds.NOTE, "console", {"text": "more"})
    with _replay(session) as r:
        assert r.count == 52 and r.event(51).kind == kinds.NOTE


def test_edit_invalidates_index_and_snapshots(session: Path) -> None:
    _write(session, 300)
    with _replay(session) as r:
        r.state_at(299)
    # Rewrite the log: same events from seq 150 on have different content (and hashes).
    write_lines(session, read_lines(session)[:150])
    with EventLog.open(session) as log:
        for i in range(150):
            log.append(kinds.NOTE, "console", {"text": f"rewritten {10_000 + i}, longer than before"})
    with _replay(session) as r:
        assert r.built_from_scratch  # offsets no longer matched
        assert r.state_at(299) == _expected(session, 299)
        assert r.state_at(299)[kinds.NOTE] == 150
    names = _snaps(session)
    assert len(names) == 3 and all(
        n.startswith(("snap-000000000099", "snap-000000000199", "snap-000000000299")) for n in names
    )


def test_rewritten_history_drops_later_snapshots(session: Path) -> None:
    _write(session, 200)
    with _replay(session) as r:
        r.state_at(199)
    # A writer that rewrote history from seq 50 with same-sized lines: offsets still fit,
    # but hashes from 50 on differ, so snapshot 99/199 must not be trusted.
    write_lines(session, read_lines(session)[:50])
    _write(session, 150, start=50)
    with _replay(session) as r:
        assert r.state_at(199) == _expected(session, 199)


def test_unwritable_cache_still_replays(session: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(session, 250)

    def refuse(path: Path, parts: list[bytes]) -> None:
        raise PermissionError(f"read-only: {path}")

    monkeypatch.setattr("labconsole.events.replay._atomic_write", refuse)
    with _replay(session) as r:
        assert r.state_at(249) == _expected(session, 249)
        assert r.state_at(249) == _expected(session, 249)  # from the in-memory snapshot
        assert r.state_at(-1) == Counter()
    assert not (session / INDEX_DIR).exists()


def test_index_dir_is_git_ignored(session: Path) -> None:
    _write(session, 10)
    with _replay(session) as r:
        r.state_at(9)
    assert (session / INDEX_DIR / ".gitignore").read_text() == "*\n"


def test_snapshots_from_other_reducer_code_are_discarded(session: Path) -> None:
    _write(session, 300)
    with Replay(session, initial=Counter, apply=_apply, snapshot_every=100, version="old", **CODEC) as r:
        r.state_at(299)
    assert len(_snaps(session)) == 3

    def apply_v2(state: Counter, ev) -> None:
        state["v2"] += 1

    with Replay(session, initial=Counter, apply=apply_v2, snapshot_every=100, version="new", **CODEC) as r:
        assert r.state_at(299) == Counter({"v2": 300})
    assert len(_snaps(session)) == 3 and all(n.endswith("-new.json") for n in _snaps(session))
