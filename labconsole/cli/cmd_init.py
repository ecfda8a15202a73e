"""``labconsole init [DIR]``: write a commented lab.toml for an existing git repository (never over one)
and say what was inferred and what the person must still decide."""

from __future__ import annotations

import argparse
from pathlib import Path

from labconsole.lab.preflight_init import write_lab_toml


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("init", help="write a commented lab.toml for an existing git repository")
    p.add_argument("dir", nargs="?", type=Path, default=Path("."), help="the repository (default: here)")
    p.set_defaults(func=init)


def init(args: argparse.Namespace) -> int:
    path, draft = write_lab_toml(args.dir)
    print(f"wrote {path}")
    print("inferred:")
    for line in draft.inferred or ["nothing: this is a template"]:
        print(f"  - {line}")
    print("still to decide (edit lab.toml):")
    for line in draft.to_decide:
        print(f"  - {line}")
    print("then: git add lab.toml && git commit -m 'lab.toml', labconsole check, labconsole run")
    return 0
