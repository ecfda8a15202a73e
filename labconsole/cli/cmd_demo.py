"""``labconsole demo``: the offline demo lab, end to end (what ``make demo`` runs); ``--kernel``: the kernel lab."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from labconsole.cli.common import is_tty
from labconsole.cli.headless import exit_on_hangup, run_headless
from labconsole.demo import create_demo_lab, default_demo_dir
from labconsole.lab.service import Lab


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the offline demo lab (tiny char-LM, sweep agents, no keys, no GPU)")
    p.add_argument(
        "--dir", type=Path, default=None, help="where to create the demo lab (default: ~/.cache/labconsole/demos/…)"
    )
    p.add_argument("--headless", action="store_true", help="print progress instead of opening the console")
    p.add_argument("--budget", type=int, default=None, help="how many hypotheses the researcher may propose")
    p.add_argument("--timeout", type=float, default=None, help="stop the headless run after this many seconds")
    p.add_argument(
        "--kernel",
        action="store_true",
        help="the kernel lab instead: agents tune the RMSNorm CUDA kernel, each candidate built and "
        "benchmarked on a leased GPU (needs a CUDA GPU and nvcc)",
    )
    p.add_argument(
        "--kernel-dir",
        type=Path,
        default=None,
        help="with --kernel: the kernel folder to copy (default: kernels/rmsnorm of this checkout)",
    )
    p.set_defaults(func=run)


def _create(args: argparse.Namespace) -> Path:
    if not args.kernel:
        return create_demo_lab(args.dir or default_demo_dir())
    from labconsole.demo.kernel_lab import START, create_kernel_lab, default_kernel_lab_dir
    from labconsole.gpu.leases import pool_for_machine

    pool_for_machine(1)  # no GPU: the one-line refusal, before a lab is copied anywhere
    lab_dir = create_kernel_lab(args.dir or default_kernel_lab_dir(), args.kernel_dir)
    print("Kernel lab: starting at " + ", ".join(f"{k} = {v}" for k, v in START.items()) + " (rmsnorm/lab_knobs.h)")
    return lab_dir


def run(args: argparse.Namespace) -> int:
    lab_dir = _create(args)
    if args.budget is not None:
        toml = lab_dir / "lab.toml"
        text = toml.read_text(encoding="utf-8")
        import re

        toml.write_text(re.sub(r"(?m)^budget\s*=\s*\d+", f"budget = {args.budget}", text), encoding="utf-8")
        import subprocess

        subprocess.run(
            [
                "git",
                "-c",
                "user.name=LabConsole demo",
                "-c",
                "user.email=demo@labconsole.invalid",
                "commit",
                "-qam",
                f"Demo: search budget {args.budget}",
            ],
            cwd=lab_dir,
            check=True,
        )
    print(f"Demo lab: {lab_dir}")
    exit_on_hangup()
    lab = Lab.start_session(lab_dir)
    print(f"Session:  {lab.session_id}  (log: {lab.session_dir / 'events.jsonl'})")
    if is_tty() and not args.headless:
        from labconsole.cli.headless import after_console
        from labconsole.tui import run_app

        profile_in_background(lab_dir)
        try:
            rc = run_app(lab)
        except BaseException:  # the terminal closed (SIGHUP): stop the agents, remove the control socket
            lab.close()
            raise
        return after_console(lab, rc)
    try:
        state = run_headless(lab, timeout_s=args.timeout)
    finally:
        lab.close()
    waiting = state.awaiting_review_ids()
    print()
    if waiting:
        # Suggest the best candidate the reviewer passed, else the best measured one (the leaderboard's order,
        # not the ids': a rejected-but-improved candidate beats a worse one); the person still decides.
        ranked = [h for h in state.leaderboard() if h.hyp_id in waiting]
        passed = [h.hyp_id for h in ranked if h.reviews and h.reviews[-1].verdict == "pass"]
        suggest = (passed or [h.hyp_id for h in ranked] or waiting)[0]
        print(f"{len(waiting)} candidate(s) await your review. Nothing is merged without you:")
        print(f"  labconsole review list --lab {lab_dir}")
        print(f"  labconsole review show {suggest} --lab {lab_dir}")
        print(f"  labconsole review approve {suggest} --lab {lab_dir}" + ("" if passed else " --yes"))
        print(f"  labconsole merge {suggest} --lab {lab_dir}")
        if args.kernel:
            print(f"  (cd {lab_dir} && python lab/build.py assemble)   # the merged sources' compiled variant")
            print(f"  labconsole publish {lab_dir} --out DIR           # or --repo-id ORG/rmsnorm with HF_TOKEN set")
    print(f"Report: {lab.session_dir / 'report.md'}")
    return 0


def profile_in_background(lab_dir: Path) -> None:
    """Fill the console's Profile screen (6): profile the tiny Qwen3 decode step on the CPU, niced, while
    the demo runs (about 10 s of one core); the screen picks the file up when it is next shown."""
    import subprocess
    import sys

    out = lab_dir / "profiles" / "qwen3-tiny-decode-cpu.json"  # git-ignored in the demo lab
    if out.exists():
        return
    out.parent.mkdir(exist_ok=True)
    command = [sys.executable, "-m", "labconsole", "profile", "qwen3-tiny-decode", "--device", "cpu"]
    subprocess.Popen(
        [*command, "--json", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=lambda: os.nice(10),
        start_new_session=True,
    )
