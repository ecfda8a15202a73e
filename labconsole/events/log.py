"""The session log: ``sessions/<id>/events.jsonl``, append-only and hash-chained.

One line per event. The line is the canonical JSON of ``{actor, data, kind,
seq, ts}`` (sorted keys, compact separators, UTF-8) with ``prev`` and ``hash``
appended as its last two keys, so the hash input is a prefix of the line and a
line is serialized exactly once::

    {"actor":"console","data":{...},"kind":"note","seq":3,"ts":1764000000.123456,"prev":"<64 hex>","hash":"<64 hex>"}

``hash = sha256(prev + canonical_json({seq, ts, kind, actor, data}))`` and the
genesis ``prev`` is 64 zeros. :class:`EventLog` is the single writer; readers
(:func:`read_events`, the audit, replay) never need the lock.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from collections.abc import Iterator

from labconsole.errors import LabError, SessionLockedError
from labconsole.events import kinds, safe_files

LOG_NAME = "events.jsonl"
LOCK_NAME = "lock"
BLOBS_DIR = "blobs"
_DIGEST_RE = re.compile(r"[0-9a-f]{64}")
GENESIS = "0" * 64
FSYNC_INTERVAL_S = 0.5  # the background fsync runs twice a second so "at least once per second" holds with margin

# The fixed-length tail every line ends with: ,"prev":"<64>","hash":"<64>"}
_TAIL_LEN = len(',"prev":"') + 64 + len('","hash":"') + 64 + len('"}')


class LogCorruptError(LabError):
    """The log is damaged somewhere other than its last line; we refuse to guess."""


class LogWriteError(LabError):
    """The log could not be written (disk full, I/O error); the log on disk is still whole."""


class BlobError(LabError):
    """A blob is missing or its content does not match its sha256 name."""


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _body(seq: int, ts: float, kind: str, actor: str, data: dict[str, Any]) -> str:
    return canonical_json({"seq": seq, "ts": ts, "kind": kind, "actor": actor, "data": data})


def compute_hash(prev: str, body: str) -> str:
    """The chain hash of an event given the canonical JSON of its body."""
    return hashlib.sha256((prev + body).encode("utf-8")).hexdigest()


def _line(body: str, prev: str, digest: str) -> str:
    # body ends with "}"; splice prev/hash in as the last two keys.
    return f'{body[:-1]},"prev":"{prev}","hash":"{digest}"}}'


@dataclass(frozen=True, slots=True)
class Event:
    seq: int
    ts: float
    kind: str
    actor: str
    data: dict[str, Any]
    prev: str
    hash: str

    def body(self) -> str:
        """Canonical JSON of the hashed fields."""
        return _body(self.seq, self.ts, self.kind, self.actor, self.data)

    def to_json(self) -> str:
        """The canonical log line (without the trailing newline)."""
        return _line(self.body(), self.prev, self.hash)

    def expected_hash(self) -> str:
        return compute_hash(self.prev, self.body())

    @classmethod
    def from_json(cls, line: str | bytes) -> Event:
        d = json.loads(line)
        return cls(d["seq"], d["ts"], d["kind"], d["actor"], d["data"], d["prev"], d["hash"])


# --------------------------------------------------------------------------- lock


def _lock_path(session_dir: Path) -> Path:
    return Path(session_dir) / LOCK_NAME


def _read_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None


def session_lock_holder(session_dir: Path | str) -> int | None:
    """The pid of the console that writes this session now, or None if nobody does."""
    path = _lock_path(Path(session_dir))
    if not path.exists():
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_pid(path) or -1  # locked, pid not written yet
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _acquire_lock(session_dir: Path) -> int:
    path = _lock_path(session_dir)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    for attempt in range(5):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            # A viewer's session_lock_holder() probe holds a shared lock for microseconds: retry briefly.
            if attempt < 4:
                time.sleep(0.02)
    else:
        os.close(fd)
        pid = _read_pid(path)
        raise SessionLockedError(
            f"session {session_dir.name} is already open by another console (pid {pid if pid else '?'}); "
            "use --readonly to watch it"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


# --------------------------------------------------------------------------- tail check / repair


@dataclass(slots=True)
class _Tail:
    last: Event | None
    size: int  # bytes of valid log (the file is cut to this)
    cut_reason: str | None


def _parse_checked(raw: bytes) -> Event | None:
    """The event on a line if it parses and its hash recomputes, else None."""
    try:
        ev = Event.from_json(raw)
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(ev.data, dict) or not isinstance(ev.seq, int):
        return None
    return ev if ev.expected_hash() == ev.hash else None


def _last_lines(f: BinaryIO, size: int, want: int) -> list[tuple[int, bytes]]:
    """The last ``want`` complete lines (offset, bytes incl. newline) before ``size``; oldest first."""
    chunk = 64 * 1024
    pos = size
    buf = b""
    while True:
        start = max(0, pos - chunk)
        f.seek(start)
        buf = f.read(pos - start) + buf
        pos = start
        # need want+1 newlines to be sure the first of the wanted lines is complete (or reached BOF)
        if buf.count(b"\n") > want or pos == 0:
            break
        chunk *= 2
    lines: list[tuple[int, bytes]] = []
    end = len(buf)
    while len(lines) < want and end > 0:
        nl = buf.rfind(b"\n", 0, end - 1)
        if nl < 0 and pos > 0:
            break
        lines.append((pos + nl + 1, buf[nl + 1 : end]))
        end = nl + 1
    return list(reversed(lines))


def _end_of_last_newline(f: BinaryIO, size: int) -> int:
    """Offset just past the last newline before ``size`` (0 if there is none)."""
    probe = size
    while probe > 0:
        start = max(0, probe - 65536)
        f.seek(start)
        block = f.read(probe - start)
        i = block.rfind(b"\n")
        if i >= 0:
            return start + i + 1
        probe = start
    return 0


def _line_number(f: BinaryIO, offset: int) -> int:
    """1-based line number of the line starting at ``offset``."""
    f.seek(0)
    count, done = 0, 0
    while done < offset:
        block = f.read(min(1 << 20, offset - done))
        if not block:
            break
        count += block.count(b"\n")
        done += len(block)
    return count + 1


def _check_tail(path: Path) -> _Tail:
    size = path.stat().st_size
    if size == 0:
        return _Tail(None, 0, None)
    with open(path, "rb") as f:
        f.seek(size - 1)
        reason = None
        if f.read(1) != b"\n":
            # A partial write: cut back to just after the last newline.
            last_nl = _end_of_last_newline(f, size)
            size, reason = last_nl, "no trailing newline"
            if size == 0:
                return _Tail(None, 0, reason)
        lines = _last_lines(f, size, 2)
        (off_last, raw_last) = lines[-1]
        last = _parse_checked(raw_last)
        prev_ev: Event | None = None
        if len(lines) == 2:
            prev_ev = _parse_checked(lines[0][1])
            if prev_ev is None:
                raise LogCorruptError(
                    f"{path}: line {_line_number(f, lines[0][0])} is damaged (not the last line, so it is not "
                    "repaired automatically); run `labconsole audit verify` for details"
                )
        chained = last is not None and (
            (prev_ev is None and last.seq == 0 and last.prev == GENESIS)
            or (prev_ev is not None and last.seq == prev_ev.seq + 1 and last.prev == prev_ev.hash)
        )
        if chained:
            return _Tail(last, size, reason)
        why = "invalid JSON or bad hash on the last line" if last is None else "last line does not chain"
        return _Tail(prev_ev, off_last, f"{reason}; {why}" if reason else why)


# --------------------------------------------------------------------------- writer


class EventLog:
    """The single writer of ``sessions/<id>/events.jsonl``.

    Appends are thread-safe. Durable kinds (decisions, merges, session start/stop)
    are fsynced before :meth:`append` returns; everything else is written with one
    ``write(2)`` per event (so a killed process loses nothing already appended) and
    fsynced by a background thread at most ``FSYNC_INTERVAL_S`` later.
    """

    def __init__(self, session_dir: Path, lock_fd: int, fd: int, last: Event | None, log: str | None = None) -> None:
        self.session_dir = session_dir
        self.log_kinds = log  # which log's declared kinds it may hold (events/kinds.py); None: any declared kind
        self.path = session_dir / LOG_NAME
        self.last: Event | None = last
        self._lock_fd: int | None = lock_fd
        self._fd = fd
        self._mutex = threading.Lock()
        self._dirty = False
        self._closed = threading.Event()
        self._syncer = threading.Thread(target=self._sync_loop, name=f"eventlog-fsync-{session_dir.name}", daemon=True)
        self._syncer.start()

    # -- lifecycle

    @classmethod
    def open(cls, session_dir: Path | str, *, create: bool = True, log: str | None = None) -> EventLog:
        """Open as the single writer (takes the lock). ``log`` narrows the kinds it may hold to one log's
        (:data:`~labconsole.events.schema.SESSION_LOG` or ``EVAL_LOG``); None allows every declared kind."""
        session_dir = Path(session_dir)
        if not (session_dir / LOG_NAME).exists():
            if not create:
                raise LabError(f"no session log at {session_dir / LOG_NAME}")
            session_dir.mkdir(parents=True, exist_ok=True)
        lock_fd = _acquire_lock(session_dir)
        try:
            path = session_dir / LOG_NAME
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                old_size = os.fstat(fd).st_size
                tail = _check_tail(path)
                if tail.cut_reason is not None:
                    os.ftruncate(fd, tail.size)
                    os.fsync(fd)
            except BaseException:
                os.close(fd)
                raise
        except BaseException:
            os.close(lock_fd)
            raise
        writer = cls(session_dir, lock_fd, fd, tail.last, log)
        if tail.cut_reason is not None:
            writer.append(
                kinds.LOG_REPAIRED,
                "console",
                {"cut_bytes": old_size - tail.size, "offset": tail.size, "reason": tail.cut_reason},
            )
        return writer

    def close(self) -> None:
        with self._mutex:
            if self._lock_fd is None:
                return
            self._closed.set()
            os.fsync(self._fd)
            os.close(self._fd)
            os.close(self._lock_fd)  # closing the fd releases the flock
            self._lock_fd = None
        self._syncer.join(timeout=2)

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self._lock_fd is None

    # -- writing

    def append(self, kind: str, actor: str, data: dict[str, Any], *, durable: bool | None = None) -> Event:
        """Write one event. A kind not declared for this log, or data that does not fit its declaration,
        raises :class:`~labconsole.events.schema.EventSchemaError` before anything is written."""
        kinds.validate(kind, data, log=self.log_kinds)
        if durable is None:
            durable = kind in kinds.DURABLE_KINDS
        with self._mutex:
            if self._lock_fd is None:
                raise LabError(f"session log {self.path} is closed")
            last = self.last
            seq = 0 if last is None else last.seq + 1
            prev = GENESIS if last is None else last.hash
            ts = round(time.time(), 6)
            body = _body(seq, ts, kind, actor, data)  # raises TypeError on non-JSON data, before any write
            digest = compute_hash(prev, body)
            buf = (_line(body, prev, digest) + "\n").encode("utf-8")
            start = os.lseek(self._fd, 0, os.SEEK_END)
            try:
                while buf:  # O_APPEND: a single write(2) per line in practice
                    buf = buf[os.write(self._fd, buf) :]
            except OSError as exc:
                # A full disk (or any write error) must not leave half a line for the next append
                # to follow: cut back to the last whole event, then say what to do.
                try:
                    os.ftruncate(self._fd, start)
                except OSError:
                    pass
                raise LogWriteError(
                    f"cannot write the session log {self.path} ({exc.strerror or exc}): free disk space, then "
                    f"`labconsole run --resume`; every event before this one is intact"
                ) from exc
            ev = Event(seq, ts, kind, actor, data, prev, digest)
            self.last = ev
            if durable:
                os.fsync(self._fd)
                self._dirty = False
            else:
                self._dirty = True
            return ev

    def sync(self) -> None:
        """fsync now (e.g. before reporting something to the user)."""
        with self._mutex:
            if self._lock_fd is not None:
                os.fsync(self._fd)
                self._dirty = False

    def _sync_loop(self) -> None:
        while not self._closed.wait(FSYNC_INTERVAL_S):
            with self._mutex:
                if not self._dirty or self._lock_fd is None:
                    continue
                self._dirty = False
                fd = os.dup(self._fd)  # fsync outside the mutex so appends don't wait on the disk
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    # -- blobs

    def put_blob(self, data: bytes | str) -> str:
        return put_blob(self.session_dir, data)


# --------------------------------------------------------------------------- blobs


def blob_path(session_dir: Path | str, digest: str) -> Path:
    # The digest comes from event data (which an old or foreign log may hold anything in): never a path.
    if not _DIGEST_RE.fullmatch(digest or ""):
        raise BlobError(f"{digest!r} is not a blob digest (64 lowercase hex digits)")
    return Path(session_dir) / BLOBS_DIR / digest


def put_blob(session_dir: Path | str, data: bytes | str) -> str:
    """Store ``data`` under ``blobs/<sha256>`` (atomic, deduplicated) and return the digest.

    A symlink planted at the blob's name or as ``blobs/`` itself is never written through."""
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    digest = hashlib.sha256(raw).hexdigest()
    path = blob_path(session_dir, digest)
    safe_files.real_dir(path.parent, create=True)
    if os.path.isfile(path) and not os.path.islink(path):
        return digest
    # fsync: the event that names the blob may be durable, so the blob must be too.
    safe_files.write_atomic(path, [raw], fsync=True)
    return digest


def get_blob(session_dir: Path | str, digest: str) -> bytes:
    path = blob_path(session_dir, digest)
    try:
        raw = safe_files.read_bytes(path)
    except FileNotFoundError:
        raise BlobError(f"blob {digest} is missing from {path.parent}") from None
    except OSError:  # a symlink (ELOOP), or not a regular file: refused, never followed
        raise BlobError(f"blob {digest} in {path.parent} is not a regular file (a symlink?): refused") from None
    if hashlib.sha256(raw).hexdigest() != digest:
        raise BlobError(f"blob {digest} is corrupt (its content does not hash to its name)")
    return raw


# --------------------------------------------------------------------------- reading


def read_events(session_dir: Path | str, start_seq: int = 0) -> Iterator[Event]:
    """Events of a session in order, from ``start_seq``.

    Hashes are not checked here (``audit.verify_session`` does that). A torn last
    line - a crash mid-write, or a live writer caught mid-line - is skipped; a bad
    line anywhere else raises :class:`LogCorruptError`.
    """
    path = Path(session_dir) / LOG_NAME
    with open(path, "rb") as f:
        lineno = 0
        pending: bytes | None = None
        for raw in f:
            if pending is not None:
                yield _parse_line(pending, lineno, path)
                pending = None
            lineno += 1
            if lineno - 1 < start_seq:
                continue  # seq == line index in a sound log; skip without parsing
            pending = raw
        if pending is not None and pending.endswith(b"\n"):
            try:
                yield Event.from_json(pending)
            except (ValueError, KeyError, TypeError):
                pass  # torn last line


def _parse_line(raw: bytes, lineno: int, path: Path) -> Event:
    try:
        return Event.from_json(raw)
    except (ValueError, KeyError, TypeError):
        raise LogCorruptError(f"{path}:{lineno}: not a valid event line") from None
