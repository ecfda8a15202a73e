"""The control channel of a live console: decisions from another process, over a Unix socket.

One console writes a session; everything else that wants to decide (the CLI,
a TUI attached to a headless session) sends commands here and the writer
carries them out through ``Lab.execute``, the door a key press uses too. The socket
lives under the temp dir (socket paths are short-limited); its path is written
to ``<session>/control``. Requests and replies are one JSON object per line; a
request is a command of ``labconsole/lab/commands.py`` in its wire form.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import socket
import socketserver
import struct
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from labconsole.errors import LabError
from labconsole.events.log import Event
from labconsole.lab.commands import REMOTE_COMMANDS, Command, build, from_wire, to_wire

if TYPE_CHECKING:
    from labconsole.gpu.telemetry import OwnerRegistry

COMMANDS = tuple(REMOTE_COMMANDS)


class CommandTarget(Protocol):
    """The console side of the channel: the Lab service, seen from here."""

    @property
    def session_dir(self) -> Path: ...

    def execute(self, command: Command) -> Event | list[str] | dict[str, Any] | None: ...


def socket_path(session_dir: Path) -> Path:
    digest = hashlib.sha256(str(Path(session_dir).resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"labconsole-{digest}.sock"


# The sockets this process serves, with their session's pointer file. A console that exits by an exception
# (SIGHUP/SIGTERM become SystemExit) may leave between binding and handing the server to its Lab; at exit
# these go too, so no socket outlives its console unless the console was killed outright (kill -9).
_SERVED: dict[Path, Path] = {}


@atexit.register
def _remove_served_sockets() -> None:
    for sock, pointer in list(_SERVED.items()):
        for path in (sock, pointer):
            path.unlink(missing_ok=True)


class ControlServer:
    """``owners``: the processes this console started (agents, runs); their requests are refused."""

    def __init__(self, lab: CommandTarget, owners: OwnerRegistry | None = None) -> None:
        self.lab = lab
        self.path = socket_path(lab.session_dir)
        if self.path.exists():
            self.path.unlink()  # we hold the session lock: any old socket is a dead console's
        _SERVED[self.path] = lab.session_dir / "control"
        lab_ref = lab
        owners_ref = owners

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                refusal = _refuse_agents(owners_ref, self.request)
                for line in self.rfile:
                    reply = {"ok": False, "error": refusal} if refusal else _execute(lab_ref, line)
                    self.wfile.write((json.dumps(reply, default=str) + "\n").encode())
                    self.wfile.flush()

        self.server = socketserver.ThreadingUnixStreamServer(str(self.path), Handler)
        self.server.daemon_threads = True
        os.chmod(self.path, 0o600)  # only this user may decide
        (lab.session_dir / "control").write_text(str(self.path))
        self.thread = threading.Thread(target=self.server.serve_forever, name="control", daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        for path in (self.path, self.lab.session_dir / "control"):
            try:
                path.unlink()
            except FileNotFoundError:
                pass
        _SERVED.pop(self.path, None)


def _peer_pid(conn: socket.socket) -> int | None:
    try:
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except OSError:
        return None
    pid: int = struct.unpack("3i", creds)[0]
    return pid


def _refuse_agents(owners: OwnerRegistry | None, conn: socket.socket) -> str | None:
    """Agents and runs are children of this console: a request from one of them is not a person's."""
    pid = _peer_pid(conn)
    owner = owners.owner_of(pid) if owners is not None and pid else None
    if owner:
        return f"refused: the request comes from {owner}; decisions come from a person"
    return None


def _execute(lab: CommandTarget, line: bytes) -> dict[str, Any]:
    try:
        result = lab.execute(from_wire(json.loads(line)))
        return {"ok": True, "result": result.data if isinstance(result, Event) else result}
    except LabError as exc:
        return {"ok": False, "error": str(exc)}
    except Exception as exc:  # a malformed request must not take the console down
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


class ControlClient:
    """Talks to the console that holds a session. Raises LabError with the console's own message."""

    def __init__(self, session_dir: Path, timeout_s: float = 600.0) -> None:
        pointer = Path(session_dir) / "control"
        if not pointer.exists():
            raise LabError(f"the console holding {Path(session_dir).name} has no control channel")
        self.path = pointer.read_text().strip()
        self.timeout_s = timeout_s

    def call(self, cmd: str, **args: Any) -> Any:
        """Send the command named ``cmd``; its arguments are checked here first, the same way the console does."""
        command_cls = REMOTE_COMMANDS.get(cmd)
        if command_cls is None:
            raise LabError(f"unknown command {cmd!r}; allowed: {', '.join(REMOTE_COMMANDS)}")
        return self.send(build(command_cls, args))

    def send(self, command: Command) -> Any:
        """Carry ``command`` out in the console that holds the session; its result (an event's data for decisions)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(self.timeout_s)
            try:
                sock.connect(self.path)
            except (ConnectionRefusedError, FileNotFoundError):
                # A console killed without its clean-up (kill -9) leaves the socket file; nobody listens.
                raise LabError(
                    "the console that held this session is gone (its control socket is left over); "
                    "decide without it, or resume the session with `labconsole run --resume`"
                ) from None
            except OSError as exc:
                raise LabError(f"cannot reach the console holding this session ({exc})") from None
            sock.sendall((json.dumps(to_wire(command)) + "\n").encode())
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        reply = json.loads(data or b'{"ok": false, "error": "the console closed the connection"}')
        if not reply.get("ok"):
            raise LabError(reply.get("error", "the console refused"))
        return reply.get("result")
