"""The supervisor with real, misbehaving agent subprocesses."""

from __future__ import annotations

import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

from labconsole.agents.supervisor import MAX_LINE, QUEUE_MAX, AgentSpec, Message, Supervision, Supervisor


def agent(tmp_path: Path, name: str, body: str) -> AgentSpec:
    script = tmp_path / f"{name}.py"
    script.write_text(
        "import json, sys, time, os, subprocess\n"
        "def say(**m):\n    sys.stdout.write(json.dumps(m) + '\\n'); sys.stdout.flush()\n"
        "def hello():\n    say(type='hello', protocol=1, role='worker', backend='test', model='')\n"
        "def log(text):\n    say(type='log', level='info', text=text)\n"
        "def messages():\n"  # the console's messages until it says shutdown
        "    for line in sys.stdin:\n"
        "        msg = json.loads(line)\n"
        "        if msg['type'] == 'shutdown':\n"
        "            return\n"
        "        yield msg\n" + textwrap.dedent(body)
    )
    return AgentSpec(name, "worker", "test", "", tmp_path, argv=[sys.executable, str(script)])


def collect(sup: Supervisor, until, timeout: float = 15.0) -> list[Message]:
    got: list[Message] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            got.append(sup.messages.get(timeout=0.1))
        except Exception:
            pass
        if until(got):
            return got
    raise AssertionError(f"timed out; got {[(m.type, m.data) for m in got][-10:]}")


def types(messages: list[Message]) -> list[str]:
    return [m.type for m in messages]


@contextmanager
def supervised(tmp_path: Path, *specs: AgentSpec, queue_max: int = QUEUE_MAX, **options) -> Iterator[Supervisor]:
    """A fresh Supervisor (`options` are its Supervision) running `specs`; closed however the test ends."""
    sup = Supervisor(tmp_path / "logs", Supervision(**options), queue_max=queue_max)
    try:
        for spec in specs:
            sup.start(spec)
        yield sup
    finally:
        sup.close()


def run_until(tmp_path: Path, spec: AgentSpec, until, timeout: float = 15.0, **options) -> list[Message]:
    """Start `spec` under a fresh Supervisor (`options`), collect its messages until `until` holds, close it."""
    with supervised(tmp_path, spec, **options) as sup:
        return collect(sup, until, timeout)


def test_garbage_and_oversized_lines_become_raw_events(tmp_path: Path) -> None:
    spec = agent(
        tmp_path,
        "garbage",
        """
        hello()
        print("this is not json")
        print("{\\"type\\": \\"no-such-type\\"}")
        sys.stdout.write("x" * (3 * 1024 * 1024) + "\\n")
        log("still alive")
        sys.stdout.flush()
        time.sleep(30)
    """,
    )
    got = run_until(tmp_path, spec, lambda g: "log" in types(g), hang_timeout_s=30)
    raws = [m for m in got if m.type == "raw"]
    assert raws[0].data["text"] == "this is not json"
    assert raws[1].data["text"] == '{"type": "no-such-type"}'
    assert raws[2].data["truncated"] is True and len(raws[2].data["text"]) <= 4096
    assert types(got)[:2] == ["started", "hello"]
    log = (tmp_path / "logs" / "garbage.log").read_bytes()
    assert b"this is not json" in log and len(log) < MAX_LINE + 10_000  # the 3 MiB line was cut


def test_hung_agent_is_killed_and_restarted(tmp_path: Path) -> None:
    spec = agent(tmp_path, "hanger", "hello()\ntime.sleep(600)\n")
    got = run_until(
        tmp_path,
        spec,
        lambda g: types(g).count("exited") >= 2 and "gave_up" in types(g),
        timeout=20,
        hang_timeout_s=1.0,
        backoff_s=(0.2, 1.0),
        max_restarts=1,
    )
    exits = [m for m in got if m.type == "exited"]
    assert exits[0].data["reason"] == "hung" and "no output" in exits[0].data["detail"]
    restarting = [m for m in got if m.type == "restarting"]
    assert restarting[0].data == {"attempt": 1, "backoff_s": 0.2}
    assert [m.data["attempt"] for m in got if m.type == "started"] == [0, 1]
    assert got[-1].type == "gave_up" and "gave up after 1 restarts" in got[-1].data["message"]


def test_crashing_agent_is_recorded_and_restarted_with_backoff(tmp_path: Path) -> None:
    spec = agent(tmp_path, "crasher", "hello()\nsys.exit(3)\n")
    got = run_until(tmp_path, spec, lambda g: "gave_up" in types(g), backoff_s=(0.1, 0.4), max_restarts=3)
    exits = [m.data for m in got if m.type == "exited"]
    assert all(e["reason"] == "crashed" and e["returncode"] == 3 for e in exits) and len(exits) == 4
    assert [m.data["backoff_s"] for m in got if m.type == "restarting"] == [0.1, 0.2, 0.4]


def test_flood_cannot_stall_the_console(tmp_path: Path) -> None:
    flood = agent(
        tmp_path,
        "flood",
        """
        hello()
        for i in range(100_000):
            log("spam %d" % i)
        say(type="proposal", title="the one that matters", params={}, rationale="r", source="s")
        time.sleep(30)
    """,
    )
    calm = agent(
        tmp_path,
        "calm",
        """
        hello()
        time.sleep(1.0)
        say(type="status", state="idle")
        time.sleep(30)
    """,
    )
    with supervised(tmp_path, flood, calm, queue_max=200) as sup:
        # checked as messages arrive: rescanning the whole list per message made the test itself quadratic
        seen: set[str] = set()

        def arrived(got: list[Message]) -> bool:
            if got:
                m = got[-1]
                if m.type == "proposal" or (m.type == "status" and m.agent_id == "calm"):
                    seen.add(m.type)
            return seen == {"proposal", "status"}

        got = collect(sup, arrived, timeout=60)
        assert any(m.type == "dropped" for m in got), "chatter beyond the queue is dropped and counted"
        dropped = sum(m.data["count"] for m in got if m.type == "dropped")
        logs = sum(1 for m in got if m.type == "log")
        assert dropped > 0 and logs + dropped <= 100_000


def test_close_kills_whole_process_trees(tmp_path: Path) -> None:
    spec = agent(
        tmp_path,
        "parent",
        """
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        escaped = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
        hello()
        log("pids %d %d" % (child.pid, escaped.pid))
        signal_ignored = __import__("signal").signal(__import__("signal").SIGTERM, __import__("signal").SIG_IGN)
        time.sleep(600)
    """,
    )
    sup = Supervisor(tmp_path / "logs", Supervision(grace_s=0.5))
    sup.start(spec)
    got = collect(sup, lambda g: "log" in types(g))
    pids = [int(p) for p in next(m for m in got if m.type == "log").data["text"].split()[1:]]
    parent = sup.pid("parent")
    sup.close()
    for pid in [parent, *pids]:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_send_and_stop(tmp_path: Path) -> None:
    spec = agent(
        tmp_path,
        "echo",
        """
        hello()
        for msg in messages():
            log("got " + msg["type"])
    """,
    )
    with supervised(tmp_path, spec) as sup:
        collect(sup, lambda g: "hello" in types(g))
        assert sup.send("echo", {"type": "task", "task": "t1", "kind": "implement", "payload": {}})
        got = collect(sup, lambda g: "log" in types(g))
        assert got[-1].data["text"] == "got task"
        sup.stop("echo")
        got = collect(sup, lambda g: "exited" in types(g))
        assert got[-1].data["reason"] == "stopped"
        assert not sup.send("echo", {"type": "message", "text": "anyone?"})


def test_restart_after_stop_starts_the_agent_again(tmp_path: Path) -> None:
    # `x` then `R` in the console: the process is gone, so the restart must start it, not do nothing.
    spec = agent(tmp_path, "sleepy", "hello()\nfor _ in messages():\n    pass\n")
    with supervised(tmp_path) as sup:
        first = sup.start(spec)
        collect(sup, lambda g: "hello" in types(g))
        sup.stop("sleepy")
        collect(sup, lambda g: "exited" in types(g))
        assert not sup.running("sleepy")
        sup.stop("sleepy", restart=True)
        got = collect(sup, lambda g: "hello" in types(g))
        assert "started" in types(got)
        assert sup.running("sleepy") and sup.pid("sleepy") != first
