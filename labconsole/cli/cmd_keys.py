"""``labconsole keys init|show|trust|list``: the key that signs your decisions, and whose keys you trust.

Your key lives in ``$XDG_CONFIG_HOME/labconsole/keys/`` (default ``~/.config/…``, 0600), a directory no
sandbox sees; it is created on first use (the first session you start) or with ``keys init``. Give a
colleague the line ``keys show`` prints; they run ``keys trust FILE --name you`` (or list it under
``[review] trusted_keys`` in the lab's lab.toml) so that your approvals count in their audits and merges.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from labconsole.cli.common import command, command_group
from labconsole.errors import LabError
from labconsole.events import signing


def register(sub: argparse._SubParsersAction) -> None:
    actions = command_group(sub, "keys", "your decision-signing key, and the keys you trust")
    command(actions, "init", "create your signing key (refuses to replace one)", cmd_init)
    command(actions, "show", "print your public key line (give it to colleagues)", cmd_show)
    about = "trust a colleague's public key (a file from `keys show`, ssh-ed25519 or PEM)"
    p = command(actions, "trust", about, cmd_trust)
    p.add_argument("pubkey_file", type=Path, help="the public key file, or - for stdin")
    p.add_argument("--name", required=True, help="the person's name, shown on their decisions")
    p = command(actions, "list", "the keys whose signatures count here", cmd_list)
    p.add_argument("--lab", type=Path, default=None, help="also the lab's [review] trusted_keys")


def cmd_init(args: argparse.Namespace) -> int:
    signer = signing.create_key(announce=False)
    print(f"created {signer.path} (0600): {signing.short_key(signer.public_hex)}; back it up, never share it")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    signer = signing.load_signer(create=False)
    print(signing.public_line(signer.public_hex, ""))
    return 0


def cmd_trust(args: argparse.Namespace) -> int:
    try:
        text = sys.stdin.read() if str(args.pubkey_file) == "-" else args.pubkey_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LabError(f"cannot read {args.pubkey_file}: {getattr(exc, 'strerror', None) or exc}") from None
    path = signing.trust_key(text, args.name)
    print(f"trusted {args.name}: {path}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    lab_keys: dict[str, str] = {}
    if args.lab is not None:
        from labconsole.core.config import load_config

        lab_keys = dict(load_config(args.lab / "lab.toml").review.trusted_keys)
    trust = signing.load_trust(lab_keys)
    own = signing.keys_dir() / signing.PUB_FILE
    if not trust.keys:
        print(f"no trusted keys (yours would be {own}; it is created on first use or with `labconsole keys init`)")
    for key, name in sorted(trust.keys.items(), key=lambda kv: kv[1]):
        print(f"{name:<16} {signing.short_key(key)}  {key}")
    return 0
