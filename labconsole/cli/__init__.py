"""The ``labconsole`` command line.

Subcommands live in ``labconsole/cli/cmd_*.py``; each module defines
``register(subparsers) -> None`` which adds its parser(s) and sets
``func=handler`` via ``set_defaults``. Handlers take the parsed
``argparse.Namespace`` and return an exit code. Discovery is automatic so that
areas (gpu, bench, profile, skills, eval, publish, ...) add commands without
editing a shared file.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from labconsole import __version__
from labconsole.errors import LabError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labconsole",
        description="Supervise a lab of coding agents: measured, reviewed, reproducible.",
    )
    parser.add_argument("--version", action="version", version=f"labconsole {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("cmd_"):
            module = importlib.import_module(f"{__name__}.{info.name}")
            module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        # Bare `labconsole`: open the console on the lab in the current directory.
        args = parser.parse_args(["run"])
    try:
        return int(args.func(args) or 0)
    except LabError as exc:
        print(f"labconsole: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("labconsole: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # full disk, missing program, permissions: one line, never a traceback
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        print(f"labconsole: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
