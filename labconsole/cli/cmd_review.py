"""``labconsole review list|show|approve|reject`` and ``labconsole merge``: the human gate from the shell."""

from __future__ import annotations

import argparse
import json

from labconsole.cli.common import (
    command,
    command_group,
    flag,
    fmt_metric,
    gate_line,
    lab_root,
    leaderboard_lines,
    run_marks,
    sandbox_line,
)
from labconsole.core.printable import printable
from labconsole.errors import GateError, LabError
from labconsole.events.log import get_blob, session_lock_holder
from labconsole.events.signing import lab_trust, signed_by
from labconsole.gpu.bench_evidence import bench_table
from labconsole.lab import gate
from labconsole.lab.commands import Approve, Merge, Reject, Remeasure
from labconsole.lab.control import ControlClient
from labconsole.lab.selection import session_gate
from labconsole.lab.service import Lab
from labconsole.lab.session import final_state, resolve_session
from labconsole.lab.state import HypothesisState


def register(sub: argparse._SubParsersAction) -> None:
    actions = command_group(sub, "review", "the human gate: list, show, approve or reject candidates")

    p = command(actions, "list", "candidates awaiting review, and the leaderboard", cmd_list, lab=True)
    flag(p, "--all", "every hypothesis, not only those awaiting review")

    p = command(actions, "show", "one candidate's evidence, verdict and diff", cmd_show, lab=True)
    p.add_argument("hyp")
    flag(p, "--json", "print the evidence bundle as JSON")

    p = command(actions, "approve", "approve a candidate's measured commit", cmd_approve, lab=True)
    p.add_argument("hyp")
    p.add_argument("--reason", default="", help="why (goes to the log)")
    p.add_argument("--who", default=None, help="your name in the log (default: your user name)")
    flag(p, "--yes", "approve even though the reviewer flagged something")
    flag(
        p,
        "--override-outside-editable",
        "approve a candidate that changes files outside [objective] editable (needs --reason)",
    )
    p.add_argument(
        "--override",
        action="append",
        default=[],
        metavar="FLAG",
        help="approve over a flagged change (e.g. changes-lab-rules, startup-hook); repeat per flag; needs --reason",
    )

    p = command(actions, "reject", "reject a candidate", cmd_reject, lab=True)
    p.add_argument("hyp")
    p.add_argument("--reason", required=True, help="why (the planner will not repeat it)")
    p.add_argument("--who", default=None)

    about = "measure a candidate again on the current main (after main moved)"
    command(actions, "remeasure", about, cmd_remeasure, lab=True).add_argument("hyp")

    merge = command(sub, "merge", "merge an approved candidate into main", cmd_merge, lab=True)
    merge.add_argument("hyp")
    merge.add_argument("--who", default=None)
    flag(
        merge,
        "--confirm-rules-change",
        "merge a candidate that changes the lab's rules (lab.toml, role specs, skills), "
        "after reading the change `review show` prints",
    )


def _open(args: argparse.Namespace) -> Lab:
    return Lab.open_session(lab_root(args), args.session)


class _View:
    """Read-only access to a session, without taking its lock (a console may be writing it)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.session_dir = resolve_session(lab_root(args), args.session)
        self.state, _ = final_state(self.session_dir)

    def blob(self, digest: str) -> bytes:
        return get_blob(self.session_dir, digest)

    def __enter__(self) -> _View:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def _decide(args: argparse.Namespace, command: Approve | Reject | Merge) -> dict:
    """Carry a decision out here, or — when a live console holds the session — through that console."""
    gate.require_person()
    root = lab_root(args)
    session_dir = resolve_session(root, args.session)
    if session_lock_holder(session_dir):
        return ControlClient(session_dir).send(command) or {}
    with Lab.open_session(root, str(session_dir)) as lab:
        return lab.execute(command).data or {}


def cmd_list(args: argparse.Namespace) -> int:
    with _View(args) as lab:
        state = lab.state
        waiting = state.awaiting_review()
        print(f"Session {state.session_id}: {len(waiting)} candidate(s) await review; {sandbox_line(state)}")
        gate = session_gate(state)
        for h in waiting:
            verdict = h.reviews[-1] if h.reviews else None
            print(f"  {h.hyp_id}  {h.title}")
            for line in flag_lines(h):
                print(f"        FLAGGED {line}")
            print(f"        {gate_line(state, gate, h)}")
            print(
                f"        reviewer: {verdict.verdict if verdict else '-'}"
                + (f" ({'; '.join(verdict.reasons)})" if verdict and verdict.reasons else "")
            )
        if args.all:
            print()
            for line in leaderboard_lines(state):
                print("  " + line)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    with _View(args) as lab:
        h = gate.hypothesis(lab.state, args.hyp)
        if args.json:
            print(lab.blob(h.evidence_blob).decode() if h.evidence_blob else json.dumps(h.evidence, indent=2))
            return 0
        print(printable(f"{h.hyp_id}: {h.title}  [{h.status}]"))
        print(printable(f"  rationale: {h.rationale}\n  source:    {h.source}"))
        print(
            f"  branch {h.branch} at {str(h.sha)[:12]} on base {str(h.base_sha)[:12]}; evidence {str(h.evidence_hash)[:12]}"
        )
        print(f"  {gate_line(lab.state, session_gate(lab.state), h)}")
        ev = h.evidence
        if ev.get("threshold") is not None:
            print(
                f"  repeats used {ev.get('repeats_used', '-')} of at most {ev.get('max_repeats', '-')}; "
                f"threshold {ev['threshold']:.2%}; p (better, over the looks) "
                f"{'-' if ev.get('p_value') is None else format(ev['p_value'], '.3g')}"
            )
        unsandboxed = lab.state.runs_without_sandbox(h.run_ids)
        print(
            f"  {sandbox_line(lab.state)}"
            + (f"; {len(unsandboxed)} of this candidate's runs ran without one" if unsandboxed else "")
        )
        for m in h.evidence.get("metrics", []):
            print(
                f"    {m['run_id']:<18} {m['role']:<9} #{m['repeat']} {m['status']:<8} {fmt_metric(m['metric'])}"
                f"{run_marks(lab.state.runs.get(m['run_id']))}"
            )
        for line in bench_lines(lab, h):
            print(line)
        for r in h.reviews:
            print(f"  reviewer {r.reviewer}: {r.verdict} — {'; '.join(r.reasons)}")
        signers = signed_by(lab.session_dir, [d.seq for d in h.decisions], lab_trust(lab_root(args)))
        for d in h.decisions:
            print(f"  {d.kind} by {signers.get(d.seq, d.who)}: {d.reason}")
        if h.evidence.get("stale"):
            print("  WARNING: stale baseline (main moved since this was measured)")
        for line in flag_lines(h):
            print(f"  FLAGGED {line}")
        change = gate.rules_change(h)
        if change:
            print(f"  RULES CHANGE (merge needs --confirm-rules-change): {'; '.join(change)}")
        if h.diff_blob:
            print()
            print(printable(lab.blob(h.diff_blob).decode("utf-8", "replace")))
    return 0


def bench_lines(lab: _View | Lab, h: HypothesisState) -> list[str]:
    """The harness's table from the candidate's newest bench report in its evidence (kernel labs), indented."""
    if not h.evidence_blob:
        return []
    try:
        bundle = json.loads(lab.blob(h.evidence_blob))
    except (ValueError, LabError):
        return []
    return ["  " + line for line in bench_table(bundle, lab.blob)] if isinstance(bundle, dict) else []


def flag_lines(h: HypothesisState) -> list[str]:
    from labconsole.lab.change_checks import flag_line

    return [flag_line(f) for f in gate.change_flags(h)]


def cmd_approve(args: argparse.Namespace) -> int:
    overrides = list(dict.fromkeys((["outside-editable"] if args.override_outside_editable else []) + args.override))
    with _View(args) as view:
        h = gate.hypothesis(view.state, args.hyp)
        gate.check_overrides(h, overrides, args.reason)  # the flagged-change refusal before the reviewer's
        flags = gate.needs_confirmation(h)
    if flags and not args.yes:
        raise GateError(f"{args.hyp}: {flags[0]} — re-run with --yes to approve anyway")
    data = _decide(
        args, Approve(args.hyp, who=args.who, reason=args.reason, confirm_flags=args.yes, overrides=overrides)
    )
    print(
        f"approved {args.hyp} at {data['sha'][:12]} (evidence {data['evidence_hash'][:12]}); "
        f"merge with: labconsole merge {args.hyp}"
    )
    return 0


def cmd_reject(args: argparse.Namespace) -> int:
    _decide(args, Reject(args.hyp, who=args.who, reason=args.reason))
    print(f"rejected {args.hyp}: {args.reason}")
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    data = _decide(args, Merge(args.hyp, who=args.who, confirm_rules_change=args.confirm_rules_change))
    if data.get("rules_change"):
        print(f"rules change confirmed: {'; '.join(data['rules_change'])}; the next session runs under it")
    print(f"merged {args.hyp} into {data['into']} as {data['merge_sha'][:12]}")
    return 0


def cmd_remeasure(args: argparse.Namespace) -> int:
    gate.require_person()
    session_dir = resolve_session(lab_root(args), args.session)
    if session_lock_holder(session_dir):
        ControlClient(session_dir).send(Remeasure(args.hyp))
        print(f"re-measuring {args.hyp} in the live console; it comes back for review when done")
        return 0
    with _open(args) as lab:
        print(
            f"re-measuring {args.hyp} on {lab.repo.main_branch} ({lab.config.objective.repeats} interleaved repeats, "
            f"more while undecided)…"
        )
        lab.remeasure(args.hyp)
        h = lab.state.hypotheses[args.hyp]
        ev = h.evidence
        verdict = h.reviews[-1] if h.reviews else None
        print(
            f"{args.hyp}: {h.status}; {lab.state.objective.get('name', 'metric')} {fmt_metric(ev.get('candidate_median'))} "
            f"vs baseline {fmt_metric(ev.get('baseline_median'))}; reviewer: {verdict.verdict if verdict else '-'}"
        )
    return 0
