"""The control channel of a live console: decisions from another process, over a Unix socket.

One console writes a session; everything else that wants to decide (the CLI,
a TUI attached to a headless session) sends commands here and the writer
carries them out through the same Lab methods a key press uses. The socket
lives under the temp dir (socket paths are short-limited); its path is written
to ``<session>/control``. Requests and replies are one JSON object per line.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import socketserver
import struct
import tempfile
import threading
from pathlib import Path
from typing import Any

from labconsole.errors import LabError

COMMANDS = ("approve", "reject", "merge", "remeasure", "agent_control", "send_message", "resume_after_budget",
            "propose_external", "ping")


def socket_path(session_dir: Path) -> Path:
    digest = hashlib.sha256(str(Path(session_dir).resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"labconsole-{digest}.sock"


class ControlServer:
    def __init__(self, lab: Any) -> None:
        self.lab = lab
        self.path = socket_path(lab.session_dir)
        if self.path.exists():
            self.path.unlink()  # we hold the session lock: any old socket is a dead console's
        lab_ref = lab

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                refusal = _refuse_agents(lab_ref, self.request)
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


def _peer_pid(conn: socket.socket) -> int | None:
    try:
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except OSError:
        return None
    pid, _uid, _gid = struct.unpack("3i", creds)
    return pid


def _refuse_agents(lab: Any, conn: socket.socket) -> str | None:
    """Agents and runs are children of this console: a request from one of them is not a person's."""
    pid = _peer_pid(conn)
    owners = getattr(getattr(lab, "orchestrator", None), "owners", None)
    owner = owners.owner_of(pid) if owners is not None and pid else None
    if owner:
        return f"refused: the request comes from {owner}; decisions come from a person"
    return None


def _execute(lab: Any, line: bytes) -> dict[str, Any]:
    try:
        request = json.loads(line)
        cmd, args = request["cmd"], dict(request.get("args", {}))
        if cmd not in COMMANDS:
            return {"ok": False, "error": f"unknown command {cmd!r}; allowed: {', '.join(COMMANDS)}"}
        if cmd == "ping":
            return {"ok": True, "result": {"session": lab.session_id, "pid": os.getpid()}}
        result = getattr(lab, cmd)(**args)
        return {"ok": True, "result": result.data if hasattr(result, "data") else result}
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
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(self.timeout_s)
            try:
                sock.connect(self.path)
            except OSError as exc:
                raise LabError(f"cannot reach the console holding this session ({exc})") from None
            sock.sendall((json.dumps({"cmd": cmd, "args": args}) + "\n").encode())
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
