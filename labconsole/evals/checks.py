"""Run a case's checks in an attempt's workdir.

A check that needs a GPU is ``not-run`` where none is available: it is never
counted as passed (and never as failed) - the attempt is then ``not-run``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from functools import lru_cache
from pathlib import Path

from labconsole.evals.cases import Check, EvalCase, parse_threshold
from labconsole.evals.summary import CheckRecord
from labconsole.evals.workspace import changed_files, matches

PASS, FAIL, NOT_RUN, ERROR = "pass", "fail", "not-run", "error"


# One check's outcome is the record stored in the eval.attempt event: one class, two names.
CheckResult = CheckRecord


@lru_cache(maxsize=1)
def _torch_sees_gpu() -> bool:
    # In a subprocess: importing torch here would cost the CLI seconds and CUDA state.
    code = "import torch,sys; sys.exit(0 if torch.cuda.is_available() else 1)"
    try:
        return subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def gpu_available(mode: str = "auto") -> bool:
    """``yes``/``no`` force it; ``auto`` honours LABCONSOLE_EVAL_GPU, then asks torch."""
    if mode in ("yes", "no"):
        return mode == "yes"
    env = os.environ.get("LABCONSOLE_EVAL_GPU")
    if env in ("0", "1"):
        return env == "1"
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) == "":
        return False  # no device leased to this process
    return _torch_sees_gpu()


def check_env(workdir: Path) -> dict[str, str]:
    """Checks run with this interpreter first on PATH, so ``python`` means the lab's venv."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONPATH"] = str(workdir)
    return env


def _tail(text: str, n: int = 2000) -> str:
    return text if len(text) <= n else "..." + text[-n:]


def read_metric(spec: str, workdir: Path, stdout: str) -> float:
    kind, _, rest = spec.partition(":")
    if kind == "json":
        file, _, key = rest.partition("#")
        value: object = json.loads((workdir / file).read_text())
        for part in key.split("."):
            value = value[part]  # type: ignore[index]
        return float(value)  # type: ignore[arg-type]
    if kind == "regex":
        matches = list(re.finditer(rest, stdout, re.MULTILINE))
        m = matches[-1] if matches else None  # the last match: the final value a run printed
        if m is None:
            raise ValueError(f"no match for {rest!r} in the output")
        return float(m.group(1))
    raise ValueError(f"metric {spec!r}: use json:<file>#<key> or regex:<pattern>")


def _compare(value: float, threshold: str) -> bool:
    op, target = parse_threshold(threshold)
    return {
        ">=": value >= target,
        ">": value > target,
        "<=": value <= target,
        "<": value < target,
        "==": value == target,
    }[op]


def _run_command(check: Check, workdir: Path, case_dir: Path) -> CheckResult:
    res = CheckResult(check.name, check.kind, FAIL, requires_gpu=check.requires_gpu)
    try:
        cmd = check.run.replace("{case_dir}", shlex.quote(str(case_dir)))
        proc = subprocess.run(
            cmd,
            shell=True,
            cwd=workdir,
            env=check_env(workdir),
            capture_output=True,
            text=True,
            timeout=check.timeout_s,
            start_new_session=True,
        )
    except subprocess.TimeoutExpired:
        res.detail = f"timed out after {check.timeout_s:g} s"
        return res
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        res.detail = f"exit {proc.returncode}\n{_tail(out)}"
        return res
    if check.metric:
        try:
            res.value = read_metric(check.metric, workdir, proc.stdout)
        except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
            res.detail = f"metric {check.metric}: {exc}"
            return res
        ok = _compare(res.value, check.threshold or "")
        res.status = PASS if ok else FAIL
        res.detail = f"{res.value:g} {'meets' if ok else 'misses'} {check.threshold}"
        return res
    res.status, res.detail = PASS, _tail(out, 500)
    return res


def _run_diff(check: Check, workdir: Path, base: str, case: EvalCase) -> CheckResult:
    res = CheckResult(check.name, check.kind, FAIL)
    changed = changed_files(workdir, base)
    protect = check.protect or case.protected
    bad = [p for p in changed if matches(p, protect)]
    if check.allow:
        bad += [p for p in changed if not matches(p, check.allow) and p not in bad]
    if bad:
        res.detail = (
            f"changed files outside the rule: {', '.join(bad)} (allowed: {', '.join(check.allow) or 'any'}"
            f"; protected: {', '.join(protect) or 'none'})"
        )
    elif check.require_change and not changed:
        res.detail = "nothing changed"
    else:
        res.status, res.detail = PASS, f"changed: {', '.join(changed) or 'nothing'}"
    return res


def _run_expect(check: Check, workdir: Path, case: EvalCase) -> CheckResult:
    res = CheckResult(check.name, check.kind, FAIL)
    produced = workdir / (check.path or "")
    if not produced.is_file():
        res.detail = f"{check.path} was not written"
        return res
    text = produced.read_text(encoding="utf-8", errors="replace")
    missing = [c for c in check.contains if c not in text]
    if missing:
        res.detail = f"{check.path} lacks: {'; '.join(missing)}"
        return res
    if check.expected:
        want = (case.case_dir / check.expected).read_text(encoding="utf-8")
        try:
            same = json.loads(text) == json.loads(want)
        except json.JSONDecodeError:
            same = text.strip() == want.strip()
        if not same:
            res.detail = f"{check.path} differs from {check.expected}"
            return res
    res.status, res.detail = PASS, f"{check.path} as expected"
    return res


def run_checks(case: EvalCase, workdir: Path, base: str, gpu: bool) -> list[CheckResult]:
    """Run every check of ``case``; GPU checks become ``not-run`` when ``gpu`` is False."""
    results = []
    for check in case.checks:
        t0 = time.monotonic()
        if check.requires_gpu and not gpu:
            res = CheckResult(check.name, check.kind, NOT_RUN, "needs a GPU; none leased here", requires_gpu=True)
        else:
            try:
                if check.kind == "diff":
                    res = _run_diff(check, workdir, base, case)
                elif check.kind == "expect":
                    res = _run_expect(check, workdir, case)
                else:
                    res = _run_command(check, workdir, case.case_dir.resolve())
            except Exception as exc:  # a broken check is reported, not raised: other checks still run
                res = CheckResult(check.name, check.kind, ERROR, f"{type(exc).__name__}: {exc}")
        res.requires_gpu = check.requires_gpu
        res.duration_s = round(time.monotonic() - t0, 3)
        results.append(res)
    return results


def attempt_status(checks: list[CheckResult]) -> str:
    """pass: every check ran and passed; fail: one failed or errored; not-run: the rest were not run."""
    if any(c.status in (FAIL, ERROR) for c in checks):
        return "fail"
    if any(c.status == NOT_RUN for c in checks):
        return "not-run"
    return "pass"
