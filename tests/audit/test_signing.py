"""The person's key: created on first use (0600, one line says where), refused with a way out when damaged;
signatures bind a decision to its place in one session; trusted keys from `keys trust` and lab.toml."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from labconsole.cli import main
from labconsole.errors import LabError
from labconsole.events import kinds as K
from labconsole.events.signing import (
    SigningKeyError,
    check_decision,
    keys_dir,
    load_signer,
    load_trust,
    parse_public_key,
    public_line,
    sign_decision,
    signer_line,
)


@pytest.fixture(autouse=True)
def own_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path / "config" / "labconsole" / "keys"


def test_key_is_created_on_first_use_private_and_announced_once(
    own_keys: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    signer = load_signer()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(own_keys / "ed25519") in err[0]
    assert stat.S_IMODE(os.stat(own_keys / "ed25519").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(own_keys).st_mode) == 0o700
    again = load_signer()
    assert again.public_hex == signer.public_hex and capsys.readouterr().err == ""
    assert keys_dir() == own_keys


def test_missing_private_key_says_how_to_restore(own_keys: Path) -> None:
    load_signer(announce=False)
    (own_keys / "ed25519").unlink()
    with pytest.raises(SigningKeyError) as exc:
        load_signer()
    msg = str(exc.value)
    assert "\n" not in msg and "is missing" in msg and "restore" in msg and "labconsole keys init" in msg


@pytest.mark.parametrize("damage", ["garbage", "directory"])
def test_unreadable_or_damaged_key_says_how_to_restore(own_keys: Path, damage: str) -> None:
    load_signer(announce=False)
    path = own_keys / "ed25519"
    path.unlink()
    if damage == "garbage":
        path.write_text("not a key")
    else:
        path.mkdir()
    with pytest.raises(SigningKeyError, match="restore .* from your backup"):
        load_signer()


def test_cli_refuses_to_approve_with_a_missing_key_in_one_line(
    own_keys: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    load_signer(announce=False)
    (own_keys / "ed25519").unlink()
    assert main(["keys", "show"]) != 0
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "labconsole keys init" in err


def test_signature_binds_session_seq_prev_and_every_field() -> None:
    signer = load_signer(announce=False)
    data = {"hyp_id": "h1", "sha": "a" * 40, "evidence_hash": "e" * 64, "who": "ann", "reason": "good"}
    where = {"session_id": "s1", "seq": 5, "prev": "p" * 64, "kind": K.DECISION_APPROVED, "actor": "human:ann"}
    signed = {**data, "signature": sign_decision(signer, data=data, **where)}
    trust = load_trust()
    assert check_decision("s1", 5, "p" * 64, K.DECISION_APPROVED, "human:ann", signed, trust) == (
        None,
        signer.public_hex,
    )
    for changed in (
        {"session_id": "s2"},
        {"seq": 6},
        {"prev": "q" * 64},
        {"kind": K.DECISION_REJECTED},
        {"actor": "human:bob"},
    ):
        args = {**where, **changed}
        error, _ = check_decision(
            args["session_id"], args["seq"], args["prev"], args["kind"], args["actor"], signed, trust
        )
        assert error and "invalid signature" in error
    for field, value in (("sha", "b" * 40), ("evidence_hash", "f" * 64), ("reason", "bad"), ("who", "eve")):
        error, _ = check_decision("s1", 5, "p" * 64, K.DECISION_APPROVED, "human:ann", {**signed, field: value}, trust)
        assert error and "invalid signature" in error
    assert check_decision("s1", 5, "p" * 64, K.DECISION_APPROVED, "human:ann", data, trust)[0] == "no signature"


def test_unknown_key_until_trusted_by_keys_trust_or_lab_toml(
    tmp_path: Path, own_keys: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # alice makes her key in her own config dir and hands over the line `keys show` prints
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "alice"))
    alice = load_signer(announce=False)
    assert main(["keys", "show"]) == 0
    line = capsys.readouterr().out.strip()
    assert parse_public_key(line) == alice.public_hex
    monkeypatch.setenv("XDG_CONFIG_HOME", str(own_keys.parent.parent))
    load_signer(announce=False)
    data = {"hyp_id": "h1", "sha": "a" * 40, "who": "alice"}
    signed = {
        **data,
        "signature": sign_decision(
            alice, session_id="s", seq=1, prev="0" * 64, kind=K.DECISION_APPROVED, actor="human:alice", data=data
        ),
    }
    error, _ = check_decision("s", 1, "0" * 64, K.DECISION_APPROVED, "human:alice", signed, load_trust())
    assert error and "unknown key" in error and "keys trust" in error
    # trusted through lab.toml
    lab_trust = load_trust({"alice": public_line(alice.public_hex, "")})
    assert check_decision("s", 1, "0" * 64, K.DECISION_APPROVED, "human:alice", signed, lab_trust)[0] is None
    # trusted through `keys trust`, and shown by name
    pub = tmp_path / "alice.pub"
    pub.write_text(line + "\n")
    assert main(["keys", "trust", str(pub), "--name", "alice"]) == 0
    trust = load_trust()
    assert check_decision("s", 1, "0" * 64, K.DECISION_APPROVED, "human:alice", signed, trust)[0] is None
    shown = signer_line(K.DECISION_APPROVED, signed, trust, session_id="s", seq=1, prev="0" * 64, actor="human:alice")
    assert shown == f"approved by alice (ed25519 {alice.public_hex[:8]}…)"
    assert main(["keys", "list"]) == 0 and "alice" in capsys.readouterr().out


def test_trust_refuses_what_is_not_an_ed25519_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.pub"
    bad.write_text("ssh-rsa AAAAB3NzaC1yc2E= someone\n")
    assert main(["keys", "trust", str(bad), "--name", "bob"]) == 2
    assert "not an ed25519 public key" in capsys.readouterr().err
    with pytest.raises(LabError, match="--name"):
        from labconsole.events.signing import trust_key

        trust_key("ed25519 " + "a" * 64, "../evil")


def test_lab_toml_review_trusted_keys_is_parsed_and_checked(tmp_path: Path) -> None:
    from labconsole.core.config import load_config
    from labconsole.demo import create_demo_lab
    from labconsole.errors import ConfigError

    lab = create_demo_lab(tmp_path / "lab")
    toml = lab / "lab.toml"
    toml.write_text(toml.read_text() + '\n[review]\ntrusted_keys = { alice = "ed25519 ' + "a" * 64 + '" }\n')
    assert load_config(toml).review.trusted_keys == {"alice": "ed25519 " + "a" * 64}
    toml.write_text(
        toml.read_text().replace(
            'trusted_keys = { alice = "ed25519 ' + "a" * 64 + '" }', "trusted_keys = { alice = 3 }"
        )
    )
    with pytest.raises(ConfigError, match=r"\[review\] trusted_keys alice is 3"):
        load_config(toml)
