"""What needs the person, derived from LabState, and telling them once per event (no Textual here).

``needs_you(state)`` lists what waits on a human: candidates awaiting review, agents paused by the
budget, an agent asking for input. ``Notifier`` turns that list into deliveries: each item fires
once, when it first appears (it fires again only after it went away and came back, e.g. a second
budget pause). Delivery is the terminal's (the TUI rings the bell / writes OSC 9) plus, optionally,
the URLs in ``~/.config/labconsole/config.toml``::

    [notify]
    urls = ["ntfy://my-topic", "json://127.0.0.1:8080/"]   # any apprise URL
    bell = true                                            # terminal bell + OSC 9 desktop notification

Agents are adversaries: the text sent names only ids and counts the console made, never words an
agent wrote (a title, a question, a status detail), so an agent can neither phrase a notification
nor smuggle terminal escapes into one. Items come only from states that the console or gate set,
or from an agent's explicit ``waiting`` status, never from its log lines or messages.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from labconsole.errors import ConfigError
from labconsole.lab import state as S
from labconsole.lab.state import AgentState, HypothesisState, LabState

REVIEW, BUDGET, INPUT = "review", "budget", "input"


@dataclass(frozen=True)
class NeedsYou:
    key: str  # identity of the event: the same key never fires twice in a row
    kind: str  # review | budget | input
    text: str  # console-made words only (ids, counts)


def needs_you(state: LabState) -> list[NeedsYou]:
    items = [
        NeedsYou(f"review:{h.hyp_id}:{h.sha or ''}", REVIEW, f"{h.hyp_id} awaits your review")
        for h in sorted(state.awaiting_review(), key=lambda h: h.hyp_id)
    ]
    if state.budget.paused:
        exhausted = ", ".join(sorted(state.budget.exhausted)) or "budget"
        # Keyed by what ran out, so a second exhaustion after a resume fires again.
        items.append(
            NeedsYou(
                f"budget:{len(state.budget.signalled)}",
                BUDGET,
                f"budget exhausted ({exhausted}): agents paused until you resume (B)",
            )
        )
    for a in sorted(state.agents.values(), key=lambda a: a.agent_id):
        if a.state == "waiting":
            # Keyed by the agent alone: one waiting spell is one event, however often it says so meanwhile.
            items.append(NeedsYou(f"input:{a.agent_id}", INPUT, f"{a.agent_id} asks for your input"))
    return items


def summary(items: list[NeedsYou]) -> str:
    """The banner's one line: counts by kind, most urgent first."""
    n = {k: sum(1 for i in items if i.kind == k) for k in (REVIEW, BUDGET, INPUT)}
    parts = []
    if n[REVIEW]:
        parts.append(
            f"{n[REVIEW]} candidate{'s' if n[REVIEW] != 1 else ''} await{'s' if n[REVIEW] == 1 else ''} your review (2)"
        )
    if n[BUDGET]:
        parts.append("budget paused the agents (B resumes)")
    if n[INPUT]:
        parts.append(f"{n[INPUT]} agent{'s' if n[INPUT] != 1 else ''} ask{'s' if n[INPUT] == 1 else ''} for input (3)")
    return " · ".join(parts)


# --- agent states as a supervisor reads them ---------------------------------------------------------

WORKING, WAITING_MEASUREMENT, WAITING_YOU = "working", "waiting for measurement", "waiting for you"
_BY_HYP_STATUS = {
    S.CLAIMED: WORKING,
    S.IMPLEMENTING: WORKING,
    S.MEASURING: WAITING_MEASUREMENT,
    S.AUTO_REVIEWED: WAITING_MEASUREMENT,
    S.AWAITING_HUMAN: WAITING_YOU,
    S.APPROVED: WAITING_YOU,
}


def agent_activity(a: AgentState, state: LabState) -> tuple[str, HypothesisState | None]:
    """``(what the agent is doing, the hypothesis it is about)``.

    An agent that finished implementing reports ``idle`` while its hypothesis is measured or waits
    on review; shown as idle, a busy lab looks stuck. So an idle agent takes the state of its most
    advanced open hypothesis: waiting for measurement, or waiting for you."""
    if a.state == "waiting":
        return "waiting for input", state.hypotheses.get(a.hypothesis or "")
    current = state.hypotheses.get(a.hypothesis or "")
    if a.state == "working":
        return (_BY_HYP_STATUS.get(current.status, WORKING) if current else WORKING), current
    if a.state != "idle":
        return a.state, current
    mine = [h for h in state.hypotheses.values() if h.agent_id == a.agent_id and h.status in _BY_HYP_STATUS]
    if not mine:
        return "idle", None
    order = (WAITING_YOU, WAITING_MEASUREMENT, WORKING)
    h = min(mine, key=lambda h: (order.index(_BY_HYP_STATUS[h.status]), h.hyp_id))
    return _BY_HYP_STATUS[h.status], h


# --- delivery ----------------------------------------------------------------------------------------


@dataclass
class NotifyConfig:
    urls: list[str] = field(default_factory=list)
    bell: bool = True


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(os.environ.get("LABCONSOLE_CONFIG", Path(base) / "labconsole" / "config.toml"))


def load_config(path: Path | None = None) -> NotifyConfig:
    """The ``[notify]`` table of the user's config; a missing file is the defaults, a bad one a ConfigError."""
    path = path or config_path()
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        return NotifyConfig()
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    table = data.get("notify", {})
    urls = table.get("urls", []) if isinstance(table, dict) else None
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        raise ConfigError(f"{path}: [notify] urls must be a list of apprise URL strings")
    bell = table.get("bell", True)
    if not isinstance(bell, bool):
        raise ConfigError(f"{path}: [notify] bell must be true or false")
    return NotifyConfig(urls=list(urls), bell=bell)


def apprise_sender(urls: list[str]) -> Callable[[str, str], bool]:
    """``send(title, body) -> delivered`` through apprise (a kept library: ntfy, webhooks, desktop, …)."""
    import apprise

    sink = apprise.Apprise()
    for url in urls:
        if not sink.add(url):
            raise ConfigError(f"[notify] urls: {url.split('://')[0]}://… is not a URL apprise understands")

    def send(title: str, body: str) -> bool:
        return bool(sink.notify(title=title, body=body))

    return send


class Notifier:
    """Fires each ``NeedsYou`` once. ``offer(state)`` returns the new items and hands each to ``send``."""

    def __init__(self, send: Callable[[str, str], bool] | None = None, *, title: str = "LabConsole") -> None:
        self.send = send
        self.title = title
        self._live: set[str] = set()
        self.failures = 0

    def prime(self, state: LabState) -> None:
        """What already waits when the console opens is on screen (the banner): do not fire it now."""
        self._live = {i.key for i in needs_you(state)}

    def offer(self, state: LabState) -> list[NeedsYou]:
        return self.offer_items(needs_you(state))

    def offer_items(self, items: Iterable[NeedsYou]) -> list[NeedsYou]:
        items = list(items)
        fresh = [i for i in items if i.key not in self._live]
        self._live = {i.key for i in items}  # gone keys are forgotten: a return is a new event
        if self.send is not None:
            for item in fresh:
                try:
                    if not self.send(self.title, item.text):
                        self.failures += 1
                except Exception:  # a dead webhook must not take the console down
                    self.failures += 1
        return fresh
