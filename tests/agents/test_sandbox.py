"""Path policy and command policy: writes stay in the worktree, read-only roles write nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agents.conftest import git  # noqa: F401 (fixtures lab/worktree come from conftest)
from labconsole.agents.backends.claude_hook import decide
from labconsole.agents.sandbox import (
    CommandSandbox,
    PathPolicy,
    Refused,
    Workspace,
    bwrap_path,
    command_refusal,
    is_protected,
    scrubbed_env,
)


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    root = tmp_path / "wt"
    (root / "src").mkdir(parents=True)
    (root / "src" / "a.py").write_text("x = 1\n")
    (root / "prepare.py").write_text("p\n")
    return Workspace(root, writable=True, protected=("prepare.py", "bench/**"))


def test_writes_confined_to_worktree(ws: Workspace, tmp_path: Path) -> None:
    policy = PathPolicy(ws)
    assert policy.write("src/a.py") == ws.root / "src" / "a.py"
    for bad, why in (
        ("../outside.txt", "outside"),
        (str(tmp_path / "x"), "outside"),
        ("prepare.py", "protected"),
        ("bench/data/x.bin", "protected"),
        (".git/config", "git metadata"),
    ):
        with pytest.raises(Refused, match=why):
            policy.write(bad)


def test_symlink_cannot_lead_out(ws: Workspace, tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("s")
    os.symlink(tmp_path / "secret.txt", ws.root / "link.txt")
    with pytest.raises(Refused):
        PathPolicy(ws).read("link.txt")
    with pytest.raises(Refused):
        PathPolicy(ws).write("link.txt")


def test_read_only_role_and_single_writable_file(tmp_path: Path) -> None:
    out = tmp_path / "s" / "report.md"
    ro = Workspace(tmp_path / "s", writable=False, write_files=(out,))
    policy = PathPolicy(ro)
    assert policy.write(str(out)) == out.resolve()
    with pytest.raises(Refused, match="read-only"):
        policy.write("events.jsonl")


def test_protected_globs() -> None:
    assert is_protected("bench/x/y.py", ["bench/**"]) and is_protected("prepare.py", ["*.py"])
    assert not is_protected("train.py", ["prepare.py", "bench/**"])


@pytest.mark.parametrize(
    "cmd, writable, refused",
    [
        ("python -m pytest -q", True, False),
        ("echo hi > out.txt && cat out.txt", True, False),
        ("echo hi > /etc/passwd", True, True),
        ("echo hi >> ../sibling.txt", True, True),
        ("cd /tmp && ls", True, True),
        ("rm -rf /work", True, True),
        ("cp src/a.py ~/a.py", True, True),
        ("sed -i s/a/b/ /etc/hosts", True, True),
        ("git -C /elsewhere commit -m x", True, True),
        ("ls 2>&1 | grep a > /dev/null", True, False),
        ("grep -rn lr . | head", False, False),
        ("git diff HEAD~1", False, False),
        ("git commit -m x", False, True),
        ("echo x > notes.txt", False, True),
        ("python train.py", False, True),
        ("find . -delete", False, True),
        ("touch x", False, True),
        ("python3 -c \"import sys; sys.exit('a; b' > 'c')\"", True, False),
        ("echo 'a > /etc/x'", True, False),
        ("echo hi>/etc/x", True, True),
        ("ls; rm -rf ../..", True, True),
        ("echo 'unbalanced", True, True),
    ],
)
def test_command_policy(ws: Workspace, cmd: str, writable: bool, refused: bool) -> None:
    w = Workspace(ws.root, writable=writable, protected=ws.protected)
    assert (command_refusal(cmd, w) is not None) == refused, command_refusal(cmd, w)


def test_sandbox_runs_in_worktree_without_secrets(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOME_API_KEY", "do-not-leak-123")
    assert "SOME_API_KEY" not in scrubbed_env()
    box = CommandSandbox(ws, use_bwrap=False)
    result = box.run("pwd; echo ${SOME_API_KEY:-none}; exit 3")
    assert result.exit_code == 3 and result.output.split() == [str(ws.root), "none"] and not result.sandboxed
    with pytest.raises(Refused):
        box.run("echo x > /tmp/escape.txt")
    assert box.run("sleep 5", timeout_s=0.3).timed_out


def test_bwrap_argv_mounts_root_read_only(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("labconsole.agents.sandbox.bwrap_path", lambda: "/usr/bin/bwrap")
    argv = CommandSandbox(ws).argv("make test")
    assert argv[:5] == ["/usr/bin/bwrap", "--ro-bind", "/", "/", "--dev"]
    assert ["--bind", str(ws.root), str(ws.root)] == argv[argv.index("--bind") : argv.index("--bind") + 3]
    assert "--unshare-all" in argv and "--share-net" not in argv and argv[-3:] == ["/bin/sh", "-c", "make test"]
    ro = CommandSandbox(Workspace(ws.root, writable=False)).argv("ls")
    # read-only: the workspace bound back read-only (it is under the private /tmp), nothing writable
    assert "--bind" not in ro and ["--ro-bind-try", str(ws.root), str(ws.root)] == ro[ro.index(str(ws.root)) - 1 :][:3]


def test_claude_hook_applies_the_same_policy(ws: Workspace) -> None:
    assert decide(ws, "Write", {"file_path": str(ws.root / "src" / "b.py")}) is None
    assert "outside" in decide(ws, "Write", {"file_path": "/tmp/x"})
    assert "protected" in decide(ws, "Edit", {"file_path": str(ws.root / "prepare.py")})
    assert "outside" in decide(ws, "Read", {"file_path": "/etc/passwd"})
    assert decide(ws, "Bash", {"command": "ls"}) is None
    assert decide(ws, "Bash", {"command": "echo > /etc/x"})
    assert "network" in decide(ws, "WebFetch", {"url": "https://example.com"})


@pytest.mark.skipif(bwrap_path() is None, reason="bubblewrap (bwrap) is not installed or cannot create namespaces here")
def test_real_bwrap_confines_writes_and_network(lab: Path, worktree: Path) -> None:
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    try:
        box = CommandSandbox(Workspace(worktree, writable=True))
        result = box.run(
            f"echo ok > here.txt && cat here.txt; echo x > {lab}/escape.txt; echo y > /usr/escape.txt; git log --oneline | wc -l; "
            f"python3 -c \"import socket; socket.create_connection(('127.0.0.1', {port}), 1)\" 2>&1 | tail -1"
        )
    finally:
        listener.close()
    assert result.sandboxed and (worktree / "here.txt").read_text() == "ok\n"
    assert not (lab / "escape.txt").exists() and not Path("/usr/escape.txt").exists()
    lines = result.output.splitlines()
    assert "Read-only file system" in result.output and "1" in lines  # the repo is readable (git log works)
    assert "ConnectionRefusedError" in lines[-1]  # the host's listener is unreachable: no network
    ro = CommandSandbox(Workspace(worktree, writable=False)).run("touch new.txt")
    assert ro.exit_code != 0 and not (worktree / "new.txt").exists()


def test_agents_cannot_run_labconsole(tmp_path) -> None:
    from labconsole.agents.sandbox import Workspace, command_refusal

    ws = Workspace(root=tmp_path, writable=True)
    for cmd in (
        "labconsole review approve h001 --yes",
        "cd . && labconsole merge h001",
        "python -m labconsole.cli merge h001",
        "/usr/bin/labconsole publish kernels/x",
    ):
        assert "agents cannot run labconsole" in (command_refusal(cmd, ws) or ""), cmd
