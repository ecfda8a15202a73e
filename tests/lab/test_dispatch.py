"""Agent messages reach handlers through one table: an agent cannot name a method of the orchestrator."""

from __future__ import annotations

from typing import Any

import pytest

from labconsole.agents.supervisor import Message
from labconsole.events import kinds as K
from labconsole.gpu.telemetry import OwnerRegistry
from labconsole.lab.orchestrator.dispatch import MessageRouter


class _Lab:
    def __init__(self) -> None:
        self.appended: list[tuple[str, str, dict[str, Any]]] = []

    def append(self, kind: str, actor: str, data: dict[str, Any], *, durable: bool | None = None) -> None:
        self.appended.append((kind, actor, data))


class _Parts:
    """Stands in for the agent pool, the scheduler and the gate flow: records which handler ran."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def role_of(self, agent_id: str) -> str:
        return {"researcher": "researcher", "worker-1": "worker"}.get(agent_id, "")

    def __getattr__(self, name: str) -> Any:
        if not name.startswith("on_"):
            raise AttributeError(name)
        return lambda *args: self.calls.append((name, args))


def _router() -> tuple[MessageRouter, _Lab, _Parts, OwnerRegistry, list[str]]:
    lab, parts, owners, budget = _Lab(), _Parts(), OwnerRegistry(parent_of=lambda pid: None), []
    router = MessageRouter(lab, parts, parts, parts, owners, lambda: budget.append("checked"))  # type: ignore[arg-type]
    return router, lab, parts, owners, budget


@pytest.mark.parametrize(
    "kind,handler",
    [
        ("proposal", "on_proposal"),
        ("plan", "on_plan"),
        ("commit", "on_commit"),
        ("verdict", "on_verdict"),
        ("report", "on_report"),
        ("error", "on_error"),
        ("done", "on_done"),
        ("exited", "on_exited"),
        ("gave_up", "on_gave_up"),
    ],
)
def test_each_protocol_message_reaches_its_handler(kind: str, handler: str) -> None:
    router, lab, parts, _, _ = _router()
    router.handle(Message("worker-1", kind, {"x": 1}))
    assert [name for name, _ in parts.calls] == [handler]


def test_usage_is_logged_then_the_budget_checked() -> None:
    router, lab, _, _, budget = _router()
    router.handle(Message("worker-1", "usage", {"input_tokens": 5}))
    assert lab.appended == [
        (K.AGENT_USAGE, "agent:worker-1", {"agent_id": "worker-1", "role": "worker", "input_tokens": 5})
    ]
    assert budget == ["checked"]


def test_started_registers_the_process_and_hello_resends_work() -> None:
    router, lab, parts, owners, _ = _router()
    router.handle(Message("worker-1", "started", {"pid": 4242}))
    router.handle(Message("worker-1", "hello", {}))
    assert owners.owner_of(4242) == "agent:worker-1"
    assert [(k, actor) for k, actor, _ in lab.appended] == [
        (K.AGENT_STARTED, "console"),
        (K.AGENT_HELLO, "agent:worker-1"),
    ]
    assert parts.calls == [("on_hello", ("worker-1",))]


@pytest.mark.parametrize("kind", ["gpu_snapshot", "hello_again", "__init__", "check_budget", "approve"])
def test_a_message_type_outside_the_table_is_only_logged(kind: str) -> None:
    """The old getattr dispatch ran any ``_on_<type>`` method an agent named (``_on_gpu_snapshot`` too)."""
    router, lab, parts, _, budget = _router()
    router.handle(Message("researcher", kind, {"anything": True}))
    assert lab.appended == [
        (K.AGENT_RAW, "agent:researcher", {"agent_id": "researcher", "text": f"unhandled message type {kind}"})
    ]
    assert parts.calls == [] and budget == []
