"""'Needs you': what waits on the person, agents' states from their hypotheses, and delivery once per event."""

from __future__ import annotations

import http.server
import json
import threading
from pathlib import Path

import pytest

from labconsole.errors import ConfigError
from labconsole.events.log import Event
from labconsole.lab import notify
from labconsole.lab.reducer import apply
from labconsole.lab.state import LabState

_seq = iter(range(1_000_000))


def ev(state: LabState, kind: str, actor: str = "console", /, **data: object) -> None:
    n = next(_seq)
    apply(state, Event(n, float(n), kind, actor, dict(data), "0" * 64, "0" * 64))


def lab_with_worker() -> LabState:
    s = LabState()
    ev(s, "session.started", session_id="s1", lab="demo", baseline_sha="b" * 40, objective={"direction": "minimize"})
    ev(s, "agent.started", agent_id="worker-1", role="worker", backend="fake", pid=1)
    ev(s, "agent.hello", "agent:worker-1", agent_id="worker-1", role="worker")
    ev(s, "hypothesis.proposed", hyp_id="h001", title="fuse", params={})
    ev(s, "hypothesis.claimed", hyp_id="h001", agent_id="worker-1")
    return s


def test_idle_agent_takes_its_hypothesis_state() -> None:
    s = lab_with_worker()
    a = s.agents["worker-1"]
    assert a.state == "idle"
    assert notify.agent_activity(a, s)[0] == notify.WORKING  # claimed: the agent is on it
    s.hypotheses["h001"].status = "measuring"
    assert notify.agent_activity(a, s) == (notify.WAITING_MEASUREMENT, s.hypotheses["h001"])
    s.hypotheses["h001"].status = "awaiting-human"
    assert notify.agent_activity(a, s)[0] == notify.WAITING_YOU
    s.hypotheses["h001"].status = "merged"
    assert notify.agent_activity(a, s) == ("idle", None)


def test_needs_you_fires_once_per_event_and_again_when_it_returns() -> None:
    s = lab_with_worker()
    sent: list[tuple[str, str]] = []
    n = notify.Notifier(lambda title, body: sent.append((title, body)) or True)
    n.prime(s)
    assert n.offer(s) == []
    s.hypotheses["h001"].status = "awaiting-human"
    s.hypotheses["h001"].sha = "c" * 40
    assert [i.kind for i in n.offer(s)] == ["review"]
    assert n.offer(s) == [] and n.offer(s) == []  # still waiting: not again
    assert sent == [("LabConsole", "h001 awaits your review")]
    assert "1 candidate awaits your review" in notify.summary(notify.needs_you(s))
    ev(s, "budget.exhausted", scope="session", resource="usd")
    assert [i.kind for i in n.offer(s)] == ["budget"]
    ev(s, "budget.resumed")
    assert n.offer(s) == []
    ev(s, "budget.exhausted", scope="session", resource="tokens")
    assert [i.kind for i in n.offer(s)] == ["budget"]  # a second pause is a new event


def test_agents_words_never_reach_a_notification() -> None:
    s = lab_with_worker()
    n = notify.Notifier()
    n.prime(s)
    hostile = "\x1b]9;pwned\x07 approve h001 now"
    ev(s, "agent.log", "agent:worker-1", agent_id="worker-1", level="info", text=hostile)
    ev(s, "agent.message", "human:x", agent_id="worker-1", text="hi")
    assert n.offer(s) == []  # logs and messages are not events for the person
    ev(s, "agent.status", "agent:worker-1", agent_id="worker-1", state="waiting", detail=hostile)
    items = n.offer(s)
    assert [i.text for i in items] == ["worker-1 asks for your input"]
    ev(s, "agent.status", "agent:worker-1", agent_id="worker-1", state="waiting", detail="still waiting!")
    ev(s, "agent.heartbeat", "agent:worker-1", agent_id="worker-1")
    assert n.offer(s) == []  # the same waiting spell: an agent cannot make it ring again


class _Receiver(http.server.BaseHTTPRequestHandler):
    got: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).got.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_apprise_delivers_to_a_local_receiver(tmp_path: Path) -> None:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        config = tmp_path / "config.toml"
        config.write_text(f'[notify]\nurls = ["json://127.0.0.1:{server.server_port}/"]\n')
        cfg = notify.load_config(config)
        n = notify.Notifier(notify.apprise_sender(cfg.urls))
        s = lab_with_worker()
        n.prime(s)
        s.hypotheses["h001"].status = "awaiting-human"
        n.offer(s)
        n.offer(s)
        assert [(m["title"], m["message"]) for m in _Receiver.got] == [("LabConsole", "h001 awaits your review")]
        assert n.failures == 0
    finally:
        server.shutdown()
        server.server_close()


def test_bad_config_is_one_clear_line(tmp_path: Path) -> None:
    assert notify.load_config(tmp_path / "missing.toml") == notify.NotifyConfig()
    bad = tmp_path / "config.toml"
    bad.write_text('[notify]\nurls = "ntfy://x"\n')
    with pytest.raises(ConfigError, match=r"\[notify\] urls must be a list"):
        notify.load_config(bad)
    bad.write_text("[notify\n")
    with pytest.raises(ConfigError, match="config.toml"):
        notify.load_config(bad)
