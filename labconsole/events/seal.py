"""Sealing the tail of a session: signed checkpoints in the log, the latest one also kept outside it.

A checkpoint says "event ``seq`` has hash ``head``", signed with the person's key
(events/signing.py). The Lab appends one after every signed decision, every
:data:`EVERY_EVENTS` events or :data:`EVERY_S` seconds, and at close. The latest
checkpoint (the ``seal.checkpoint`` event itself: its seq and hash) is also written
outside the session dir, where whoever rewrites ``events.jsonl`` must also reach:

- the lab's git repository, ``refs/labconsole/seal/<session>`` → a blob holding the record;
- the user's state dir, ``$XDG_STATE_HOME/labconsole/seals/<session>.<lab path hash>.json``.

So cutting lines off the end of a closed session is caught (the external seal names a
seq the log no longer reaches), and a crashed one shows "unsealed after seq N".
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labconsole.events import kinds as K
from labconsole.events.signing import SIGNED_KINDS, Signer, TrustStore, check_signature

EVERY_EVENTS = 1000
EVERY_S = 30.0
SEAL_REF_PREFIX = "refs/labconsole/seal/"
_SESSION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
# The reference-transaction hook would run on update-ref; nothing may run code on our writes.
_GIT_SAFE = ("-c", "core.hooksPath=/dev/null")


def checkpoint_payload(session_id: str, seq: int, head: str) -> bytes:
    return json.dumps(
        {"v": 1, "seal": session_id, "seq": seq, "head": head}, sort_keys=True, separators=(",", ":")
    ).encode("utf-8")


def check_checkpoint(record: Mapping[str, Any], session_id: str, trust: TrustStore | None) -> str | None:
    """None when ``record`` ({seq, head, signature}) is signed for ``session_id`` by a trusted key."""
    seq, head = record.get("seq"), record.get("head")
    if not isinstance(seq, int) or not isinstance(head, str):
        return "malformed checkpoint"
    error, _ = check_signature(record.get("signature"), checkpoint_payload(session_id, seq, head), trust)
    return error


def state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "labconsole" / "seals"


@dataclass(frozen=True)
class ExternalSeal:
    where: str  # "git refs/labconsole/seal/<id>" or the state file's path
    seq: int
    head: str
    record: dict[str, Any]


class Sealer:
    """Decides when a checkpoint is due and writes the external copy. Used under the Lab's lock."""

    def __init__(
        self,
        signer: Signer,
        session_id: str,
        lab_root: Path,
        *,
        every_events: int = EVERY_EVENTS,
        every_s: float = EVERY_S,
    ) -> None:
        self.signer = signer
        self.session_id = session_id
        self.lab_root = lab_root
        self._git = (lab_root / ".git").exists()
        self.every_events = every_events
        self.every_s = every_s
        self.last_sealed_seq = -1
        self._last_time = time.monotonic()
        self.warning: str | None = None  # why the external copy could not be written, once
        # git runs two processes per seal: a writer thread keeps them off the person's approve/merge, writing
        # only the newest record (a seal supersedes the ones before it); flush() waits for it (at close).
        self._pending: str | None = None
        self._busy = False
        self._cond = threading.Condition()
        self._writer: threading.Thread | None = None

    def due(self, kind: str, seq: int) -> str | None:
        """The reason a checkpoint should follow the event just appended, or None."""
        if kind == K.SEAL_CHECKPOINT:
            return None
        if kind in SIGNED_KINDS:
            return "decision"
        if seq - self.last_sealed_seq >= self.every_events or time.monotonic() - self._last_time >= self.every_s:
            return "periodic"
        return None

    def checkpoint(self, seq: int, head: str, reason: str) -> dict[str, Any]:
        """The ``seal.checkpoint`` data for the chain ending at event ``seq`` with hash ``head``."""
        payload = checkpoint_payload(self.session_id, seq, head)
        signature = {"alg": "ed25519", "key": self.signer.public_hex, "sig": self.signer.sign(payload)}
        return {"seq": seq, "head": head, "signature": signature, "reason": reason}

    def sealed(self, seq: int, head: str) -> None:
        """The checkpoint event ``seq`` (hash ``head``) is in the log: keep it outside the session dir too."""
        self.last_sealed_seq = seq
        self._last_time = time.monotonic()
        record = {"session": self.session_id, **self.checkpoint(seq, head, "external")}
        record.pop("reason")
        text = json.dumps(record, sort_keys=True, separators=(",", ":"))
        errors = []
        try:
            _write_state(self.session_id, self.lab_root, text)
        except OSError as exc:
            errors.append(f"state dir: {exc.strerror or exc}")
        self.warning = "; ".join(errors) or None
        if self._git:
            with self._cond:
                self._pending = text
                if self._writer is None:
                    self._writer = threading.Thread(target=self._write_git, name=f"seal-{self.session_id}", daemon=True)
                    self._writer.start()
                self._cond.notify_all()

    def _write_git(self) -> None:
        while True:
            with self._cond:
                while self._pending is None:
                    self._cond.wait()
                text, self._pending, self._busy = self._pending, None, True
            err = write_git_seal(self.lab_root, self.session_id, text)
            with self._cond:
                self._busy = False
                if err:
                    self.warning = f"git: {err}"
                self._cond.notify_all()

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until the newest seal is in git too."""
        with self._cond:
            self._cond.wait_for(lambda: self._pending is None and not self._busy, timeout=timeout)


def _state_path(session_id: str, lab_root: Path) -> Path:
    # Session ids are unique per lab, not across labs: the lab's path is part of the name.
    lab = hashlib.sha256(str(lab_root.resolve()).encode()).hexdigest()[:16]
    return state_dir() / f"{session_id}.{lab}.json"


def _write_state(session_id: str, lab_root: Path, text: str) -> None:
    if not _SESSION_ID.match(session_id):
        return
    path = _state_path(session_id, lab_root)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _git(root: Path, *args: str, stdin: str | None = None) -> tuple[int, str]:
    try:
        proc = subprocess.run(
            ["git", *_GIT_SAFE, "-C", str(root), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 1, str(exc)
    return proc.returncode, proc.stdout.strip() if proc.returncode == 0 else proc.stderr.strip()


def write_git_seal(root: Path, session_id: str, text: str) -> str | None:
    """Point ``refs/labconsole/seal/<session>`` at a blob holding ``text``; an error line or None."""
    if not _SESSION_ID.match(session_id):
        return f"session id {session_id!r} cannot name a git ref"
    rc, out = _git(root, "hash-object", "-w", "--stdin", stdin=text)
    if rc != 0:
        return out.splitlines()[-1] if out else "git hash-object failed"
    rc, err = _git(root, "update-ref", SEAL_REF_PREFIX + session_id, out)
    return None if rc == 0 else (err.splitlines()[-1] if err else "git update-ref failed")


def read_external(session_id: str, lab_root: Path) -> list[ExternalSeal]:
    """The external copies of this session's latest checkpoint that can be found (unchecked)."""
    found: list[ExternalSeal] = []
    if not _SESSION_ID.match(session_id):
        return found
    texts: list[tuple[str, str]] = []
    if (lab_root / ".git").exists():
        rc, out = _git(lab_root, "cat-file", "blob", SEAL_REF_PREFIX + session_id)
        if rc == 0:
            texts.append((f"git {SEAL_REF_PREFIX}{session_id}", out))
    path = _state_path(session_id, lab_root)
    try:
        texts.append((str(path), path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError):
        pass
    for where, text in texts:
        try:
            record = json.loads(text)
        except ValueError:
            record = {}
        if not isinstance(record, dict):
            record = {}
        seq, head = record.get("seq"), record.get("head")
        found.append(ExternalSeal(where, seq if isinstance(seq, int) else -1, str(head), record))
    return found


__all__ = [
    "EVERY_EVENTS",
    "EVERY_S",
    "ExternalSeal",
    "SEAL_REF_PREFIX",
    "Sealer",
    "check_checkpoint",
    "checkpoint_payload",
    "read_external",
    "state_dir",
    "write_git_seal",
]
