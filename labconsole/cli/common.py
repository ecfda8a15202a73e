"""Helpers shared by the CLI commands: finding the lab, opening sessions, printing state."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from collections.abc import Callable

from labconsole.core.stats import Comparison
from labconsole.errors import LabError
from labconsole.lab.selection import SessionGate, confirmation_of, session_gate
from labconsole.lab.session import find_lab_root, resolve_session
from labconsole.lab.state import HypothesisState, LabState, RunState


def command(
    sub: argparse._SubParsersAction,
    name: str,
    help: str,
    func: Callable[[argparse.Namespace], int],
    *,
    lab: bool = False,
) -> argparse.ArgumentParser:
    """A subcommand that runs ``func``; with ``lab``, it also takes ``--lab`` and ``--session``."""
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help)
    parser.set_defaults(func=func)
    if lab:
        add_lab_args(parser)
    return parser


def command_group(sub: argparse._SubParsersAction, name: str, help: str) -> argparse._SubParsersAction:
    """A subcommand made of actions (``labconsole NAME ACTION``); one of them must be named."""
    group = sub.add_parser(name, help=help)
    return group.add_subparsers(dest="action", metavar="ACTION", required=True)


def flag(parser: argparse.ArgumentParser, name: str, help: str) -> None:
    """A switch that is off unless given (``args.<name>`` is then True)."""
    parser.add_argument(name, action="store_true", help=help)


def add_lab_args(parser: argparse.ArgumentParser, session: bool = True) -> None:
    parser.add_argument("--lab", type=Path, default=None, help="the lab directory (default: the nearest lab.toml)")
    if session:
        parser.add_argument("--session", default=None, help="session id or path (default: the newest)")


def lab_root(args: argparse.Namespace) -> Path:
    return Path(args.lab).resolve() if getattr(args, "lab", None) else find_lab_root()


def running_session(args: argparse.Namespace, how_to_start: str) -> tuple[Path, Path]:
    """The lab root and the ``--session`` a console is running now; else a LabError that says ``how_to_start`` one."""
    from labconsole.events.log import session_lock_holder

    root = lab_root(args)
    session_dir = resolve_session(root, args.session)
    if not session_lock_holder(session_dir):
        raise LabError(
            f"no console is running session {session_dir.name}: {how_to_start}, "
            f"or look back with `labconsole replay {session_dir.name}`"
        )
    return root, session_dir


def fmt_metric(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def gate_line(state: LabState, gate: SessionGate, h: HypothesisState) -> str:
    """One line a person reads: the direction, effect ± interval, repeats, noise floor and the session's label.

    e.g. ``val_bpb 1.83 → 1.79, 2.1% better ± 0.6% (n=4, noise 0.3%): improved``. The label is the
    decision after selection over the session and the best's confirmation (lab/selection.py).
    """
    name = state.objective.get("name", "metric")
    cmp = gate.comparisons.get(h.hyp_id)
    if cmp is None:  # evidence older than the gate's statistics: say so rather than guess
        return f"{name} {fmt_metric(h.evidence.get('baseline_median'))} → {fmt_metric(h.evidence.get('candidate_median'))} (no interval recorded)"
    line = dataclasses.replace(cmp, decision=gate.label(h.hyp_id)).line(name)
    fresh = confirmation_of(h)
    if fresh is not None:
        line += f"; re-measured against main {str(h.confirmation.get('main_sha', ''))[:8]}: {fresh.line(name)}"
    return line


def sandbox_line(state: LabState) -> str:
    """How the session's runs are contained (its ``sandbox.status``), as a person reads it."""
    if state.sandbox is None:
        return "sandbox: not recorded (a session from before runs were sandboxed)"
    return state.sandbox.line()


def unsandboxed_mark(state: LabState, h: HypothesisState) -> str:
    """`` [sandbox: degraded]`` after a candidate any of whose runs ran without a sandbox."""
    return " [sandbox: degraded]" if state.runs_without_sandbox(h.run_ids) else ""


def run_marks(run: RunState | None) -> str:
    """What a run line adds about containment: ``sandbox: degraded`` and the variables the lab passed it."""
    if run is None:
        return ""
    marks = ["sandbox: degraded"] if run.degraded else []
    if run.lab_env:
        marks.append(f"env: {', '.join(run.lab_env)}")
    return f"  [{'; '.join(marks)}]" if marks else ""


def effect_text(cmp: Comparison | None) -> str:
    """``+2.1% ± 0.6%`` (positive = better), or ``-`` without a comparison."""
    if cmp is None or cmp.effect is None:
        return "-"
    if cmp.ci_low is None or cmp.ci_high is None:
        return f"{cmp.effect:+.1%}"
    return f"{cmp.effect:+.1%} ± {(cmp.ci_high - cmp.ci_low) / 2:.1%}"


def leaderboard_lines(state: LabState) -> list[str]:
    obj = state.objective.get("name", "metric")
    gate = session_gate(state)
    noise = state.noise_floor.sigma
    lines = [
        f"session noise floor: {'not measured yet' if noise is None else f'{noise:.2%} of the metric per run'}",
        f"{'hyp':<6} {'status':<15} {obj:>10} {'baseline':>10} {'effect (better)':>16} {'n':>3} "
        f"{'decision':<14} {'verdict':<7} change",
    ]
    for h in state.leaderboard():
        ev = h.evidence
        cmp = gate.comparisons.get(h.hyp_id)
        verdict = h.reviews[-1].verdict if h.reviews else "-"
        decision = gate.label(h.hyp_id).replace(" (awaiting confirmation)", "?")
        n = ev.get("repeats_used", "-")
        lines.append(
            f"{h.hyp_id:<6} {h.status:<15} {fmt_metric(ev.get('candidate_median')):>10} "
            f"{fmt_metric(ev.get('baseline_median')):>10} {effect_text(cmp):>16} {n:>3} "
            f"{decision:<14} {verdict:<7} {h.title}{unsandboxed_mark(state, h)}"
        )
    others = [h for h in state.hypotheses.values() if h.evidence.get("candidate_median") is None]
    for h in sorted(others, key=lambda h: h.hyp_id):
        extra = f" (= {h.duplicate_of})" if h.duplicate_of else (f" ({h.failure})" if h.failure else "")
        lines.append(
            f"{h.hyp_id:<6} {h.status:<15} {'-':>10} {'-':>10} {'-':>16} {'-':>3} {'-':<14} {'-':<7} {h.title}{extra}"
        )
    if gate.awaiting:
        lines.append(
            f"?: improved on its own measurement, awaiting its re-measure against main ({', '.join(gate.awaiting)})"
        )
    return lines


def is_tty() -> bool:
    return sys.stdout.isatty() and sys.stdin.isatty()
