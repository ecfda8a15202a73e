"""``labconsole run``: start (or resume) a session on the lab here and supervise it."""

from __future__ import annotations

import argparse

from labconsole.cli.common import add_lab_args, is_tty, lab_root
from labconsole.cli.headless import exit_on_hangup, run_headless
from labconsole.events import kinds as K
from labconsole.lab.service import Lab


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="start a lab session (or --resume one) and supervise it")
    add_lab_args(p)
    p.add_argument(
        "--resume", action="store_true", help="resume --session (default: the newest) instead of starting a new one"
    )
    p.add_argument("--headless", action="store_true", help="print progress instead of opening the console")
    p.add_argument("--timeout", type=float, default=None, help="stop a headless run after this many seconds")
    p.add_argument(
        "--accept-config-change",
        action="store_true",
        help="resume even though lab.toml changed since the session started",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    exit_on_hangup()
    root = lab_root(args)
    if args.resume or args.session:
        lab = Lab.open_session(root, args.session)
        try:
            lab.check_resumable(accept_config_change=args.accept_config_change)
        except BaseException:
            lab.close()
            raise
        lab.append(K.SESSION_RESUMED, "console", {"last_seq": lab.state.last_seq, "config_sha256": lab.config.digest()})
    else:
        lab = Lab.start_session(root)
    print(f"Session {lab.session_id} on {root}")
    if is_tty() and not args.headless:
        from labconsole.cli.headless import after_console
        from labconsole.tui import run_app

        try:
            lab.start()  # before the console opens: a lab refused here says why on the plain terminal
            rc = run_app(lab)
        except BaseException:  # refused, or the terminal closed (SIGHUP): stop the agents, remove the socket
            lab.close()
            raise
        return after_console(lab, rc)
    try:
        run_headless(lab, timeout_s=args.timeout)
    finally:
        lab.close()
    return 0
