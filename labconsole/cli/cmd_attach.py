"""``labconsole attach``: the console over a session that another process runs (e.g. ``labconsole run --headless``)."""

from __future__ import annotations

import argparse

from labconsole.cli.common import add_lab_args, is_tty, running_session
from labconsole.errors import LabError
from labconsole.lab.remote import RemoteLab


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "attach", help="open the console on a session another process is running (closing it stops nothing)"
    )
    add_lab_args(p)
    p.add_argument("--readonly", action="store_true", help="watch only: no decisions, no agent controls")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    root, session_dir = running_session(args, "resume it with `labconsole run --resume`")
    if not is_tty():
        raise LabError("attach opens the console and needs a terminal; from scripts use `labconsole review …`")
    from labconsole.tui import run_app

    remote = RemoteLab(root, session_dir, readonly=args.readonly)
    try:
        return run_app(remote, readonly=args.readonly, attached=True)  # type: ignore[arg-type]
    finally:
        remote.close()
