"""``labconsole profile``: where a step's time goes, and what bounds each operator."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from labconsole.errors import LabError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "profile",
        help="profile a model step: time per operator, roofline verdicts, hypotheses",
        description=(
            "Profile TARGET with torch.profiler and rank its operators by time, with bytes, FLOPs, "
            "achieved GB/s and TFLOP/s and a verdict (memory-, compute- or overhead-bound) against the "
            "device's measured peaks. TARGET: qwen3-8b-decode, qwen3-8b-prefill, qwen3-tiny-decode, "
            "qwen3-tiny-prefill, module:function (a builder returning (model, inputs) or a callable), "
            "or path/to/script.py[:function]."
        ),
    )
    p.add_argument("target", nargs="?", help="what to profile (omit with --load)")
    p.add_argument(
        "--shape",
        action="append",
        metavar="K=V[,K=V]",
        help="target shape, e.g. context=2048 or batch=1,seq=2048 (repeatable)",
    )
    p.add_argument("--steps", type=int, default=20, help="profiled steps (default 20)")
    p.add_argument("--warmup", type=int, default=5, help="unprofiled warm-up steps first (default 5)")
    p.add_argument("--device", choices=("cuda", "cpu"), help="default: cuda for qwen3-8b-*, else cuda if present")
    p.add_argument("--tiny", action="store_true", help="the tiny CPU config of a qwen3-8b-* target")
    p.add_argument("--compile", action="store_true", help="profile torch.compile'd (default mode)")
    p.add_argument("--compile-mode", help="torch.compile mode (implies --compile): default, reduce-overhead, …")
    p.add_argument("--json", metavar="OUT", help="write the profile JSON here ('-' prints it instead of the table)")
    p.add_argument("--trace", metavar="OUT.json", help="write a Chrome trace (chrome://tracing, Perfetto)")
    p.add_argument("--top", type=int, default=25, help="rows in the table (default 25)")
    p.add_argument("--load", metavar="PROFILE.json", help="show/propose from a saved profile instead of running")
    p.add_argument(
        "--propose", action="store_true", help="turn the top memory/overhead-bound operators into hypotheses"
    )
    p.add_argument("--hypotheses", type=int, default=5, help="how many hypotheses with --propose (default 5)")
    p.add_argument("--lab", metavar="PATH", help="lab to hand the hypotheses to (with --propose)")
    p.add_argument("--session", metavar="ID", help="session of that lab (default: its latest)")
    p.add_argument("--dry-run", action="store_true", help="with --propose: print the hypotheses, hand nothing over")
    p.add_argument("--refresh-peaks", action="store_true", help="re-measure the device peaks instead of the cache")
    p.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    from labconsole.profile import api, report, targets

    if args.load:
        profile = api.load_profile(args.load)
    else:
        if not args.target:
            raise LabError("profile: name a TARGET (e.g. qwen3-tiny-decode) or --load a saved profile")
        spec = args.target
        if args.tiny:
            if not spec.startswith("qwen3-8b-"):
                raise LabError("--tiny applies to qwen3-8b-decode / qwen3-8b-prefill")
            spec = spec.replace("qwen3-8b-", "qwen3-tiny-")
        compile_mode = args.compile_mode or ("default" if args.compile else None)
        profile = api.profile_target(
            spec,
            shape=targets.parse_shape(args.shape),
            steps=args.steps,
            warmup=args.warmup,
            device=args.device,
            compile_mode=compile_mode,
            trace_path=args.trace,
            refresh_peaks=args.refresh_peaks,
            command=shlex.join(["labconsole", *sys.argv[1:]]),
        )
    if args.json and args.json != "-":
        report.write_json(profile, args.json)
    if args.json == "-":
        print(json.dumps(profile, indent=2))
    else:
        print(report.render_table(profile, top=args.top))
        for label, path in (("json", args.json), ("trace", None if args.load else args.trace)):
            if path:
                print(f"{label}: {path}")
    if args.propose:
        _propose(profile, args)
    return 0


def _propose(profile: dict, args: argparse.Namespace) -> None:
    from labconsole.lab import profile_proposals
    from labconsole.profile import hypotheses

    out = sys.stderr if args.json == "-" else sys.stdout
    if args.dry_run:
        items = hypotheses.hypotheses_from_profile(profile, top=args.hypotheses)
        ids = ["(dry run)"] * len(items)
    else:
        if not args.lab:
            raise LabError("--propose needs --lab PATH (or --dry-run to only print the hypotheses)")
        lab = Path(args.lab)
        if not lab.is_dir():
            raise LabError(f"--lab {args.lab!r} is not a directory")
        items, ids = profile_proposals.propose(
            profile, lab_root=lab, top=args.hypotheses, session_id=args.session, actor="console"
        )
    if not items:
        print("\nno memory- or overhead-bound operator worth a hypothesis", file=out)
        return
    print("\nhypotheses:", file=out)
    for hyp_id, item in zip(ids, items):
        print(f"  {hyp_id}  {item['title']}", file=out)
