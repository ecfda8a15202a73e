"""A hostile session directory: nothing in it runs when a person lists, reads, replays or audits it.

The old replay cache unpickled ``index/snap-*.pkl``; a session copied from someone else (or written
by an agent) ran code when a person merely looked at it. Here a pickle whose loading creates a
marker file is planted under every snapshot name a reader could pick, then each reader runs.
"""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import pytest

from labconsole.cli import main
from labconsole.demo import create_demo_lab
from labconsole.events.log import LOG_NAME
from labconsole.events.replay import INDEX_DIR, Replay
from labconsole.lab.reducer import apply
from labconsole.lab.state import LabState

EXAMPLE = Path(__file__).resolve().parents[2] / "sessions" / "examples" / "tui-review"
SESSION = "20250101-000000-beef"


class _Payload:
    """Unpickling this runs ``touch <marker>``: what an attacker would put in a snapshot."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (f"touch {self.marker}",)


@pytest.fixture
def hostile_lab(tmp_path: Path) -> tuple[Path, Path]:
    lab = create_demo_lab(tmp_path / "lab")
    session = lab / "sessions" / SESSION
    shutil.copytree(EXAMPLE, session, ignore=shutil.ignore_patterns("index", "lock"))
    return lab, session


def _plant(session: Path, marker: Path) -> None:
    """The pickle under the names the old and the new cache would trust: this code version, the last
    event's real seq and hash, both suffixes."""
    with Replay(session, initial=LabState, apply=apply) as replay:
        version, seq = replay.version, replay.count - 1
        digest = replay.event(seq).hash
    index = session / INDEX_DIR
    index.mkdir(exist_ok=True)
    blob = pickle.dumps(_Payload(marker))
    for s in (seq, seq - 1, 0):
        for suffix in (".pkl", ".json"):
            (index / f"snap-{s:012d}-{digest}-{version}{suffix}").write_bytes(blob)


READERS = {
    "sessions": lambda lab, s: ["sessions", "--lab", str(lab)],
    "report": lambda lab, s: ["report", "--lab", str(lab)],
    "review list": lambda lab, s: ["review", "list", "--all", "--lab", str(lab)],
    "review show": lambda lab, s: ["review", "show", "h001", "--lab", str(lab)],
    "replay": lambda lab, s: ["replay", str(s), "--lab", str(lab), "--summary"],
    "audit verify": lambda lab, s: ["audit", "verify", str(s), "--lab", str(lab)],
}


@pytest.mark.parametrize("reader", sorted(READERS))
def test_a_planted_pickle_is_never_loaded(
    reader: str, hostile_lab: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lab, session = hostile_lab
    marker = tmp_path / "PWNED"
    _plant(session, marker)
    main(READERS[reader](lab, session))  # its exit status is the reader's business; running code is not
    out = capsys.readouterr()
    assert not marker.exists(), f"`labconsole {reader}` executed a pickle from the session dir\n{out.err}"


def test_snapshot_is_data_and_checked_against_the_log(hostile_lab: tuple[Path, Path], tmp_path: Path) -> None:
    _lab, session = hostile_lab
    _plant(session, tmp_path / "PWNED")
    with Replay(session, initial=LabState, apply=apply) as replay:
        last = replay.count - 1
        expected = replay.state_at(last)
        replay.remember(last, expected)
    assert not (tmp_path / "PWNED").exists()
    assert not list((session / INDEX_DIR).glob("*.pkl"))  # old pickles are deleted, never loaded
    [snap] = (session / INDEX_DIR).glob("snap-*.json")  # the planted .json ones failed their check: dropped
    header, _, payload = snap.read_bytes().partition(b"\n")
    assert payload.startswith(b"{") and b'"sha256"' in header  # JSON data behind a header, no pickle opcode
    with Replay(session, initial=LabState, apply=apply) as replay:
        assert replay.state_at(last) == expected

    # A payload edited (digest no longer matches): dropped, rebuilt from the log, same state.
    snap.write_bytes(header + b"\n" + payload.replace(b'"stopped":false', b'"stopped":true'))
    with Replay(session, initial=LabState, apply=apply) as replay:
        assert replay.state_at(last) == expected
    assert not snap.exists() or snap.read_bytes().partition(b"\n")[2] == payload


def test_symlinks_in_index_and_blobs_are_not_followed(hostile_lab: tuple[Path, Path], tmp_path: Path) -> None:
    from labconsole.events.log import BlobError, get_blob, put_blob

    _lab, session = hostile_lab
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim.txt"
    victim.write_text("precious\n")

    # index/ itself a symlink to a folder outside: nothing is written there, replay still works.
    (session / INDEX_DIR).symlink_to(outside, target_is_directory=True)
    with Replay(session, initial=LabState, apply=apply) as replay:
        replay.remember(replay.count - 1, replay.state_at(replay.count - 1))
    assert sorted(p.name for p in outside.iterdir()) == ["victim.txt"]
    (session / INDEX_DIR).unlink()

    # events.idx a symlink to a file outside: refused for reading, replaced (not written through).
    (session / INDEX_DIR).mkdir()
    (session / INDEX_DIR / "events.idx").symlink_to(victim)
    with Replay(session, initial=LabState, apply=apply) as replay:
        assert replay.built_from_scratch and replay.count > 0
    assert victim.read_text() == "precious\n"

    # A blob name planted as a symlink: reading it is refused, storing it does not write outside.
    digest = __import__("hashlib").sha256(b"precious\n").hexdigest()
    (session / "blobs" / digest).symlink_to(victim)
    with pytest.raises(BlobError, match="not a regular file"):
        get_blob(session, digest)
    target = outside / "new.txt"
    data = b"written by the console\n"
    planted = session / "blobs" / __import__("hashlib").sha256(data).hexdigest()
    planted.symlink_to(target)
    assert put_blob(session, data) == planted.name
    assert not target.exists() and planted.is_file() and not planted.is_symlink()
    with pytest.raises(BlobError, match="not a blob digest"):
        get_blob(session, "../" + LOG_NAME)
