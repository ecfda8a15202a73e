"""The evidence a person approves: metric per repeat, baseline, effect and significance, verdict, warnings."""

from __future__ import annotations

import json
from typing import Any

from rich.table import Table
from rich.text import Text
from rich.console import Group

from labconsole.lab import gate
from labconsole.lab.report import runs_where
from labconsole.lab.state import HypothesisState, LabState
from labconsole.tui import format as F


def load_bundle(raw: bytes | None) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def is_stale(h: HypothesisState, state: LabState, bundle: dict[str, Any]) -> bool:
    """Measured against a parent that is no longer the baseline (main moved)."""
    if bundle.get("stale") or h.evidence.get("stale"):
        return True
    return bool(
        h.base_sha
        and state.baseline_sha
        and h.base_sha != state.baseline_sha
        and h.status in ("awaiting-human", "approved")
    )


def render(h: HypothesisState, state: LabState, bundle: dict[str, Any], c: dict[str, str]) -> Group:
    e = {**bundle, **h.evidence}
    name = state.objective.get("name", "metric")
    parts: list[Any] = []
    warnings: list[Text] = []
    if is_stale(h, state, bundle):
        warnings.append(
            Text(
                f"⚠ STALE BASELINE: measured on {F.short_sha(h.base_sha)}, main is now "
                f"{F.short_sha(state.baseline_sha)}; merging re-measures first",
                style=f"bold {c['warning']}",
            )
        )
    protected = list(e.get("protected_changes") or [])
    if protected:
        warnings.append(Text(f"⚠ PROTECTED FILES CHANGED: {', '.join(protected)}", style=f"bold {c['error']}"))
    tampering = list(e.get("run_tampering") or [])
    if tampering:
        warnings.append(Text(f"⚠ RUN TAMPERING: {'; '.join(tampering)}", style=f"bold {c['error']}"))
    bare = state.runs_without_sandbox(h.run_ids)
    if bare:
        warnings.append(
            Text(
                f"⚠ SANDBOX: DEGRADED: {len(bare)} run(s) ran without a sandbox; nothing contained them",
                style=f"bold {c['error']}",
            )
        )
    parts.extend(warnings)

    # Per-repeat metric table from the bundle's runs, else from the state's runs.
    runs = bundle.get("runs") or [
        {"role": r.role, "repeat": r.repeat, "status": r.status, "metric": r.metric, "duration_s": r.duration_s}
        for r in (state.runs.get(rid) for rid in h.run_ids)
        if r is not None
    ]
    table = Table(title=None, box=None, padding=(0, 1), show_edge=False, header_style="bold")
    table.add_column("repeat")
    table.add_column("baseline", justify="right")
    table.add_column("candidate", justify="right")
    by_rep: dict[int, dict[str, Any]] = {}
    for r in runs:
        by_rep.setdefault(int(r.get("repeat", 0)), {})[r.get("role", "?")] = r

    def cell(r: dict[str, Any] | None) -> Text:
        if r is None:
            return Text("-")
        if r.get("status") != "ok":
            return Text(str(r.get("status")), style=c["error"])
        return Text(F.metric(r.get("metric")))

    for rep in sorted(by_rep):
        table.add_row(str(rep + 1), cell(by_rep[rep].get("baseline")), cell(by_rep[rep].get("candidate")))
    table.add_row(
        Text("median", style="bold"),
        F.metric(e.get("baseline_median")),
        Text(F.metric(e.get("candidate_median")), style="bold"),
    )
    table.add_row("spread", F.metric(e.get("baseline_spread"), 3), F.metric(e.get("candidate_spread"), 3))
    parts.append(Text(f"{name} ({state.objective.get('direction', 'minimize')})", style="bold"))
    parts.append(table)
    # Where the runs ran (executor and node or job): a comparison means most when both sides shared a machine.
    parts.append(Text.assemble(("ran on ", c["muted"]), runs_where(state, h.run_ids)))

    effect = e.get("effect")
    sig = bool(e.get("significant"))
    interval = F.effect_interval(e.get("ci_low"), e.get("ci_high"), e.get("ci_level"))
    parts.append(
        Text.assemble(
            "effect ",
            (F.effect(effect), c["success"] if (effect or 0) > 0 else c["error"]),
            f" ({'lower' if state.objective.get('direction', 'minimize') == 'minimize' else 'higher'} {name} is better)",
            (f"  {interval}" if interval else "", c["muted"]),
            (f"  decision: {e['decision']}" if e.get("decision") else "", "bold"),
            "  significance ",
            ("significant" if sig else "not significant", c["success"] if sig else c["warning"]),
            ("  (every candidate repeat beats every baseline repeat)" if sig else ""),
        )
    )
    if h.reviews:
        last = h.reviews[-1]
        vstyle = {"pass": c["success"], "flag": c["warning"], "reject": c["error"]}.get(last.verdict, "")
        parts.append(
            Text.assemble("reviewer ", (last.reviewer, "bold"), ": ", (last.verdict.upper(), f"bold {vstyle}"))
        )
        for reason in last.reasons:
            parts.append(Text(f"  · {reason}"))
    else:
        parts.append(Text("reviewer: no verdict yet", style=c["warning"]))
    flags = gate.needs_confirmation(h)
    if flags and h.status == "awaiting-human":
        parts.append(Text("approving asks for confirmation: " + "; ".join(flags), style=c["warning"]))
    if h.approval is not None:
        d = h.approval
        parts.append(
            Text(
                f"approved by {d.who} at {F.clock(d.ts)}: {d.reason or '-'} (sha {F.short_sha(d.sha)})",
                style=c["success"],
            )
        )
    parts.append(
        Text(
            f"commit {F.short_sha(h.sha)} on {h.branch or '-'} · parent {F.short_sha(h.base_sha)} · "
            f"evidence {F.short_sha(h.evidence_hash)}",
            style=c["muted"],
        )
    )
    if h.rationale:
        parts.append(Text(f"why: {h.rationale}", style=c["muted"]))
    return Group(*parts)
