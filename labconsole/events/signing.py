"""A person's signing key and the signatures on their decisions (ed25519, from ``cryptography``).

The hash chain proves order, not authorship: anyone who can write ``events.jsonl``
can append a line that chains. So every decision a person makes (approve, reject,
merge, publish, budget resume, and overrides other modules add through
:func:`sign_decision`) carries a signature made with a key that lives only in the
user's config dir (``$XDG_CONFIG_HOME/labconsole/keys/``, 0600), a dir no sandbox
sees. The signature covers the session id, the event's seq and ``prev`` hash, its
kind, actor and data (so the SHA, evidence hash, decision, reason and who), which
binds it to one place in one session: it cannot be replayed elsewhere.

A key is trusted when it is the user's own, was added with ``labconsole keys trust``
(``keys/trusted/<name>.pub``), or is listed in lab.toml's ``[review] trusted_keys``.
The public key a session records is *not* trusted for being recorded: whoever
rewrites a log can record their own.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from labconsole.core.user import login_name
from labconsole.errors import LabError
from labconsole.events import kinds as K

ALG = "ed25519"
KEY_FILE = "ed25519"
PUB_FILE = "ed25519.pub"
TRUSTED_DIR = "trusted"
SIGNATURE_FIELD = "signature"

# Decisions only a person makes; a sealed session must carry a valid signature on each of them.
# Another module adding a person's decision kind adds it here and signs it with sign_decision().
SIGNED_KINDS: set[str] = {
    K.DECISION_APPROVED,
    K.DECISION_REJECTED,
    K.MERGE_COMPLETED,
    K.PUBLISH_COMPLETED,
    K.BUDGET_RESUMED,
}

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_NAME = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")


class SigningKeyError(LabError):
    """The person's signing key is missing, unreadable or damaged."""


def keys_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "labconsole" / "keys"


def short_key(public_hex: str) -> str:
    return f"{ALG} {public_hex[:8]}…"


# --------------------------------------------------------------------------- the person's key


@dataclass(frozen=True)
class Signer:
    private: Ed25519PrivateKey
    public_hex: str
    path: Path

    def sign(self, payload: bytes) -> str:
        return self.private.sign(payload).hex()


def _restore_hint(path: Path) -> str:
    return (
        f"restore {path} from your backup, or move it aside and run `labconsole keys init` to make a new "
        "one (then have other labs `labconsole keys trust` its public key)"
    )


def load_signer(*, create: bool = True, announce: bool = True) -> Signer:
    """The user's key; created on first use (one line on stderr says where) when the keys dir has none.

    A public key without its private key, an unreadable or damaged key file: SigningKeyError
    saying how to restore or recreate it (never silently replaced: old signatures name the old key)."""
    d = keys_dir()
    path, pub = d / KEY_FILE, d / PUB_FILE
    if not path.exists():
        if pub.exists():
            raise SigningKeyError(
                f"your signing key {path} is missing (its public half {pub.name} is there): " + _restore_hint(path)
            )
        if not create:
            raise SigningKeyError(f"no signing key at {path}: run `labconsole keys init` to create one")
        return create_key(announce=announce)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SigningKeyError(
            f"cannot read your signing key {path} ({exc.strerror or exc}): " + _restore_hint(path)
        ) from None
    try:
        key = serialization.load_pem_private_key(raw, password=None)
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(
            f"your signing key {path} is damaged (not an unencrypted ed25519 PEM key): " + _restore_hint(path)
        )
    return Signer(key, _public_hex(key.public_key()), path)


def create_key(*, announce: bool = True) -> Signer:
    """Write a new key pair (private 0600, dir 0700); refuses to overwrite an existing key."""
    d = keys_dir()
    d.mkdir(parents=True, exist_ok=True)
    os.chmod(d, 0o700)
    path = d / KEY_FILE
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise SigningKeyError(f"a signing key already exists at {path}; move it aside first") from None
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
        f.flush()
        os.fsync(f.fileno())
    public_hex = _public_hex(key.public_key())
    (d / PUB_FILE).write_text(public_line(public_hex, "") + "\n", encoding="utf-8")
    if announce:
        print(
            f"labconsole: created your decision-signing key {path} (0600; back it up, never share it)", file=sys.stderr
        )
    return Signer(key, public_hex, path)


def _public_hex(public: Ed25519PublicKey) -> str:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def public_line(public_hex: str, name: str) -> str:
    """The public key file format: ``ed25519 <64 hex> [name]``."""
    return f"{ALG} {public_hex} {name}".rstrip()


def parse_public_key(text: str) -> str:
    """The 64-hex ed25519 public key in ``text``: our ``ed25519 <hex>`` line, OpenSSH ``ssh-ed25519 …`` or PEM."""
    text = text.strip()
    parts = text.split()
    if len(parts) >= 2 and parts[0] == ALG and _HEX64.match(parts[1]):
        return parts[1]
    if _HEX64.match(text):
        return text
    try:
        if text.startswith("ssh-ed25519"):
            key: Any = serialization.load_ssh_public_key(text.encode())
        else:
            key = serialization.load_pem_public_key(text.encode())
    except (ValueError, TypeError, IndexError):
        key = None
    if not isinstance(key, Ed25519PublicKey):
        raise LabError(
            "not an ed25519 public key: expected `ed25519 <64 hex>` (from `labconsole keys show`), "
            "an OpenSSH ssh-ed25519 line or a PEM public key"
        )
    return _public_hex(key)


# --------------------------------------------------------------------------- trust


@dataclass
class TrustStore:
    """Public key (hex) → the person's name."""

    keys: dict[str, str] = field(default_factory=dict)

    def name_of(self, public_hex: str) -> str | None:
        return self.keys.get(public_hex)

    def label(self, public_hex: str) -> str:
        return f"{self.keys.get(public_hex, 'an untrusted key')} ({short_key(public_hex)})"


def load_trust(lab_keys: Mapping[str, str] | None = None) -> TrustStore:
    """Keys trusted here: the user's own, ``keys/trusted/*.pub``, and ``lab_keys`` (lab.toml: name → key).

    Never creates a key; a damaged trusted file is skipped (it trusts nothing)."""
    store = TrustStore()
    d = keys_dir()
    for name, text in (lab_keys or {}).items():
        try:
            store.keys.setdefault(parse_public_key(text), name)
        except LabError:
            continue
    trusted = d / TRUSTED_DIR
    if trusted.is_dir():
        for f in sorted(trusted.glob("*.pub")):
            try:
                store.keys[parse_public_key(f.read_text(encoding="utf-8"))] = f.stem
            except (LabError, OSError, UnicodeDecodeError):
                continue
    try:
        own = parse_public_key((d / PUB_FILE).read_text(encoding="utf-8"))
        store.keys[own] = login_name(fallback="you")
    except (OSError, LabError, UnicodeDecodeError):
        pass
    return store


def trust_key(text: str, name: str) -> Path:
    """Add a public key to ``keys/trusted/<name>.pub``; returns the file written."""
    if not _NAME.match(name):
        raise LabError(f"--name {name!r}: use letters, digits and . _ @ - (at most 64)")
    public_hex = parse_public_key(text)
    d = keys_dir() / TRUSTED_DIR
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{name}.pub"
    if path.exists() and parse_public_key(path.read_text(encoding="utf-8")) != public_hex:
        raise LabError(f"{name} already has a different trusted key ({path}): remove it first")
    path.write_text(public_line(public_hex, name) + "\n", encoding="utf-8")
    return path


# --------------------------------------------------------------------------- decision signatures


def decision_payload(*, session_id: str, seq: int, prev: str, kind: str, actor: str, data: Mapping[str, Any]) -> bytes:
    """The signed bytes: canonical JSON of where the event sits and everything it says, minus the signature."""
    body = {k: v for k, v in data.items() if k != SIGNATURE_FIELD}
    return json.dumps(
        {"v": 1, "session": session_id, "seq": seq, "prev": prev, "kind": kind, "actor": actor, "data": body},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode("utf-8")


def sign_decision(
    signer: Signer, *, session_id: str, seq: int, prev: str, kind: str, actor: str, data: Mapping[str, Any]
) -> dict[str, str]:
    """The ``signature`` field for a decision event about to be appended at ``seq`` after ``prev``."""
    payload = decision_payload(session_id=session_id, seq=seq, prev=prev, kind=kind, actor=actor, data=data)
    return {"alg": ALG, "key": signer.public_hex, "sig": signer.sign(payload)}


def check_signature(signature: Any, payload: bytes, trust: TrustStore | None) -> tuple[str | None, str | None]:
    """``(error, public_hex)``: error None when ``signature`` is a valid ed25519 signature of ``payload``
    by a key ``trust`` holds (any key when ``trust`` is None)."""
    if not isinstance(signature, Mapping):
        return "no signature", None
    public_hex, sig = signature.get("key"), signature.get("sig")
    if (
        signature.get("alg") != ALG
        or not isinstance(public_hex, str)
        or not _HEX64.match(public_hex)
        or not isinstance(sig, str)
    ):
        return "malformed signature", None
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_hex)).verify(bytes.fromhex(sig), payload)
    except (InvalidSignature, ValueError):
        return f"invalid signature (key {short_key(public_hex)})", public_hex
    if trust is not None and trust.name_of(public_hex) is None:
        return (
            f"signed by an unknown key {short_key(public_hex)} (trust it with `labconsole keys trust` "
            "if it is a colleague's)"
        ), public_hex
    return None, public_hex


def check_decision(
    session_id: str, seq: int, prev: str, kind: str, actor: str, data: Mapping[str, Any], trust: TrustStore | None
) -> tuple[str | None, str | None]:
    """``(error, public_hex)`` for a logged decision: its signature covers exactly this event, here."""
    payload = decision_payload(session_id=session_id, seq=seq, prev=prev, kind=kind, actor=actor, data=data)
    return check_signature(data.get(SIGNATURE_FIELD), payload, trust)


def lab_trust(lab_root: Path | None) -> TrustStore:
    """The user's trust plus the lab's ``[review] trusted_keys`` (when its lab.toml reads)."""
    from labconsole.core.config import load_config

    keys: dict[str, str] = {}
    if lab_root is not None:
        try:
            keys = dict(load_config(lab_root / "lab.toml").review.trusted_keys)
        except Exception:  # no lab here, or its config is broken: only the user's own trust applies
            keys = {}
    return load_trust(keys)


def signed_by(session_dir: Path, seqs: list[int], trust: TrustStore) -> dict[int, str]:
    """seq → ``alice (ed25519 ab12…)`` for the decisions at ``seqs``, checked; ``ann (unsigned)`` or
    ``ann — SIGNATURE INVALID …`` where it does not hold. For views: review show, replay, the report."""
    from labconsole.events.log import read_events

    wanted = sorted(set(seqs))
    out: dict[int, str] = {}
    if not wanted:
        return out
    first = next(read_events(session_dir), None)
    session_id = str((first.data.get("session_id") if first else None) or Path(session_dir).name)
    for ev in read_events(session_dir, start_seq=wanted[0]):
        if ev.seq > wanted[-1]:
            break
        if ev.seq in wanted:
            line = signer_line(ev.kind, ev.data, trust, session_id=session_id, seq=ev.seq, prev=ev.prev, actor=ev.actor)
            out[ev.seq] = line.split(" by ", 1)[1] if " by " in line else line
    return out


def signer_line(
    event_kind: str,
    data: Mapping[str, Any],
    trust: TrustStore,
    *,
    session_id: str | None = None,
    seq: int | None = None,
    prev: str | None = None,
    actor: str | None = None,
) -> str:
    """One line for views: ``approved by alice (ed25519 ab12…)``; names a bad or missing signature as such."""
    verb = {
        K.DECISION_APPROVED: "approved",
        K.DECISION_REJECTED: "rejected",
        K.MERGE_COMPLETED: "merged",
        K.PUBLISH_COMPLETED: "published",
        K.BUDGET_RESUMED: "budget resumed",
    }.get(event_kind, event_kind)
    signature = data.get(SIGNATURE_FIELD)
    if not isinstance(signature, Mapping):
        return f"{verb} by {data.get('who') or actor or '?'} (unsigned)"
    if session_id is not None and seq is not None and prev is not None and actor is not None:
        error, public_hex = check_decision(session_id, seq, prev, event_kind, actor, data, trust)
        if error and public_hex and "unknown key" not in error:
            return f"{verb} by {data.get('who') or actor} — SIGNATURE {error.upper()}"
    return f"{verb} by {trust.label(str(signature.get('key')))}"


__all__ = [
    "ALG",
    "SIGNED_KINDS",
    "SIGNATURE_FIELD",
    "Signer",
    "SigningKeyError",
    "TrustStore",
    "check_decision",
    "check_signature",
    "create_key",
    "decision_payload",
    "keys_dir",
    "lab_trust",
    "load_signer",
    "load_trust",
    "parse_public_key",
    "public_line",
    "short_key",
    "sign_decision",
    "signed_by",
    "signer_line",
    "trust_key",
]
