"""``labconsole run``: start (or resume) a session on the lab here and supervise it."""

from __future__ import annotations

import argparse

from labconsole.cli.common import command, flag, is_tty, lab_root
from labconsole.cli.headless import exit_on_hangup, run_headless
from labconsole.events import kinds as K
from labconsole.lab.service import Lab


def register(sub: argparse._SubParsersAction) -> None:
    p = command(sub, "run", "start a lab session (or --resume one) and supervise it", run, lab=True)
    flag(p, "--resume", "resume --session (default: the newest) instead of starting a new one")
    flag(p, "--headless", "print progress instead of opening the console")
    p.add_argument("--timeout", type=float, default=None, help="stop a headless run after this many seconds")
    flag(p, "--accept-config-change", "resume even though lab.toml changed since the session started")


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
