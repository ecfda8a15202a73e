"""The person's commands: their wire form, the checks on requests from the socket, and the Lab's dispatch."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest

from labconsole.errors import LabError
from labconsole.events.log import Event
from labconsole.gpu.telemetry import OwnerRegistry
from labconsole.lab import commands as C
from labconsole.lab.control import ControlClient, ControlServer
from labconsole.lab.service import Lab

EXAMPLES: list[C.Command] = [
    C.Approve("h001", who="ana", reason="fast", confirm_flags=False),
    C.Reject("h002", who=None, reason="slower"),
    C.Merge("h001"),
    C.Remeasure("h003"),
    C.AgentControl("worker-1", "pause", who="ana"),
    C.SendMessage("planner", "try smaller tiles"),
    C.ResumeAfterBudget(),
    C.ProposeExternal([{"title": "fuse", "params": {"tile": 64}}], "profile", {"0": "{}"}),
    C.Ping(),
]


@pytest.mark.parametrize("command", EXAMPLES, ids=lambda c: c.name)
def test_wire_round_trip(command: C.Command) -> None:
    wire = json.loads(json.dumps(C.to_wire(command)))
    assert wire["cmd"] == command.name
    assert C.from_wire(wire) == command


def test_every_remote_command_is_in_the_union_and_stop_stays_local() -> None:
    assert {c.name for c in EXAMPLES} == set(C.REMOTE_COMMANDS)
    with pytest.raises(C.CommandError, match="unknown command 'stop'"):
        C.from_wire(C.to_wire(C.Stop()))


def test_blob_bytes_travel_as_text_keyed_by_index() -> None:
    wire = C.to_wire(C.ProposeExternal([{"title": "a"}], "profile", {0: b'{"x": 1}'}))
    assert wire["args"]["evidence_blobs"] == {"0": '{"x": 1}'}


@pytest.mark.parametrize(
    "request_, message",
    [
        ([], "one JSON object"),
        ({"cmd": "format_disk"}, "unknown command 'format_disk'"),
        ({"cmd": "approve", "args": []}, "args must be an object"),
        ({"cmd": "approve", "args": {}}, "missing argument 'hyp_id'"),
        ({"cmd": "approve", "args": {"hyp_id": "h1", "confirm_flags": "yes"}}, "confirm_flags must be bool"),
        ({"cmd": "approve", "args": {"hyp_id": 7}}, "hyp_id must be str, not int"),
        ({"cmd": "merge", "args": {"hyp_id": "h1", "force": True}}, "unknown argument 'force'"),
        ({"cmd": "propose_external", "args": {"hypotheses": ["x"], "actor": "p"}}, "hypotheses must be"),
    ],
)
def test_bad_requests_are_refused_with_what_to_fix(request_: object, message: str) -> None:
    with pytest.raises(C.CommandError, match=message):
        C.from_wire(request_)


def test_lab_methods_build_their_command() -> None:
    """The TUI and CLI keep calling lab.approve(...); each call goes through Lab.execute as a command."""
    seen: list[C.Command] = []
    lab = Lab.__new__(Lab)
    lab.execute = lambda command: seen.append(command)  # type: ignore[method-assign,assignment]
    lab.approve("h001", "ana", "fast", confirm_flags=False)
    lab.reject("h002", reason="slower")
    lab.merge("h001")
    lab.remeasure("h003")
    lab.agent_control("worker-1", "pause")
    lab.send_message("planner", "hi", who="ana")
    lab.resume_after_budget()
    lab.propose_external([{"title": "t"}], "profile")
    lab.stop(reason="done")
    assert seen == [
        C.Approve("h001", "ana", "fast", False),
        C.Reject("h002", None, "slower"),
        C.Merge("h001"),
        C.Remeasure("h003"),
        C.AgentControl("worker-1", "pause"),
        C.SendMessage("planner", "hi", "ana"),
        C.ResumeAfterBudget(),
        C.ProposeExternal([{"title": "t"}], "profile"),
        C.Stop(True, "done"),
    ]


class _Target:
    """A console that records what reaches it."""

    def __init__(self, session_dir: Path) -> None:
        self.session_dir = session_dir
        self.seen: list[C.Command] = []

    def execute(self, command: C.Command) -> Event | list[str] | dict[str, Any] | None:
        self.seen.append(command)
        if isinstance(command, C.Approve):
            return Event(
                seq=0,
                ts=0.0,
                kind="decision.approved",
                actor="human:ana",
                data={"hyp_id": command.hyp_id},
                prev="",
                hash="",
            )
        if isinstance(command, C.Merge):
            raise LabError("h001: a person must approve it first")
        return None


@pytest.fixture
def channel(tmp_path: Path) -> Any:
    target = _Target(tmp_path)
    owners = OwnerRegistry(parent_of=lambda pid: None)
    server = ControlServer(target, owners=owners)
    try:
        yield target, owners, ControlClient(tmp_path, timeout_s=10)
    finally:
        server.close()


def test_the_socket_carries_commands_and_answers_with_event_data(channel: Any) -> None:
    target, _, client = channel
    assert client.send(C.Approve("h001", who="ana")) == {"hyp_id": "h001"}
    assert client.call("remeasure", hyp_id="h003") is None
    with pytest.raises(LabError, match="a person must approve it first"):
        client.send(C.Merge("h001"))
    assert target.seen == [C.Approve("h001", who="ana"), C.Remeasure("h003"), C.Merge("h001")]


def test_the_socket_refuses_malformed_requests_and_the_consoles_own_children(channel: Any) -> None:
    target, owners, client = channel
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(client.path)
        sock.sendall(b'{"cmd": "approve", "args": {"hyp_id": ["h1"]}}\n')
        reply = json.loads(sock.makefile().readline())
    assert reply == {"ok": False, "error": "approve: hyp_id must be str, not list"}
    owners.register(os.getpid(), "agent:worker-1")
    with pytest.raises(LabError, match="refused: the request comes from agent:worker-1"):
        client.send(C.Approve("h001"))
    assert target.seen == []


def test_telemetry_is_the_running_orchestrators_sampler() -> None:
    """Views read GPUs through Lab.telemetry instead of probing the orchestrator."""
    lab = Lab.__new__(Lab)
    lab.orchestrator = None
    assert lab.telemetry is None

    class _Orchestrator:
        sampler = object()

    lab.orchestrator = _Orchestrator()  # type: ignore[assignment]
    assert lab.telemetry is _Orchestrator.sampler
