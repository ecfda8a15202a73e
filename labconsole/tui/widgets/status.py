"""One-line status widgets: the header (mode badge, session, log clock), the budget bar, the GPU panel."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static

from labconsole.gpu.snapshot import GpuSnapshot
from labconsole.lab.state import LabState
from labconsole.tui import format as F
from labconsole.tui.colors import theme_colors


class CachedStatic(Static):
    """A Static that skips ``update`` when its inputs did not change: at 10 renders a second under load,
    each needless update costs a refresh (and, for auto-height widgets, a layout)."""

    _inputs: object = None

    def changed(self, inputs: object) -> bool:
        if inputs == self._inputs:
            return False
        self._inputs = inputs
        return True

    def on_resize(self) -> None:
        self._inputs = None


class LabHeader(CachedStatic):
    """Says plainly what this is (LIVE, ATTACHED, READ-ONLY or REPLAY) and what the lab is doing right now.

    Live, ``now`` is the wall clock: the app re-shows the header every second, so it ticks without
    events and a quiet lab does not look hung ("last event 40 s ago" says it is quiet, not stuck).
    In replay ``now`` is None and the clock is the event's, so replays render the same every time."""

    DEFAULT_CSS = """
    LabHeader { dock: top; height: 1; background: $panel; }
    """

    def show(
        self,
        state: LabState,
        mode: str,
        screen_title: str,
        extra: str = "",
        *,
        now: float | None = None,
        gpu: GpuSnapshot | None = None,
    ) -> None:
        pulse = pulse_parts(state, now, gpu)
        degraded = state.sandbox is not None and state.sandbox.degraded
        if not self.changed(
            (
                state.lab_name,
                state.session_id,
                F.clock(state.last_ts),
                state.stopped,
                mode,
                screen_title,
                extra,
                self.size.width,
                pulse,
                degraded,
            )
        ):
            return
        c = theme_colors(self.app)
        badge_bg = {"REPLAY": c["warning"], "READ-ONLY": c["accent"], "LIVE": c["success"]}.get(mode, c["primary"])
        text = Text.assemble(
            (f" {mode} ", f"bold black on {badge_bg}"),
            " ",
            # Before anything the width may cut: the runs of this session are not contained.
            (" SANDBOX: DEGRADED " if degraded else "", f"bold black on {c['error']}"),
            " " if degraded else "",
            ("LabConsole", "bold"),
            f" · {state.lab_name or '-'} · {state.session_id or '-'} · ",
            (screen_title, "bold"),
            f" · {F.clock(now if now is not None else state.last_ts)} UTC",
            *[f" · {part}" for part in pulse],
            (f" · {extra}" if extra else "", c["warning"]),
            (" · STOPPED" if state.stopped else "", c["error"]),
        )
        text.truncate(max(self.size.width, 20), overflow="ellipsis")
        self.update(text)


def pulse_parts(state: LabState, now: float | None, gpu: GpuSnapshot | None) -> tuple[str, ...]:
    """Runs in flight, GPU use, spend against the budget and, live, how long the log has been quiet."""
    parts = [f"{sum(1 for r in state.runs.values() if r.status == 'running')} runs"]
    snap = gpu if gpu is not None else logged_snapshot(state)
    utils = [g.util_pct for g in (snap.gpus if snap is not None and snap.available else []) if g.util_pct is not None]
    if utils:
        parts.append(f"GPU {sum(utils) / len(utils):.0f}%")
    usd, limit = state.budget.used.get("usd", 0.0), state.budget.limits.get("usd")
    parts.append(f"{F.usd(usd)}/{F.usd(limit)}" if limit else F.usd(usd))
    if now is not None and state.last_ts and now - state.last_ts >= 10:
        parts.append(f"last event {F.age(now - state.last_ts)} ago")
    return tuple(parts)


class NeedsYouBanner(CachedStatic):
    """What waits on the person, on every screen while anything does; hidden otherwise."""

    DEFAULT_CSS = """
    NeedsYouBanner { height: 1; display: none; }
    NeedsYouBanner.-active { display: block; }
    """

    def show(self, line: str, count: int) -> None:
        if not self.changed((line, count, self.size.width)):
            return
        self.set_class(bool(line), "-active")
        c = theme_colors(self.app)
        text = Text.assemble(
            (f" NEEDS YOU {count} ", f"bold black on {c['warning']}"),
            " ",
            (line, c["warning"]),
            no_wrap=True,
            overflow="ellipsis",
        )
        self.update(text)


class BudgetBar(CachedStatic):
    DEFAULT_CSS = """
    BudgetBar { height: 1; }
    """

    def show(self, state: LabState) -> None:
        b = state.budget
        if not self.changed(
            (
                tuple(sorted(b.limits.items())),
                round(b.used.get("usd", 0), 2),
                round(b.used.get("tokens", 0), -2),
                round(b.used.get("gpu_hours", 0), 2),
                tuple(sorted(b.exhausted)),
            )
        ):
            return
        c = theme_colors(self.app)
        parts: list[Any] = [("budget ", "bold")]
        labels = {"usd": ("USD", F.usd), "tokens": ("tokens", F.tokens), "gpu_hours": ("GPU-h", lambda x: f"{x:.2f}")}
        for res, (label, fmt) in labels.items():
            used = b.used.get(res, 0.0)
            frac = b.fraction(res)
            if frac is None:
                parts.append(f" {label} {fmt(used)} (no limit) ")
                continue
            style = c["error"] if frac >= 1 else c["warning"] if frac >= 0.8 else c["success"]
            limit = b.limits[res]
            parts += [f" {label} {fmt(used)}/{fmt(limit)} ", (F.bar(frac, 8), style), (f" {frac:.0%} ", style)]
        if b.exhausted:
            parts.append((" EXHAUSTED: agents paused (B resumes) ", f"bold {c['error']}"))
        self.update(Text.assemble(*parts, no_wrap=True, overflow="ellipsis"))


class GpuPanel(CachedStatic):
    """Live telemetry when a sampler is attached, else the last gpu.sample events, else 'no GPU data'.

    Both arrive as :class:`GpuSnapshot` (logged samples are rebuilt with ``from_event_data``). Samples of
    cluster nodes carry a ``node``: then each node's latest sample is shown under its name.
    """

    DEFAULT_CSS = """
    GpuPanel { height: 1fr; padding: 0 1; }
    """

    def show(self, state: LabState, live: GpuSnapshot | None = None) -> None:
        last = state.gpu_samples[-1].get("ts") if state.gpu_samples else None
        leased = [r for r in state.runs.values() if r.gpus]
        idle = state.gpu_idle_seconds()
        if not self.changed((id(live), last, len(leased), idle)):
            return
        c = theme_colors(self.app)
        text = Text()
        text.append("GPU", style="bold")
        nodes = latest_per_node(state.gpu_samples) if live is None else {}
        if nodes:
            for node, sample in nodes.items():
                text.append(f"\n{node}", style=f"bold {c['primary']}")
                node_snap = GpuSnapshot.from_event_data(sample)
                if not node_snap.available or not node_snap.gpus:
                    text.append(f"  {node_snap.reason or 'no GPU data'}", style=c["muted"])
                    continue
                key = None if node == THIS_MACHINE else node
                history = [GpuSnapshot.from_event_data(s) for s in state.gpu_samples[-60:] if s.get("node") == key]
                self._gpu_lines(text, node_snap, history[-30:], c)
        else:
            snap = live if live is not None else logged_snapshot(state)
            if snap is None or not snap.available or not snap.gpus:
                reason = (snap.reason if snap is not None else None) or "no telemetry samples in this session"
                text.append("  no GPU data", style=f"bold {c['warning']}")
                text.append(f"\n{reason}", style=c["muted"])
                self.update(text)
                return
            self._gpu_lines(text, snap, [GpuSnapshot.from_event_data(s) for s in state.gpu_samples[-30:]], c)
        if leased:  # what the scheduler lost between leased runs (GPU leases, issue 5)
            text.append(f"\n{len(leased)} leased runs · GPUs idle between them {idle:.1f} s", style=c["muted"])
        self.update(text)

    @staticmethod
    def _gpu_lines(text: Text, snap: GpuSnapshot, history: list[GpuSnapshot], c: dict[str, str]) -> None:
        for g in snap.gpus:
            util = g.util_pct
            frac = (util or 0) / 100
            style = c["error"] if frac > 0.95 else c["success"] if frac > 0.3 else c["warning"]
            text.append(f"\n{g.index} ")
            text.append(F.bar(frac, 10), style=style)
            text.append(f" {F.percent(frac, signed=False) if util is not None else 'n/a':>4}")
            mem = f" mem {F.size_bytes(g.mem_used_bytes)}/{F.size_bytes(g.mem_total_bytes)}"
            text.append(mem, style=c["muted"])
            if g.power_w is not None:
                text.append(f" {g.power_w:.0f}W", style=c["muted"])
            if g.temperature_c is not None:
                text.append(f" {g.temperature_c}°C", style=c["muted"])
            owners = sorted({p.owner or str(p.pid) for p in g.processes})
            if owners:
                text.append("  " + ", ".join(owners[:3]))
            series = [next((x.util_pct or 0 for x in h.gpus if x.index == g.index), 0) for h in history]
            if len(series) > 1:
                text.append("\n  " + spark(series), style=style)


THIS_MACHINE = "(this machine)"


def latest_per_node(samples: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The newest logged sample of each cluster node, by node name; empty when no sample names a node
    (the console's own machine: shown as before)."""
    latest: dict[str, dict[str, Any]] = {}
    own: dict[str, Any] | None = None
    for sample in samples:
        node = sample.get("node")
        if isinstance(node, str) and node:
            latest[node] = sample
        else:
            own = sample
    if latest and own is not None:  # the console's machine sampled too: one more group, named as such
        latest[THIS_MACHINE] = own
    return dict(sorted(latest.items()))


def logged_snapshot(state: LabState) -> GpuSnapshot | None:
    """The newest ``gpu.sample`` of the session log as a snapshot (replay, or before the sampler's first)."""
    return GpuSnapshot.from_event_data(state.gpu_samples[-1]) if state.gpu_samples else None


def spark(values: list[float], top: float = 100.0) -> str:
    blocks = "▁▂▃▄▅▆▇█"
    return "".join(blocks[min(7, int((v or 0) / top * 7.999))] for v in values)
