"""``labconsole serve``: the same console in a browser (textual-serve), over a running session.

Every browser tab gets its own console process attached to the session (as ``labconsole attach``
would), so closing a tab stops nothing. It is read-only unless started with ``--allow-control``,
listens on 127.0.0.1 only, and every request must carry the random token of the printed URL: the
page sets it as a same-site, HTTP-only cookie, so the websocket and static files carry it too, and
a websocket from another origin is refused (a page on another site cannot drive the console).
textual-serve has no token support of its own, hence the aiohttp middleware here.
"""

from __future__ import annotations

import argparse
import hmac
import secrets
import shlex
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labconsole.cli.common import command, flag, running_session
from labconsole.errors import LabError

if TYPE_CHECKING:
    from aiohttp import web

HOST = "127.0.0.1"  # never another interface: the token is the only lock, the loopback the door
COOKIE = "labconsole_token"


def register(sub: argparse._SubParsersAction) -> None:
    about = "open the console in a browser (localhost, token in the URL; read-only by default)"
    p = command(sub, "serve", about, run, lab=True)
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    flag(p, "--allow-control", "let the browser decide (approve, merge, agent controls); default: watch only")


def run(args: argparse.Namespace) -> int:
    root, session_dir = running_session(args, "start one with `labconsole run` (or `--headless`)")
    server = make_server(root, session_dir, port=args.port or free_port(), allow_control=args.allow_control)
    print(
        f"labconsole serve: {server.url}  ({'control allowed' if args.allow_control else 'read-only'}; "
        "Ctrl-C stops serving, not the session)",
        flush=True,
    )
    server.serve()
    return 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def child_command(root: Path, session_dir: Path, readonly: bool) -> str:
    """What each browser tab runs: this interpreter, attached to the session, drawing to textual's web driver."""
    code = "import sys; from labconsole.cli.cmd_serve import child; sys.exit(child(sys.argv[1:]))"
    argv = [sys.executable, "-c", code, str(root), str(session_dir)] + (["--readonly"] if readonly else [])
    return shlex.join(argv)


def child(argv: list[str]) -> int:
    """A served console (no terminal to check: textual-serve's web driver is the terminal)."""
    from labconsole.lab.remote import RemoteLab
    from labconsole.tui import run_app

    root, session_dir, readonly = Path(argv[0]), Path(argv[1]), "--readonly" in argv[2:]
    remote = RemoteLab(root, session_dir, readonly=readonly)
    try:
        return run_app(remote, readonly=readonly, attached=True)  # type: ignore[arg-type]
    finally:
        remote.close()


def make_server(
    root: Path,
    session_dir: Path,
    *,
    port: int,
    allow_control: bool = False,
    token: str | None = None,
    command: str | None = None,
) -> Any:
    """A textual-serve Server whose aiohttp app checks the token; ``.url`` is the URL to open."""
    try:
        from aiohttp import web
        from textual_serve.server import Server
    except ImportError as exc:
        raise LabError(f"labconsole serve needs textual-serve: pip install textual-serve ({exc.name} missing)") from exc

    token = token or secrets.token_urlsafe(24)
    origin = f"http://{HOST}:{port}"

    @web.middleware
    async def check_token(request: web.Request, handler: Any) -> web.StreamResponse:
        given = request.query.get("token") or request.cookies.get(COOKIE) or ""
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise web.HTTPForbidden(text="labconsole serve: missing or wrong token: open the URL it printed\n")
        if request.path == "/ws" and request.headers.get("Origin", origin) != origin:
            raise web.HTTPForbidden(text="labconsole serve: websocket from another origin\n")
        response = await handler(request)
        if request.path == "/" and request.query.get("token"):
            response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/")
        return response

    class TokenServer(Server):  # type: ignore[misc]
        url = f"{origin}/?token={token}"

        async def _make_app(self) -> web.Application:
            app = await super()._make_app()
            app.middlewares.append(check_token)
            return app

        async def on_startup(self, app: web.Application) -> None:
            pass  # our own line is printed instead of textual-serve's banner (which has no token)

    return TokenServer(
        command or child_command(root, session_dir, readonly=not allow_control),
        host=HOST,
        port=port,
        title="LabConsole",
        public_url=origin,
    )
