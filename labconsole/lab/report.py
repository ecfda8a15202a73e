"""The lab report, rendered from the session log alone (the reporter's job)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from labconsole.core.stats import Comparison
from labconsole.lab import state as S
from labconsole.lab.selection import SessionGate, confirmation_of, session_gate
from labconsole.lab.state import LabState


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _effect(cmp: Comparison | None, ev: dict[str, Any]) -> str:
    if cmp is None or cmp.effect is None:
        effect = ev.get("effect")  # evidence older than the gate's statistics: no interval
        return "-" if effect is None else f"{effect:+.2%}"
    if cmp.ci_low is None or cmp.ci_high is None:
        return f"{cmp.effect:+.2%}"
    return f"{cmp.effect:+.2%} [{cmp.ci_low:+.2%}, {cmp.ci_high:+.2%}]"


def _gate_summary(state: LabState, gate: SessionGate) -> str:
    noise = state.noise_floor.sigma
    floor = (
        "not measured yet"
        if noise is None
        else f"{noise:.2%} of the metric per run, from {state.noise_floor.groups} baseline measurement(s)"
    )
    return (
        f"Session noise floor: {floor}. Effects are relative, positive = better. A candidate is **improved** "
        f"when its interval excludes 0, its effect reaches the threshold (min_effect, else the noise floor), "
        f"it survives Benjamini–Hochberg over the session's {len(gate.comparisons)} measured candidate(s), "
        f"and — when it would be the best — a fresh re-measure against main agrees; never with one repeat."
    )


def _sandbox_summary(state: LabState) -> str:
    """The session's Sandbox line: how runs were contained, what the lab let in by name, and how many ran bare."""
    info = (
        "not recorded (a session from before runs were sandboxed)"
        if state.sandbox is None
        else state.sandbox.line().removeprefix("sandbox: ")
    )
    bare = state.runs_without_sandbox()
    if state.sandbox is not None and state.sandbox.degraded:
        info = f"**{info}**"
    if bare:
        info += (
            f". **{len(bare)} of {len(state.runs)} run(s) ran without a sandbox** (marked *sandbox: degraded*; "
            f"their candidates are flagged sandbox-degraded)"
        )
    return f"Sandbox: {info}."


def run_where(run: S.RunState) -> str:
    """Where a run ran: a remote executor's node or job as it logged it ("ray:10.0.0.5/ab12…",
    "hf-jobs:<id>"), else its executor and GPUs ("local:gpu0,1")."""
    if run.where:
        return run.where if run.where.startswith(run.executor) else f"{run.executor} {run.where}"
    gpus = ":gpu" + ",".join(str(g) for g in run.gpus) if run.gpus else ""
    return f"{run.executor}{gpus}"


def _remote(run: S.RunState) -> str:
    """ ", on <node or job>" for a run that ran elsewhere; nothing for a local one (it ran here)."""
    return f", on {run_where(run)}" if run.where or run.executor != "local" else ""


def runs_where(state: LabState, run_ids: list[str]) -> str:
    """The distinct places of these runs, most used first, with a count where more than one ran there."""
    counts: dict[str, int] = {}
    for rid in run_ids:
        run = state.runs.get(rid)
        if run is not None:
            place = run_where(run)
            counts[place] = counts.get(place, 0) + 1
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{place} ×{n}" if n > 1 else place for place, n in ordered) or "-"


def _unsandboxed(state: LabState, run_ids: list[str]) -> str:
    return " *(sandbox: degraded)*" if state.runs_without_sandbox(run_ids) else ""


def render_report(state: LabState, signers: dict[int, str] | None = None) -> str:
    """``signers``: decision seq → who signed it (events/signing.signed_by); the log's name where absent."""
    obj = state.objective
    gate = session_gate(state)
    lines = [
        f"# Lab report: {state.lab_name or 'lab'} — session {state.session_id}",
        "",
        f"Objective: **{obj.get('name', '?')}** ({obj.get('direction', '?')}), "
        f"measured by the console with `{obj.get('command', '')}`, {obj.get('repeats', '?')} repeats interleaved with the baseline "
        f"(more, adaptively, while a decision is open).",
        f"Baseline commit: `{(state.baseline_sha or '')[:12]}`; baseline {obj.get('name', 'metric')}: {_fmt(state.baseline_metric)}.",
        f"Events in the log: {state.last_seq + 1}. Generated {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())} from the log alone.",
        _sandbox_summary(state),
        *(
            [f"**Lab rules changed** since session {state.rules_changed_since}: {'; '.join(state.rules_changed)}."]
            if state.rules_changed
            else []
        ),
        "",
        "## Leaderboard (measured by the console)",
        "",
        _gate_summary(state, gate),
        "",
        "| rank | hypothesis | change | median | baseline | effect (better) ± 95% | repeats | decision | verdict | status | ran on |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for rank, h in enumerate(state.leaderboard(), 1):
        ev = h.evidence
        verdict = h.reviews[-1].verdict if h.reviews else "-"
        lines.append(
            f"| {rank} | {h.hyp_id} | {h.title}{_unsandboxed(state, h.run_ids)} | {_fmt(ev.get('candidate_median'))} | {_fmt(ev.get('baseline_median'))} "
            f"| {_effect(gate.comparisons.get(h.hyp_id), ev)} | {ev.get('repeats_used', '-')} | {gate.label(h.hyp_id)} "
            f"| {verdict} | {h.status} | {runs_where(state, h.run_ids)} |"
        )
    confirmed = [h for h in state.hypotheses.values() if confirmation_of(h) is not None]
    if confirmed:
        lines += ["", "Re-measured against main before being shown as the session's best:", ""]
        for h in confirmed:
            fresh = confirmation_of(h)
            assert fresh is not None
            lines.append(
                f"- {h.hyp_id} on main `{str(h.confirmation.get('main_sha', ''))[:12]}`: "
                f"{fresh.line(obj.get('name', 'metric'))} → **{gate.label(h.hyp_id)}**"
            )
    flagged = [(h, f) for h in state.hypotheses.values() for f in h.evidence.get("flags") or [] if isinstance(f, dict)]
    lines += ["", f"## Flagged changes ({len(flagged)}) — never recommended; approval needs an explicit override", ""]
    lines += [
        f"- {h.hyp_id}: {f.get('flag')}: {', '.join(str(p) for p in f.get('paths') or [])}" for h, f in flagged
    ] or ["- none"]
    lines += [
        f"- {h.hyp_id} would change the lab's rules: {'; '.join(str(x) for x in h.evidence['rules_diff'])}"
        for h in state.hypotheses.values()
        if h.evidence.get("rules_diff")
    ]
    counts: dict[str, int] = {}
    for h in state.hypotheses.values():
        counts[h.status] = counts.get(h.status, 0) + 1
    lines += ["", "## Hypotheses by status", ""]
    lines += [f"- {status}: {n}" for status, n in sorted(counts.items())]
    failed_runs = [r for r in state.runs.values() if r.status != "ok"]
    lines += ["", f"## Failed runs ({len(failed_runs)}) — kept visible", ""]
    lines += [
        f"- {r.run_id} ({r.role}, {r.commit[:8]}, repeat {r.repeat}{_remote(r)}): {r.status} {r.error}".rstrip()
        + _unsandboxed(state, [r.run_id])
        for r in failed_runs
    ] or ["- none"]
    dupes = [h for h in state.hypotheses.values() if h.status == S.DUPLICATE]
    lines += ["", f"## Duplicates caught by the planner ({len(dupes)})", ""]
    lines += [f"- {h.hyp_id} “{h.title}” = {h.duplicate_of}" for h in dupes] or ["- none"]
    decided = [(h, d) for h in state.hypotheses.values() for d in h.decisions]
    lines += ["", "## Human decisions", ""]
    lines += [
        f"- {h.hyp_id}: {d.kind} by {(signers or {}).get(d.seq, d.who)}"
        + (f" OVERRIDING {', '.join(d.overrides)}" if d.overrides else "")
        + f" ({d.reason or 'no reason given'})"
        + (f", commit `{d.sha[:12]}`, evidence `{(d.evidence_hash or '')[:12]}`" if d.sha else "")
        for h, d in decided
    ] or ["- none yet: candidates await review (`labconsole review list`)"]
    spent = state.budget.used
    lines += [
        "",
        "## Spend",
        "",
        f"- tokens: {int(spent.get('tokens', 0))}, cost: ${spent.get('usd', 0.0):.4f}, GPU-hours: {spent.get('gpu_hours', 0.0):.4f}",
        f"- agents: {len(state.agents)}, restarts: {sum(a.restarts for a in state.agents.values())}",
        f"- GPU idle between leased runs: {state.gpu_idle_seconds():.1f} s",
    ]
    return "\n".join(lines) + "\n"


def write_report(session_dir: Path, out: Path) -> Path:
    from labconsole.lab.session import final_state

    from labconsole.events.signing import lab_trust, signed_by

    state, _ = final_state(session_dir)
    seqs = [d.seq for h in state.hypotheses.values() for d in h.decisions]
    signers = signed_by(session_dir, seqs, lab_trust(Path(session_dir).resolve().parent.parent))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text(render_report(state, signers), encoding="utf-8")
    tmp.replace(out)
    return out
