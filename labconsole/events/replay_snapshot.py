"""The on-disk form of a replay snapshot (``index/snap-<seq>-<hash>-<version>.json``), kept apart from
:mod:`labconsole.events.replay`, which decides when one is written, trusted or dropped.

A snapshot is one JSON header line, then the canonical JSON of the state's data. The header names the
format, the code version, the seq, the hash of event ``seq`` and the sha256 of the data; :func:`decode`
accepts a snapshot only when its header says exactly what :func:`header` would write for it now.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any
from collections.abc import Callable

from labconsole.events import safe_files
from labconsole.events.log import canonical_json

SNAPSHOT_FORMAT = 1  # the header/payload layout of snap-*.json (the state's own layout is in ``version``)
SNAPSHOT_SUFFIX = ".json"


class SnapshotError(ValueError):
    """A snapshot that does not match its name, the log or its own digest: dropped and rebuilt."""


def file_loader(path: Path) -> Callable[[], bytes]:
    """A snapshot on disk, read only when it is the candidate being tried (never through a symlink)."""
    return lambda: safe_files.read_bytes(path)


def blob_loader(blob: bytes) -> Callable[[], bytes]:
    """A snapshot already in memory, behind the same call as one read from disk."""
    return lambda: blob


def snapshot_name(seq: int, digest: str, version: str) -> str:
    return f"snap-{seq:012d}-{digest}-{version}{SNAPSHOT_SUFFIX}"


def parse_snapshot_name(name: str) -> tuple[int, str, str] | None:
    """(seq, event hash, version) of ``snap-<seq>-<hash>-<version>.json``; None for any other name."""
    if not name.startswith("snap-") or not name.endswith(SNAPSHOT_SUFFIX):
        return None
    try:
        seq_s, digest, version = name[5 : -len(SNAPSHOT_SUFFIX)].split("-")
        return int(seq_s), digest, version
    except ValueError:
        return None


def header(version: str, seq: int, digest: str, payload: bytes) -> dict[str, Any]:
    """What a snapshot's header line says: written by :func:`encode`, and what :func:`decode` requires."""
    return {
        "format": SNAPSHOT_FORMAT,
        "version": version,
        "seq": seq,
        "event_hash": digest,
        "sha256": hashlib.sha256(payload).hexdigest(),
    }


def encode(version: str, seq: int, digest: str, to_data: Callable[[Any], object], state: object) -> bytes | None:
    """Header line + canonical JSON of ``to_data(state)``; None when the state cannot be data."""
    try:
        payload = canonical_json(to_data(state)).encode("utf-8")
    except (TypeError, ValueError):
        return None  # not representable as data: no snapshot rather than a lossy one
    return json.dumps(header(version, seq, digest, payload), sort_keys=True).encode() + b"\n" + payload


def decode(version: str, seq: int, digest: str, blob: bytes) -> Any:
    """The state's data in a snapshot, after checking it names this seq, this event's hash, this code
    version, and that its data still hashes to the digest in its header."""
    line, sep, payload = blob.partition(b"\n")
    head = json.loads(line) if sep else None
    if not isinstance(head, dict):
        raise SnapshotError("no snapshot header")
    if head != header(version, seq, digest, payload):
        raise SnapshotError(f"snapshot of seq {seq} does not match its name, the log or its digest")
    return json.loads(payload)


def code_version(initial: Callable[[], object], apply: Callable[..., object], *codec: object) -> str:
    """A short fingerprint of the reducer, state and snapshot codec source files (what a snapshot depends on)."""
    h = hashlib.sha256()
    modules = {getattr(apply, "__module__", None), type(initial()).__module__}
    modules |= {getattr(fn, "__module__", None) for fn in codec if fn is not None}
    if codec and "labconsole.core.datacodec" in sys.modules:
        modules.add("labconsole.core.datacodec")  # the typed codec states' to_data/from_data delegate to
    for name in sorted(m for m in modules if m):
        h.update(name.encode())
        path = getattr(sys.modules.get(name), "__file__", None)
        if path:
            try:
                h.update(Path(path).read_bytes())
            except OSError:
                pass
    return h.hexdigest()[:12]


__all__ = [
    "SNAPSHOT_FORMAT",
    "SNAPSHOT_SUFFIX",
    "SnapshotError",
    "blob_loader",
    "code_version",
    "decode",
    "encode",
    "file_loader",
    "header",
    "parse_snapshot_name",
    "snapshot_name",
]
