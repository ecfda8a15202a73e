"""LogFollower: a read-only viewer sees appended events, never a half-written line."""

from __future__ import annotations

from pathlib import Path

from labconsole.events import kinds
from labconsole.events.follow import LogFollower
from labconsole.events.log import LOG_NAME, EventLog


def test_follow_a_live_writer(session: Path) -> None:
    follower = LogFollower(session)
    assert follower.poll() == []  # no log yet
    with EventLog.open(session) as log:
        log.append(kinds.NOTE, "console", {"text": "a"})
        log.append(kinds.NOTE, "console", {"text": "b"})
        assert [e.data["text"] for e in follower.poll()] == ["a", "b"]
        assert follower.poll() == []
        log.append(kinds.NOTE, "console", {"text": "c"})
        assert [e.seq for e in follower.poll()] == [2]
    with open(session / LOG_NAME, "ab") as f:
        f.write(b'{"actor":"console","data":{"te')  # a writer killed mid-line
    assert follower.poll() == []
    with EventLog.open(session) as log:  # the next writer cuts it and records the repair
        log.append(kinds.NOTE, "console", {"text": "d"})
    assert [e.kind for e in follower.poll()] == [kinds.LOG_REPAIRED, kinds.NOTE]
    assert follower.next_seq == 5


def test_follow_from_a_seq_in_batches(session: Path) -> None:
    with EventLog.open(session) as log:
        for i in range(10):
            log.append(kinds.NOTE, "console", {"text": str(i)})
    follower = LogFollower(session, start_seq=4)
    assert [e.seq for e in follower.poll(max_events=3)] == [4, 5, 6]
    assert [e.seq for e in follower.poll()] == [7, 8, 9]
