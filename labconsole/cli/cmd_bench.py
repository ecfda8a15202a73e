"""``labconsole bench KERNEL_DIR``: run a kernel repo's benchmarks/benchmark*.py with the harness."""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from labconsole.cli.common import command, flag
from labconsole.errors import LabError


def register(sub: Any) -> None:
    about = (
        "benchmark a kernel repo: interleaved baselines, copy-bandwidth yardstick, "
        "fresh-input correctness, anti-gaming flags"
    )
    p = command(sub, "bench", about, run)
    p.add_argument(
        "kernel_dir", metavar="KERNEL_DIR", type=Path, help="kernel repository (has benchmarks/benchmark*.py)"
    )
    p.add_argument("--json", dest="json_out", metavar="OUT", type=Path, help="write the JSON results here")
    p.add_argument(
        "--shapes",
        action="append",
        metavar="NAME=V1,V2",
        help="sweep these values (repeat for a product), e.g. --shapes rows=1,16,4096",
    )
    p.add_argument("--only", action="append", metavar="VARIANT", help="run only these benchmark_<VARIANT> methods")
    p.add_argument("--prev", type=Path, metavar="DIR", help="previous approved kernel repo: timed as a baseline")
    p.add_argument(
        "--session",
        type=Path,
        metavar="DIR",
        help="session directory: also store the JSON under DIR/evidence/ as run evidence",
    )
    p.add_argument("--trackio", metavar="PROJECT", help="log the results to this Trackio project")
    p.add_argument("--budget", type=float, default=3.0, help="seconds of timed rounds per shape (default 3)")
    flag(p, "--no-compile-check", "skip the torch.compile(fullgraph=True) check")
    flag(p, "--cpu-smoke", "run the harness logic on CPU (tests/CI): checks files and correctness, numbers meaningless")


def run(args: argparse.Namespace) -> int:
    from labconsole.gpu.bench import BenchConfig, format_report, log_report_to_trackio, run_bench
    from labconsole.gpu.bench_spec import parse_shapes

    if not args.kernel_dir.is_dir():
        raise LabError(f"{args.kernel_dir}: no such kernel directory")
    cfg = BenchConfig(
        cpu_smoke=args.cpu_smoke,
        shapes=parse_shapes(args.shapes),
        only=args.only,
        budget_s=args.budget,
        compile_check=not args.no_compile_check and not args.cpu_smoke,
    )
    report = run_bench(args.kernel_dir, cfg, prev_dir=args.prev)
    data = report.to_dict()
    print(format_report(data))
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(data, indent=1, default=str) + "\n")
        print(f"wrote {args.json_out}", file=sys.stderr)
    if args.session:
        stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        dest = args.session / "evidence" / f"bench-{args.kernel_dir.resolve().name}-{stamp}.json"
        dest.parent.mkdir(parents=True, exist_ok=True)
        if args.json_out:
            shutil.copyfile(args.json_out, dest)
        else:
            dest.write_text(json.dumps(data, indent=1, default=str) + "\n")
        print(f"stored {dest}", file=sys.stderr)
    if args.trackio:
        log_report_to_trackio(data, project=args.trackio, name=f"bench-{args.kernel_dir.resolve().name}")
    return 0 if data["ok"] else 1
