"""``labconsole eval SKILL --models m1,m2``: the skill eval matrix; ``eval show`` for stored results;
``eval --compare A B`` for what changed between two result sets.

Exit status: 0, or 1 when any attempt ended in an infrastructure error (missing key, unreachable
server, CLI not installed — the skill was not measured) unless ``--allow-errors``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from labconsole.errors import ConfigError, LabError
from labconsole.evals.cases import load_cases
from labconsole.evals.checks import gpu_available
from labconsole.evals.compare import compare_lines
from labconsole.evals.executor import AgentProcessExecutor, ModelSpec
from labconsole.evals.report import table, to_csv, to_json
from labconsole.evals.results import EvalResults, load_results
from labconsole.evals.runner import EvalConfig, EvalRunner
from labconsole.skills.format import find_skill
from labconsole.skills.install import default_skills_root


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="measure a skill: cases x models x {with skill, without}")
    p.add_argument(
        "skill",
        nargs="?",
        default="",
        help="skill name (skills/<name>/ and evals/<name>/), or 'show' to print stored results",
    )
    p.add_argument(
        "--compare",
        nargs=2,
        type=Path,
        metavar=("A", "B"),
        help="show what changed between two result folders (provenance, pass rates, cases)",
    )
    p.add_argument(
        "--allow-errors", action="store_true", help="exit 0 even when attempts ended in infrastructure errors"
    )
    p.add_argument("--models", default="", help="comma-separated backend:model[@base_url] specs")
    p.add_argument("--cases", default="", help="comma-separated case ids (default: all)")
    p.add_argument("--repeats", type=int, default=None, help="repeats per cell (default: each case's own)")
    p.add_argument("--concurrency", type=int, default=2, help="attempts running at once (default 2)")
    p.add_argument("--out", type=Path, default=None, help="results folder (default: sessions/eval-<skill>)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run; completed attempts are kept")
    p.add_argument(
        "--gpu",
        choices=("auto", "yes", "no"),
        default="auto",
        help="run GPU checks (auto: only where a GPU is visible); otherwise they are reported not-run",
    )
    p.add_argument("--skills-root", type=Path, default=None)
    p.add_argument("--evals-root", type=Path, default=Path("evals"))
    p.add_argument("--no-trackio", action="store_true", help="do not record Trackio runs")
    p.add_argument(
        "--agent-option",
        action="append",
        default=[],
        metavar="KEY=JSON",
        help="backend option passed to every agent (repeatable), e.g. max_turns=30",
    )
    p.add_argument("--agent-cmd", default=None, help=argparse.SUPPRESS)  # tests: a runner with extra backends
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--csv", action="store_true", help="print one CSV row per attempt")
    fmt.add_argument("--json", action="store_true", help="print summary and attempts as JSON")
    p.set_defaults(func=_eval)


def _print(res: EvalResults, args: argparse.Namespace) -> None:
    if args.csv:
        sys.stdout.write(to_csv(res))
    elif args.json:
        print(to_json(res))
    else:
        print(f"skill {res.skill}: {len(res.records)} attempts in {res.out_dir}")
        print(table(res))


def _options(pairs: list[str]) -> dict[str, object]:
    out: dict[str, object] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--agent-option {pair!r}: write KEY=VALUE (VALUE as JSON, else a string)")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def _loaded(path: Path) -> EvalResults:
    res = load_results(path)
    if not res.records and not res.skill:
        raise LabError(f"{path}: no eval results there (an eval --out folder holds events.jsonl)")
    return res


def _errors_exit(res: EvalResults, args: argparse.Namespace, ids: set[str] | None = None) -> int:
    """1 when attempts (of this run: ``ids``) ended in infrastructure errors, unless --allow-errors."""
    errors = [r for r in res.records if r.status == "error" and (ids is None or r.attempt_id in ids)]
    if not errors:
        return 0
    first = errors[0]
    print(
        f"labconsole: {len(errors)} attempt(s) ended in an infrastructure error, so the skill was not measured "
        f"there (excluded from the pass rates); first: {first.attempt_id}: {first.agent_error}"
        + ("" if args.allow_errors else " — fix it and rerun with --resume, or pass --allow-errors"),
        file=sys.stderr,
    )
    return 0 if args.allow_errors else 1


def _eval(args: argparse.Namespace) -> int:
    if args.compare:
        a, b = (_loaded(p) for p in args.compare)
        print("\n".join(compare_lines(a, b)))
        return 0
    if not args.skill:
        raise ConfigError("eval: name a skill, or 'show --out DIR', or --compare A B")
    if args.skill == "show":
        if not args.out:
            raise LabError("eval show needs --out DIR")
        res = _loaded(args.out)
        _print(res, args)
        return _errors_exit(res, args)
    models = [ModelSpec.parse(m) for m in args.models.split(",") if m.strip()]
    if not models:
        raise ConfigError("--models: give at least one backend:model spec, e.g. --models anthropic:claude-sonnet-4-5")
    skill = find_skill(args.skill, args.skills_root or default_skills_root())
    cases = load_cases(args.evals_root, args.skill, [c for c in args.cases.split(",") if c] or None)
    out = args.out or Path("sessions") / f"eval-{args.skill}"
    gpu = gpu_available(args.gpu)
    cfg = EvalConfig(
        skill=skill,
        cases=cases,
        models=models,
        out_dir=out,
        repeats=args.repeats,
        concurrency=args.concurrency,
        resume=args.resume,
        gpu=gpu,
        trackio=not args.no_trackio,
    )
    executor = AgentProcessExecutor(
        agent_cmd=args.agent_cmd.split() if args.agent_cmd else None, options=_options(args.agent_option)
    )

    ran: set[str] = set()

    def progress(rec) -> None:
        ran.add(rec.attempt_id)
        bad = [c.name for c in rec.checks if c.status in ("fail", "error")]
        why = ", ".join(bad) or (rec.agent_error if rec.status in ("error", "fail") and not rec.agent_ok else "")
        print(f"  {rec.status:<10} {rec.attempt_id}{'  (' + why + ')' if why else ''}", file=sys.stderr)

    if not gpu and any(c.needs_gpu for c in cases):
        print("no GPU here: GPU checks will be reported as not-run", file=sys.stderr)
    report = EvalRunner(cfg, executor, on_attempt=progress).run()
    print(f"{report.ran} attempts run, {report.skipped} already done (of {report.planned})", file=sys.stderr)
    for w in dict.fromkeys(report.warnings):
        print(f"warning: {w}", file=sys.stderr)
    _print(report.results, args)
    return _errors_exit(report.results, args, ran)
