"""File access inside a session directory that a planted symlink cannot redirect.

A session directory may come from someone else or hold files an agent wrote: a symlink in
``blobs/`` or ``index/`` pointing outside the session must never be written through, and is
refused for reads (the caller treats it as missing or corrupt). Every read here opens with
``O_NOFOLLOW``; every write creates a fresh temp file with ``O_EXCL | O_NOFOLLOW`` and renames
it over the target, which replaces a symlink instead of following it.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Iterable
from pathlib import Path

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class UnsafePathError(OSError):
    """A session file or folder is a symlink or not what it should be; it is not used."""


def real_dir(path: Path, *, create: bool = False) -> Path:
    """``path`` if it is a real directory (not a symlink to one); with ``create``, make it if missing."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        if not create:
            raise
        path.mkdir(parents=True, exist_ok=True)
        st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafePathError(f"{path} is not a plain directory (a symlink?): not used")
    return path


def read_bytes(path: Path) -> bytes:
    """The content of a regular file at ``path``; a symlink (or its parent folder being one) is refused."""
    real_dir(path.parent)
    fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnsafePathError(f"{path} is not a regular file: not read")
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def write_atomic(path: Path, parts: Iterable[bytes], *, fsync: bool = False) -> None:
    """Write ``path`` as a new file (temp + rename) without following any symlink on the way."""
    real_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        os.unlink(tmp)  # a leftover (or planted) temp name: never opened through
    except FileNotFoundError:
        pass
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o644)
    try:
        with os.fdopen(fd, "wb") as f:
            for part in parts:
                f.write(part)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


__all__ = ["UnsafePathError", "read_bytes", "real_dir", "write_atomic"]
