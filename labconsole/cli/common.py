"""Helpers shared by the CLI commands: finding the lab, opening sessions, printing state."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from labconsole.lab.session import find_lab_root
from labconsole.lab.state import LabState


def add_lab_args(parser: argparse.ArgumentParser, session: bool = True) -> None:
    parser.add_argument("--lab", type=Path, default=None, help="the lab directory (default: the nearest lab.toml)")
    if session:
        parser.add_argument("--session", default=None, help="session id or path (default: the newest)")


def lab_root(args: argparse.Namespace) -> Path:
    return Path(args.lab).resolve() if getattr(args, "lab", None) else find_lab_root()


def fmt_metric(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def leaderboard_lines(state: LabState) -> list[str]:
    obj = state.objective.get("name", "metric")
    lines = [f"{'hyp':<6} {'status':<15} {obj:>10} {'baseline':>10} {'effect':>8} {'sig':>4} {'verdict':<7} change"]
    for h in state.leaderboard():
        ev = h.evidence
        effect = ev.get("effect")
        verdict = h.reviews[-1].verdict if h.reviews else "-"
        lines.append(f"{h.hyp_id:<6} {h.status:<15} {fmt_metric(ev.get('candidate_median')):>10} "
                     f"{fmt_metric(ev.get('baseline_median')):>10} "
                     f"{'-' if effect is None else f'{effect:+.1%}':>8} {'yes' if ev.get('significant') else 'no':>4} "
                     f"{verdict:<7} {h.title}")
    others = [h for h in state.hypotheses.values() if h.evidence.get("candidate_median") is None]
    for h in sorted(others, key=lambda h: h.hyp_id):
        extra = f" (= {h.duplicate_of})" if h.duplicate_of else (f" ({h.failure})" if h.failure else "")
        lines.append(f"{h.hyp_id:<6} {h.status:<15} {'-':>10} {'-':>10} {'-':>8} {'-':>4} {'-':<7} {h.title}{extra}")
    return lines


def is_tty() -> bool:
    return sys.stdout.isatty() and sys.stdin.isatty()
