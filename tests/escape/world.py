"""The world a hostile candidate or agent command tries to escape into: a fake HOME with an ssh key and the
person's signing key, a lab with another worktree and a session, a secret in the console's environment, a
TCP server on 127.0.0.1, a control socket and a directory outside everything. Built outside /tmp so that
the sandbox's private /tmp is not what hides it."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

HOSTILE = Path(__file__).with_name("hostile.py")
SECRET_NAME = "LABCONSOLE_ESCAPE_API_KEY"
SECRET_VALUE = "escape-secret-value-0123456789"
CASES = (
    "write_direct",
    "write_dotdot",
    "write_symlink",
    "write_hardlink",
    "write_proc_root",
    "read_ssh_key",
    "read_signing_key",
    "read_other_worktree",
    "read_session_dir",
    "read_env_secret",
    "read_proc_environ",
    "network_tcp",
    "signal_console",
    "ptrace_console",
    "append_events",
    "control_socket",
)
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}


@dataclass
class World:
    base: Path
    home: Path
    lab: Path
    session: Path
    outside: Path
    targets: dict = field(default_factory=dict)
    tcp_hits: list[bytes] = field(default_factory=list)
    closers: list = field(default_factory=list)

    def close(self) -> None:
        for close in self.closers:
            close()
        shutil.rmtree(self.base, ignore_errors=True)

    def damage(self) -> list[str]:
        """What an escape left behind, seen from outside the sandbox."""
        found = [str(p) for p in self.outside.iterdir() if p.name != "file"]
        if (self.outside / "file").read_text() != "original\n":
            found.append("outside/file changed")
        if (self.session / "events.jsonl").read_text() != "{}\n":
            found.append("events.jsonl appended")
        found += [f"tcp: {hit!r}" for hit in self.tcp_hits]
        return found


def base_dir() -> Path:
    for parent in ("/var/tmp", None):
        try:
            return Path(tempfile.mkdtemp(prefix="labconsole-escape-", dir=parent))
        except OSError:
            continue
    raise OSError("no temp dir")


def make_world(monkeypatch, lab_toml: str = "") -> World:
    from labconsole.lab.control import socket_path

    base = base_dir()
    home, lab, outside = base / "home", base / "lab", base / "outside"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_text("FAKE SSH KEY\n")
    keys = home / ".config" / "labconsole" / "keys"
    keys.mkdir(parents=True)
    (keys / "person.key").write_text("FAKE SIGNING KEY\n")
    outside.mkdir()
    (outside / "file").write_text("original\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv(SECRET_NAME, SECRET_VALUE)

    lab.mkdir()
    shutil.copy(HOSTILE, lab / "hostile.py")
    (lab / "lab.toml").write_text(
        lab_toml
        or """
[lab]
name = "escape"
[objective]
name = "loss"
command = "python hostile.py targets.json"
metric = "regex:^loss (\\\\S+)"
timeout_s = 60
repeats = 1
[search]
file = "hostile.py"
[search.space]
X = { type = "int", low = 1, high = 3 }
"""
    )
    session = lab / "sessions" / "s1"
    session.mkdir(parents=True)
    (session / "events.jsonl").write_text("{}\n")
    other = lab / ".labconsole" / "worktrees" / "h9"
    other.mkdir(parents=True)
    (other / "secret.txt").write_text("another agent's work\n")

    world = World(base, home, lab, session, outside)
    # /proc/<pid>/environ shows a process's environment as it started, so the console whose environ is
    # read is a stand-in started with the secret (the test process got it too late, by setenv).
    stand_in = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(600)"], env={**os.environ, SECRET_NAME: SECRET_VALUE}
    )
    world.closers += [stand_in.kill, stand_in.wait]
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.5)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                world.tcp_hits.append(conn.recv(100))

    threading.Thread(target=serve, daemon=True).start()
    ctl_path = socket_path(session)
    ctl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ctl.bind(str(ctl_path))
    ctl.listen()
    world.closers += [stop.set, server.close, ctl.close, lambda: ctl_path.unlink(missing_ok=True)]

    world.targets = {
        "outside_dir": str(outside),
        "outside_file": str(outside / "file"),
        "ssh_key": str(home / ".ssh" / "id_ed25519"),
        "signing_key": str(keys / "person.key"),
        "other_worktree_file": str(other / "secret.txt"),
        "events": str(session / "events.jsonl"),
        "secret_name": SECRET_NAME,
        "secret_value": SECRET_VALUE,
        "console_pid": os.getpid(),
        "environ_pid": stand_in.pid,
        "tcp_port": server.getsockname()[1],
        "control_socket": str(ctl_path),
    }
    (lab / "targets.json").write_text(json.dumps(world.targets))
    (lab / ".gitignore").write_text("sessions/\n.labconsole/\n")
    env = {**os.environ, **GIT_ENV}
    for cmd in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"], ["git", "commit", "-qm", "base"]):
        subprocess.run(cmd, cwd=lab, check=True, env=env, capture_output=True)
    return world


def parse(output: str) -> dict[str, str]:
    """``ESCAPE <case> <result> …`` lines → case → "escaped" | "blocked"."""
    results: dict[str, str] = {}
    for line in output.splitlines():
        parts = line.split(" ", 3)
        if len(parts) >= 3 and parts[0] == "ESCAPE":
            results[parts[1]] = parts[2]
    return results
