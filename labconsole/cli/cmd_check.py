"""``labconsole check``: the preflight a person runs before spending anything (``run`` repeats its blocking
parts before any agent starts). One line per item; exit 1 when anything blocks."""

from __future__ import annotations

import argparse

from labconsole.cli.common import add_lab_args, lab_root
from labconsole.lab.preflight_checks import run_checks


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "check",
        help="check a lab before spending anything: config, git, protected files, "
        "search space, backends, GPU and one baseline run",
    )
    add_lab_args(p, session=False)
    p.add_argument("--no-baseline", action="store_true", help="skip the baseline run (it costs one objective run)")
    p.set_defaults(func=check)


def check(args: argparse.Namespace) -> int:
    failed = 0
    for line in run_checks(lab_root(args), baseline=not args.no_baseline):
        print(line.render(), flush=True)
        for out in line.output:
            print(f"       | {out}")
        failed += not line.ok
    if failed:
        print(f"{failed} item{'s' if failed != 1 else ''} to fix before `labconsole run`")
        return 1
    print("the lab is ready: labconsole run")
    return 0
