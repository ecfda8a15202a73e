"""Fast replay of large sessions: a byte-offset index plus periodic state snapshots.

Cached under ``sessions/<id>/index/``:

- ``events.idx``: one JSON header line, then the start offset of every line as
  ``array('Q')`` and a kind id per line as ``array('H')``. Extended
  incrementally as the log grows; rebuilt when the log no longer matches it
  (the last indexed line must still sit at its offset with the same hash).
- ``snap-<seq>-<hash>-<version>.json``: the state after applying events
  ``0..seq`` as plain data (the state's ``to_data``), behind a header line that
  names seq, the hash of event ``seq``, the code version and the sha256 of the
  data. Used only while event ``seq`` in the log still has that hash (a
  rewritten log invalidates it), ``version`` still fingerprints the reducer and
  state code (an edited reducer invalidates it) and the data hashes to the
  header's digest; otherwise deleted and rebuilt from the log.

Nothing in ``index/`` can run code: snapshots are data decoded by the state's own
``from_data`` (which accepts only its declared fields and types), and old pickle
snapshots (``*.pkl``, from before) are never loaded, only deleted. A symlink
planted in ``index/`` (or as ``index/`` itself) is neither read nor written
through (:mod:`labconsole.events.safe_files`). Every cache write is atomic
(temp file + rename); a read-only session directory just means no cache is kept.
The state type is the caller's: this module never imports ``labconsole.lab``.
``index/`` is never shared: delete it freely, it is rebuilt.
"""

from __future__ import annotations

import json
import mmap
import os
import sys
from array import array
from bisect import bisect_right
from pathlib import Path
from typing import Any, Generic, TypeVar
from collections.abc import Callable, Iterator

from labconsole.errors import LabError
from labconsole.events import safe_files
from labconsole.events.log import LOG_NAME, Event, LogCorruptError
from labconsole.events.replay_snapshot import (
    SnapshotError,
    blob_loader,
    code_version,
    decode,
    encode,
    file_loader,
    parse_snapshot_name,
    snapshot_name,
)

S = TypeVar("S")

INDEX_DIR = "index"
INDEX_FILE = "events.idx"
INDEX_VERSION = 1
CURSOR_MIN_APPLIED = 1_000  # keep an in-memory checkpoint when a state_at call applied at least this many events
_KIND_MARK = b',"kind":"'  # the top-level kind is the LAST occurrence on a line (data sorts before kind;
# a quote inside a string value is always escaped)


class Replay(Generic[S]):
    def __init__(
        self,
        session_dir: Path | str,
        *,
        initial: Callable[[], S],
        apply: Callable[[S, Event], None],
        snapshot_every: int = 50_000,
        version: str | None = None,
        to_data: Callable[[S], Any] | None = None,
        from_data: Callable[[Any], S] | None = None,
    ) -> None:
        """``version`` names the reducer code; snapshots from another version are discarded.
        By default it is derived from the source of ``apply``'s module and the state's module,
        so editing the reducer or the state class never resurrects a stale snapshot.

        ``to_data``/``from_data`` turn a state into JSON-able data and back (default: the state
        type's own ``to_data`` method and ``from_data`` classmethod). ``from_data`` must raise on
        anything it does not recognise. Without them no snapshot is kept: every state is replayed."""
        self.session_dir = Path(session_dir)
        self.path = self.session_dir / LOG_NAME
        self.index_dir = self.session_dir / INDEX_DIR
        self._initial = initial
        self._apply = apply
        self.snapshot_every = max(1, snapshot_every)
        state_type = type(initial())
        self._to_data = to_data or getattr(state_type, "to_data", None)
        self._from_data = from_data or getattr(state_type, "from_data", None)
        self.version = version or code_version(initial, apply, self._to_data, self._from_data)
        self._offsets: array[int] = array("Q")
        self._kind_ids: array[int] = array("H")
        self._kind_names: list[str] = []
        self._kind_lookup: dict[bytes, int] = {}
        self._end = 0  # byte offset just past the last indexed line
        try:
            self._file = open(self.path, "rb")
        except FileNotFoundError:
            raise LabError(f"no session log at {self.path}") from None
        self._mm: mmap.mmap | None = None
        self._snapshots: dict[int, str] = {}  # seq -> event hash, on disk
        self._memory_snaps: dict[int, tuple[str, bytes]] = {}  # when index/ is not writable
        self._cursor: tuple[int, str, bytes] | None = None  # the last expensive state_at, as snapshot bytes
        self.built_from_scratch = False
        self._read_only = False
        self._index_stale = False
        self._load_index()
        self.refresh()
        self._scan_snapshots()

    # ------------------------------------------------------------------ public

    @property
    def count(self) -> int:
        """Events in the log (complete lines)."""
        return len(self._offsets)

    def refresh(self) -> int:
        """Index lines appended since the last call (a live session grows); returns the new count."""
        size = os.fstat(self._file.fileno()).st_size
        changed = self._index_stale
        if size < self._end or (self.count and not self._tail_matches()):
            self._reset()  # truncated (repaired) or rewritten: start over
            changed = True
        before = self.count
        if size > self._end:
            self._extend()
        if changed or self.count != before:
            self._save_index()
            if self._mm is not None:
                self._mm.close()
                self._mm = None
        self._index_stale = False
        return self.count

    def event(self, seq: int) -> Event:
        raw = self._raw_line(seq)
        try:
            return Event.from_json(raw)
        except (ValueError, KeyError, TypeError):
            raise LogCorruptError(f"{self.path}:{seq + 1}: not a valid event line") from None

    def events(self, start: int, stop: int | None = None) -> Iterator[Event]:
        """Events ``start <= seq < stop`` read sequentially (bulk, no per-event seek)."""
        stop = self.count if stop is None else min(stop, self.count)
        if start >= stop:
            return
        begin, end = self._offsets[start], self._line_end(stop - 1)
        self._file.seek(begin)
        remaining, carry = end - begin, b""
        loads = json.loads
        while remaining > 0:
            block = self._file.read(min(remaining, 8 << 20))
            remaining -= len(block)
            lines = (carry + block).split(b"\n")
            carry = lines.pop()
            for raw in lines:
                d = loads(raw)
                yield Event(d["seq"], d["ts"], d["kind"], d["actor"], d["data"], d["prev"], d["hash"])

    def state_at(self, seq: int) -> S:
        """The state after applying events ``0..seq`` (a fresh object the caller owns); -1: the initial state."""
        if seq == -1:
            return self._initial()
        if not 0 <= seq < self.count:
            raise IndexError(f"seq {seq} out of range (0..{self.count - 1})")
        base, state = self._nearest_state(seq)
        every, apply = self.snapshot_every, self._apply
        for ev in self.events(base + 1, seq + 1):
            apply(state, ev)
            if (ev.seq + 1) % every == 0 and ev.seq not in self._snapshots and ev.seq not in self._memory_snaps:
                self._save_snapshot(ev.seq, ev.hash, state)
        if seq - base >= CURSOR_MIN_APPLIED and self._codec_ok():
            digest = self._hash_of(seq)
            blob = self._encode(seq, digest, state)
            if blob is not None:
                self._cursor = (seq, digest, blob)
        return state

    def find(self, text: str, start_seq: int, forward: bool = True) -> int | None:
        """The first seq >= start_seq (or last <= start_seq backwards) whose raw line contains ``text``."""
        if not text or "\n" in text or self.count == 0:
            return None
        start_seq = min(max(start_seq, 0), self.count - 1)
        needle, mm = text.encode("utf-8"), self._map()
        if forward:
            pos = mm.find(needle, self._offsets[start_seq], self._end)
        else:
            pos = mm.rfind(needle, 0, self._line_end(start_seq))
        return None if pos < 0 else bisect_right(self._offsets, pos) - 1

    def seqs_of(self, kinds: frozenset[str] | set[str]) -> list[int]:
        """Seqs of the events whose kind is in ``kinds`` (e.g. decisions, for {/} jumps)."""
        ids = {self._kind_names.index(k) for k in kinds if k in self._kind_names}
        if not ids:
            return []
        return [seq for seq, kid in enumerate(self._kind_ids) if kid in ids]

    def close(self) -> None:
        if self._mm is not None:
            self._mm.close()
            self._mm = None
        self._file.close()

    def __enter__(self) -> Replay[S]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ index

    def _reset(self) -> None:
        self._offsets, self._kind_ids = array("Q"), array("H")
        self._kind_names, self._kind_lookup = [], {}
        self._end = 0
        self._cursor = None
        self._memory_snaps.clear()
        self.built_from_scratch = True
        self._index_stale = True

    def _line_end(self, seq: int) -> int:
        return self._offsets[seq + 1] if seq + 1 < self.count else self._end

    def _raw_line(self, seq: int) -> bytes:
        if not 0 <= seq < self.count:
            raise IndexError(f"seq {seq} out of range (0..{self.count - 1})")
        start = self._offsets[seq]
        self._file.seek(start)
        return self._file.read(self._line_end(seq) - start)

    def _hash_of(self, seq: int) -> str:
        raw = self._raw_line(seq)
        # The hash is the last 64 hex digits before '"}\n': no JSON parse needed.
        return raw[-67:-3].decode("ascii", "replace")

    def _tail_matches(self) -> bool:
        """Is the last indexed line still where and what it was?"""
        try:
            self._file.seek(self._end - 1)
            if self._file.read(1) != b"\n":
                return False
            ev = self.event(self.count - 1)
        except (LogCorruptError, OSError, ValueError):
            return False
        return ev.seq == self.count - 1 and ev.hash == self._last_hash

    def _kind_id(self, kind: bytes) -> int:
        kid = self._kind_lookup.get(kind)
        if kid is None:
            kid = self._kind_lookup[kind] = len(self._kind_names)
            self._kind_names.append(kind.decode("utf-8"))
        return kid

    def _extend(self) -> None:
        """Index the complete lines after ``self._end``."""
        f = self._file
        f.seek(self._end)
        pos = self._end
        offsets, kind_ids, lookup, kind_id = self._offsets, self._kind_ids, self._kind_lookup, self._kind_id
        last_raw = b""
        for raw in f:
            if not raw.endswith(b"\n"):
                break  # a half-written last line: index it once it is complete
            j = raw.rfind(_KIND_MARK)
            if j >= 0:
                k = j + len(_KIND_MARK)
                kind = raw[k : raw.index(b'"', k)]
                kid = lookup.get(kind)
                kind_ids.append(kid if kid is not None else kind_id(kind))
            else:
                kind_ids.append(self._kind_id(b"?"))  # not one of our lines; event() will say so
            offsets.append(pos)
            pos += len(raw)
            last_raw = raw
        if last_raw:
            try:
                self._last_hash = Event.from_json(last_raw).hash
            except (ValueError, KeyError, TypeError):
                # A garbage last line (torn, newline included): leave it out until the writer repairs it.
                offsets.pop()
                kind_ids.pop()
                pos -= len(last_raw)
                self._last_hash = self.event(self.count - 1).hash if self.count else ""
        self._end = pos

    def _index_path(self) -> Path:
        return self.index_dir / INDEX_FILE

    def _load_index(self) -> None:
        self._last_hash = ""
        try:
            raw = safe_files.read_bytes(self._index_path())  # a symlinked index is refused: rebuilt
            line, _, body = raw.partition(b"\n")
            header = json.loads(line)
            if header.get("version") != INDEX_VERSION or header.get("byteorder") != sys.byteorder:
                raise ValueError("index format changed")
            count = header["count"]
            offsets, kind_ids = array("Q"), array("H")
            split = count * offsets.itemsize
            offsets.frombytes(body[:split])
            kind_ids.frombytes(body[split : split + count * kind_ids.itemsize])
            if len(offsets) != count or len(kind_ids) != count:
                raise ValueError("index truncated")
            kind_names = [str(k) for k in header["kinds"]]
            end, last_hash = int(header["end"]), str(header["last_hash"])
        except (OSError, ValueError, KeyError, TypeError):
            self._reset()
            return
        self._offsets, self._kind_ids = offsets, kind_ids
        self._kind_names = kind_names
        self._kind_lookup = {k.encode("utf-8"): i for i, k in enumerate(self._kind_names)}
        self._end = end
        self._last_hash = last_hash
        self.built_from_scratch = False
        self._index_stale = False

    def _save_index(self) -> None:
        header = {
            "version": INDEX_VERSION,
            "byteorder": sys.byteorder,
            "count": self.count,
            "end": self._end,
            "last_hash": self._last_hash,
            "kinds": self._kind_names,
        }
        payload = [json.dumps(header).encode() + b"\n", self._offsets.tobytes(), self._kind_ids.tobytes()]
        if not self._read_only:
            try:
                _atomic_write(self._index_path(), payload)
            except OSError:
                self._read_only = True  # e.g. a recorded session on a read-only mount: index in memory only

    def _map(self) -> mmap.mmap:
        if self._mm is None or len(self._mm) < self._end:
            if self._mm is not None:
                self._mm.close()
            self._mm = mmap.mmap(self._file.fileno(), self._end, access=mmap.ACCESS_READ)
        return self._mm

    # ------------------------------------------------------------------ snapshots

    def _codec_ok(self) -> bool:
        return self._to_data is not None and self._from_data is not None

    def _scan_snapshots(self) -> None:
        self._snapshots.clear()
        try:
            safe_files.real_dir(self.index_dir)
            names = os.listdir(self.index_dir)
        except OSError:  # missing, or a symlink planted as index/: no snapshot is read from it
            return
        for name in names:
            if not name.startswith("snap-"):
                continue
            parsed = parse_snapshot_name(name)
            if parsed is not None and parsed[2] == self.version and self._codec_ok():
                self._snapshots[parsed[0]] = parsed[1]
            elif not self._read_only:
                try:
                    # Old pickles, other reducer code, unparseable names: never valid here, never loaded.
                    (self.index_dir / name).unlink()
                except OSError:
                    pass

    def _snapshot_path(self, seq: int, digest: str) -> Path:
        return self.index_dir / snapshot_name(seq, digest, self.version)

    def _valid(self, seq: int, digest: str) -> bool:
        return seq < self.count and self._hash_of(seq) == digest

    def _nearest_state(self, seq: int) -> tuple[int, S]:
        """The best starting point <= seq: the in-memory cursor, a snapshot, or the initial state."""
        candidates: list[tuple[int, str, Callable[[], bytes]]] = []
        if self._cursor is not None and self._cursor[0] <= seq:
            cur = self._cursor
            candidates.append((cur[0], cur[1], blob_loader(cur[2])))
        for s, (digest, blob) in self._memory_snaps.items():
            if s <= seq:
                candidates.append((s, digest, blob_loader(blob)))
        for s, digest in self._snapshots.items():
            if s <= seq:
                candidates.append((s, digest, file_loader(self._snapshot_path(s, digest))))
        for s, digest, load in sorted(candidates, key=lambda c: c[0], reverse=True):
            if not self._valid(s, digest):
                self._drop_snapshot(s, digest)
                continue
            try:
                return s, self._decode(s, digest, load())
            except Exception:  # unreadable, tampered, or from an incompatible state: rebuilt from the log
                self._drop_snapshot(s, digest)
        return -1, self._initial()

    def remember(self, seq: int, state: S) -> None:
        """Store ``state`` as the state after event ``seq`` (a live console saves its own at close, so the
        first replay of a long session opens without replaying every event)."""
        if 0 <= seq < self.count:
            self._save_snapshot(seq, self._hash_of(seq), state)

    def _drop_snapshot(self, seq: int, digest: str) -> None:
        if self._cursor is not None and self._cursor[0] == seq:
            self._cursor = None
        self._memory_snaps.pop(seq, None)
        if self._snapshots.get(seq) == digest:
            del self._snapshots[seq]
            if not self._read_only:
                try:
                    self._snapshot_path(seq, digest).unlink()
                except OSError:
                    pass

    def _encode(self, seq: int, digest: str, state: S) -> bytes | None:
        assert self._to_data is not None
        return encode(self.version, seq, digest, self._to_data, state)

    def _decode(self, seq: int, digest: str, blob: bytes) -> S:
        assert self._from_data is not None
        return self._from_data(decode(self.version, seq, digest, blob))

    def _save_snapshot(self, seq: int, digest: str, state: S) -> None:
        if not self._codec_ok():
            return
        blob = self._encode(seq, digest, state)
        if blob is None:
            return
        try:
            if self._read_only:
                raise PermissionError
            _atomic_write(self._snapshot_path(seq, digest), [blob])
        except OSError:
            # Read-only session dir (or a planted symlink in the way): keep a few in memory for this process.
            if len(self._memory_snaps) >= 8:
                del self._memory_snaps[min(self._memory_snaps)]
            self._memory_snaps[seq] = (digest, blob)
            return
        self._snapshots[seq] = digest


def _atomic_write(path: Path, parts: list[bytes]) -> None:
    if not os.path.lexists(path.parent):
        path.parent.mkdir(parents=True)
        # A cache, never content: keep it out of git even inside a tracked example session.
        safe_files.write_atomic(path.parent / ".gitignore", [b"*\n"])
    safe_files.write_atomic(path, parts)


__all__ = ["Replay", "SnapshotError", "code_version"]
