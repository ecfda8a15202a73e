"""The overview's tables: agents, hypothesis queue, runs leaderboard, event feed."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Sparkline, Static

from labconsole.lab import notify
from labconsole.lab import state as S
from labconsole.lab.report import runs_where
from labconsole.lab.state import LabState
from labconsole.tui import agentlog
from labconsole.tui import format as F
from labconsole.tui.colors import AGENT_STATE_COLOR, HYP_STATUS_COLOR, theme_colors
from labconsole.tui.widgets.keyed_table import KeyedTable, Row


class AgentsTable(KeyedTable):
    """Every agent: what it is, what it does now (from its hypothesis), its last words, spend and age.

    ``compact`` (the overview, beside the GPU panel) keeps the columns a supervisor scans; the
    agents screen shows them all."""

    COLUMNS = [
        ("agent", "Agent", 12),
        ("role", "Role", 10),
        ("backend", "Backend/model", 16),
        ("state", "State", 23),
        ("hyp", "Hyp", 5),
        ("last", "Last action", 24),
        ("tokens", "Tokens", 6),
        ("cost", "Cost", 6),
        ("age", "Seen", 7),
    ]
    COMPACT = ("agent", "state", "hyp", "last", "cost", "age")

    def __init__(self, compact: bool = False, **kwargs: object) -> None:
        self.compact = compact
        super().__init__([c for c in self.COLUMNS if not compact or c[0] in self.COMPACT], **kwargs)

    def show(self, state: LabState) -> None:
        c = theme_colors(self.app)
        rows: list[Row] = []
        for a in sorted(state.agents.values(), key=lambda a: a.agent_id):
            label, h = notify.agent_activity(a, state)  # an idle worker whose candidate is measured is waiting
            cells: dict[str, str | Text] = {
                "agent": a.agent_id,
                "role": a.role,
                "backend": f"{a.backend}{'/' + a.model if a.model else ''}",
                "state": Text(
                    label, style=c[AGENT_STATE_COLOR.get(label, AGENT_STATE_COLOR.get(a.state, "foreground"))]
                ),
                "hyp": h.hyp_id if h else a.hypothesis or "-",
                "last": last_action(a),
                "tokens": F.tokens(a.usage.tokens),
                "cost": F.usd(a.usage.cost_usd),
                # Against the log's clock, not now(): replays render the same, and live the 10 Hz tick moves it.
                "age": F.age(state.last_ts - a.last_seen) if a.last_seen else "-",
            }
            rows.append((a.agent_id, tuple(cells[key] for key, _, _ in self._column_spec)))
        self.sync(rows)


def last_action(a: S.AgentState) -> str:
    """The agent's newest words about what it does (its own text: control characters dropped)."""
    return agentlog.clean(a.last_error or a.detail or "-", 60)


def queue_order(state: LabState) -> list[S.HypothesisState]:
    """Open hypotheses first (waiting on a person, then by priority), finished ones after."""
    urgency = {S.AWAITING_HUMAN: 0, S.APPROVED: 1}

    def key(h: S.HypothesisState) -> tuple:
        open_ = h.status in S.OPEN_STATUSES
        return (0 if open_ else 1, urgency.get(h.status, 2), -h.priority, h.hyp_id)

    return sorted(state.hypotheses.values(), key=key)


class HypothesisQueue(KeyedTable):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(
            [
                ("id", "Hyp", 5),
                ("status", "Status", 14),
                ("prio", "Prio", 4),
                ("title", "Title", 22),
                ("agent", "Agent", 12),
            ],
            **kwargs,
        )

    def show(self, state: LabState) -> None:
        c = theme_colors(self.app)
        rows: list[Row] = []
        for h in queue_order(state):
            rows.append(
                (
                    h.hyp_id,
                    (
                        h.hyp_id,
                        Text(h.status, style=c[HYP_STATUS_COLOR.get(h.status, "foreground")]),
                        f"{h.priority:.2f}",
                        h.title[:48],
                        h.agent_id or "-",
                    ),
                )
            )
        self.sync(rows)


class Leaderboard(Vertical):
    """Measured candidates, best first, and a sparkline of the best metric over time."""

    DEFAULT_CSS = """
    Leaderboard { height: 1fr; }
    Leaderboard > #best-line { height: 1; }
    Leaderboard > Sparkline { height: 1; margin: 0 1; }
    """

    def compose(self) -> ComposeResult:
        yield Static(id="best-line")
        yield Sparkline([], id="best-spark")
        yield KeyedTable(
            [
                ("rank", "#", 2),
                ("hyp", "Hyp", 6),
                ("median", "Median", 7),
                ("effect", "vs base", 12),
                ("reps", "Reps", 4),
                ("spread", "Spread", 6),
                ("sig", "Sig", 3),
                ("status", "Status", 10),
                ("where", "Ran on", 18),
            ],
            id="board",
        )

    def show(self, state: LabState) -> None:
        inputs = (
            tuple(state.best_history),
            state.baseline_metric,
            state.baseline_sha,
            tuple(
                (h.hyp_id, h.status, h.base_sha, h.evidence.get("candidate_median"), runs_where(state, h.run_ids))
                for h in state.leaderboard()
            ),
        )
        if inputs == getattr(self, "_inputs", None):
            return
        self._inputs = inputs
        c = theme_colors(self.app)
        name = state.objective.get("name", "metric")
        arrow = "↓" if state.objective.get("direction", "minimize") == "minimize" else "↑"
        best = state.best_history[-1][1] if state.best_history else None
        line = Text.assemble(
            (f"{name} {arrow} ", "bold"),
            ("best ", c["muted"]),
            (F.metric(best), c["success"]),
            ("  baseline ", c["muted"]),
            F.metric(state.baseline_metric),
        )
        # Sparkline: lower is better for minimize, so plot the improvement to make "up" good.
        values = [v for _, v in state.best_history]
        if values and state.objective.get("direction", "minimize") == "minimize":
            values = [max(values) - v for v in values]
        if len(values) > 1:  # also inline, for small terminals where the Sparkline widget is hidden
            top = max(values) or 1.0
            line.append(
                "  " + "".join("▁▂▃▄▅▆▇█"[min(7, int(v / top * 7.999))] for v in values[-20:]), style=c["success"]
            )
        board = state.leaderboard()
        if any(h.status in S.OPEN_STATUSES and h.base_sha and h.base_sha != state.baseline_sha for h in board):
            line.append("  * measured on an older main", style=c["warning"])
        self.query_one("#best-line", Static).update(line)
        spark = self.query_one("#best-spark", Sparkline)
        spark.display = len(values) > 1
        spark.data = values
        rows: list[Row] = []
        for rank, h in enumerate(board, 1):
            e = h.evidence
            effect = e.get("effect")
            eff_style = c["success"] if (effect or 0) > 0 else c["error"]
            reps = f"{e.get('candidate_ok', '?')}/{e.get('candidate_runs', '?')}"
            # Measured against an older main: its "vs base" is not against today's main (re-measure: e on review).
            old = h.status in S.OPEN_STATUSES and bool(
                h.base_sha and state.baseline_sha and h.base_sha != state.baseline_sha
            )
            hyp = Text.assemble(h.hyp_id, ("*", f"bold {c['warning']}") if old else "")
            rows.append(
                (
                    h.hyp_id,
                    (
                        str(rank),
                        hyp,
                        F.metric(e.get("candidate_median")),
                        Text(F.effect(effect), style=eff_style),
                        reps,
                        F.metric(e.get("candidate_spread"), 3),
                        "yes" if e.get("significant") else "no",
                        Text(h.status, style=c[HYP_STATUS_COLOR.get(h.status, "foreground")]),
                        runs_where(state, h.run_ids),
                    ),
                )
            )
        self.query_one("#board", KeyedTable).sync(rows)


class EventFeed(Static):
    """The newest events, newest at the bottom. A tail view: it renders only as many lines as fit, so a
    burst of thousands of events costs one small render per tick (a DataTable's per-row removal did not)."""

    DEFAULT_CSS = """
    EventFeed { height: 1fr; padding: 0 1; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._shown: tuple[int, int, int] | None = None  # (last seq, height, width) rendered

    def show(self, state: LabState) -> None:
        height = max(self.size.height, 1)
        last = state.feed[-1].seq if state.feed else -1
        key = (last, height, self.size.width)
        if key == self._shown:
            return
        self._shown = key
        c = theme_colors(self.app)
        text = Text(no_wrap=True, overflow="ellipsis")
        for n, item in enumerate(state.feed[-height:]):
            if n:
                text.append("\n")
            style = (
                c["warning"]
                if item.kind.startswith(("decision.", "merge."))
                else (c["error"] if item.kind.endswith(("failed", "error", "exited", "refused")) else "")
            )
            text.append(f"{F.clock(item.ts)} ", style=c["muted"])
            text.append(f"{item.actor.removeprefix('agent:')[:12]:<12} ", style=c["primary"])
            text.append(item.text, style=style)
        self.update(text)

    def on_resize(self) -> None:
        # Rendered at the old height, the tail would be cut at the bottom (a Static shows its top lines):
        # draw again at the new one now, not at the next state.
        self._shown = None
        state = getattr(self.app, "lab_state", None)
        if isinstance(state, LabState):
            self.show(state)
