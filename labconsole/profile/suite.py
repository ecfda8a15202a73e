"""Several profiles in one process under a time budget, with a markdown summary.

Built for a leased GPU: one call, one model build, results written as each
profile finishes, so a run cut short still leaves what it measured.

    python -m labconsole.profile.suite --out DIR --budget-s 200 \\
        qwen3-8b-decode qwen3-8b-prefill qwen3-8b-decode:compile qwen3-8b-prefill:compile

A spec ``TARGET[:MODE]`` profiles TARGET eager, or compiled with MODE
(``compile`` = torch.compile default mode, or a mode name). Output per spec:
``profile_<target>[_<mode>].json`` (dashes become underscores), and
``profile_summary.md`` for all of them.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from labconsole.errors import LabError
from labconsole.profile import api, report, summary

# Rough wall-clock cost of one profile, to skip what cannot finish inside the budget.
EAGER_COST_S = 25.0
COMPILE_COST_S = 100.0


def _file_name(target: str, mode: str | None) -> str:
    stem = target.replace("-", "_")
    if mode:
        stem += "_compiled" if mode == "default" else "_" + mode.replace("-", "_")
    return f"profile_{stem}.json"


def parse_spec(spec: str) -> tuple[str, str | None]:
    target, _, mode = spec.partition(":")
    if not mode:
        return target, None
    return target, "default" if mode == "compile" else mode


def run_suite(
    specs: list[str],
    *,
    out: Path,
    budget_s: float,
    steps: int,
    warmup: int,
    shape: dict[str, Any] | None = None,
    compile_cost_s: float = COMPILE_COST_S,
) -> list[dict[str, Any]]:
    out.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    profiles: list[dict[str, Any]] = []
    notes: list[str] = []
    for spec in specs:
        target, mode = parse_spec(spec)
        elapsed = time.monotonic() - start
        cost = compile_cost_s if mode else EAGER_COST_S
        if elapsed + cost > budget_s:
            notes.append(f"{spec}: skipped, {elapsed:.0f} s of the {budget_s:.0f} s budget used")
            print(f"[suite] skip {spec}: budget", flush=True)
            continue
        print(f"[suite] {spec} at {elapsed:.0f} s", flush=True)
        t0 = time.monotonic()
        try:
            profile = api.profile_target(
                target,
                shape=shape,
                steps=steps,
                warmup=warmup,
                compile_mode=mode,
                command=f"python -m labconsole.profile.suite {spec}",
            )
        except LabError as exc:
            notes.append(f"{spec}: {exc}")
            print(f"[suite] {spec} failed: {exc}", flush=True)
            continue
        except Exception as exc:  # keep the suite going; the note records the failure
            traceback.print_exc()
            notes.append(f"{spec}: {type(exc).__name__}: {exc}")
            continue
        finally:
            _release()
        took = time.monotonic() - t0
        profile["provenance"]["wall_s"] = round(took, 1)
        notes.append(f"{spec}: {took:.0f} s wall (build, warm-up/compile, profile, parse)")
        report.write_json(profile, out / _file_name(target, mode))
        profiles.append(profile)
        print(report.render_table(profile, top=12), flush=True)
        (out / "profile_summary.md").write_text(summary.summarize(profiles, notes=notes))
    (out / "profile_summary.md").write_text(summary.summarize(profiles, notes=notes))
    return profiles


def _release() -> None:
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m labconsole.profile.suite", description=__doc__.split("\n")[0])
    p.add_argument("specs", nargs="+")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--budget-s", type=float, default=240.0)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument(
        "--compile-cost-s",
        type=float,
        default=COMPILE_COST_S,
        help="expected wall time of a compiled profile; one that would overrun the budget is skipped",
    )
    args = p.parse_args(argv)
    profiles = run_suite(
        args.specs,
        out=args.out,
        budget_s=args.budget_s,
        steps=args.steps,
        warmup=args.warmup,
        compile_cost_s=args.compile_cost_s,
    )
    return 0 if profiles else 1


if __name__ == "__main__":
    sys.exit(main())
