"""The lab report, rendered from the session log alone (the reporter's job)."""

from __future__ import annotations

import time
from pathlib import Path

from labconsole.lab import state as S
from labconsole.lab.state import LabState


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def render_report(state: LabState, signers: dict[int, str] | None = None) -> str:
    """``signers``: decision seq → who signed it (events/signing.signed_by); the log's name where absent."""
    obj = state.objective
    lines = [
        f"# Lab report: {state.lab_name or 'lab'} — session {state.session_id}",
        "",
        f"Objective: **{obj.get('name', '?')}** ({obj.get('direction', '?')}), "
        f"measured by the console with `{obj.get('command', '')}`, {obj.get('repeats', '?')} repeats interleaved with the baseline.",
        f"Baseline commit: `{(state.baseline_sha or '')[:12]}`; baseline {obj.get('name', 'metric')}: {_fmt(state.baseline_metric)}.",
        f"Events in the log: {state.last_seq + 1}. Generated {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())} from the log alone.",
        "",
        "## Leaderboard (measured by the console)",
        "",
        "| rank | hypothesis | change | median | baseline | effect | spread | verdict | status |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for rank, h in enumerate(state.leaderboard(), 1):
        ev = h.evidence
        verdict = h.reviews[-1].verdict if h.reviews else "-"
        effect = ev.get("effect")
        lines.append(
            f"| {rank} | {h.hyp_id} | {h.title} | {_fmt(ev.get('candidate_median'))} | {_fmt(ev.get('baseline_median'))} "
            f"| {'-' if effect is None else f'{effect:+.2%}'} | {_fmt(ev.get('candidate_spread'))} | {verdict} | {h.status} |")
    counts: dict[str, int] = {}
    for h in state.hypotheses.values():
        counts[h.status] = counts.get(h.status, 0) + 1
    lines += ["", "## Hypotheses by status", ""]
    lines += [f"- {status}: {n}" for status, n in sorted(counts.items())]
    failed_runs = [r for r in state.runs.values() if r.status != "ok"]
    lines += ["", f"## Failed runs ({len(failed_runs)}) — kept visible", ""]
    lines += [f"- {r.run_id} ({r.role}, {r.commit[:8]}, repeat {r.repeat}): {r.status} {r.error}".rstrip()
              for r in failed_runs] or ["- none"]
    dupes = [h for h in state.hypotheses.values() if h.status == S.DUPLICATE]
    lines += ["", f"## Duplicates caught by the planner ({len(dupes)})", ""]
    lines += [f"- {h.hyp_id} “{h.title}” = {h.duplicate_of}" for h in dupes] or ["- none"]
    decided = [(h, d) for h in state.hypotheses.values() for d in h.decisions]
    lines += ["", "## Human decisions", ""]
    lines += [f"- {h.hyp_id}: {d.kind} by {(signers or {}).get(d.seq, d.who)} ({d.reason or 'no reason given'})"
              + (f", commit `{d.sha[:12]}`, evidence `{(d.evidence_hash or '')[:12]}`" if d.sha else "")
              for h, d in decided] or ["- none yet: candidates await review (`labconsole review list`)"]
    spent = state.budget.used
    lines += ["", "## Spend", "",
              f"- tokens: {int(spent.get('tokens', 0))}, cost: ${spent.get('usd', 0.0):.4f}, GPU-hours: {spent.get('gpu_hours', 0.0):.4f}",
              f"- agents: {len(state.agents)}, restarts: {sum(a.restarts for a in state.agents.values())}",
              f"- GPU idle between leased runs: {state.gpu_idle_seconds():.1f} s"]
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
