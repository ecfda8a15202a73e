"""Eval cases as files: ``evals/<skill>/<case>/case.toml`` plus a fixture folder.

```toml
title = "Write a Triton RMSNorm"
prompt = "..."                 # or prompt_file = "prompt.md"
fixture = "fixture"            # starting files, copied into a fresh git repo per attempt
extra_files = ["../_shared/bench_harness.py"]  # shared files added to the fixture root
protected = ["tests/**"]       # restored before checks; editing them fails the case
timeout_s = 900                # agent wall-clock limit
max_tokens = 300000            # agent token limit (input + output)
repeats = 1
[payload]                      # optional: fields merged into the implement task payload
branch = "lab/h-7"

[[checks]]                     # a command: passes when it exits 0 (and meets the threshold)
name = "cpu-tests"
run = "python -m pytest -q tests/test_cpu.py"   # {case_dir} expands to the case folder (hidden checkers)
requires_gpu = false
metric = "json:bench.json#speedup"   # optional: read a number ...
threshold = ">= 1.2"                 # ... and compare it

[[checks]]                     # a diff rule against the fixture commit
name = "scope"
kind = "diff"
allow = ["rmsnorm.py"]         # only these may change
require_change = true

[[checks]]                     # an expected output
name = "summary"
kind = "expect"
path = "summary.json"          # produced in the workdir
expected = "expected/summary.json"  # in the case folder; JSON compared by value, else text
```
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labconsole.errors import ConfigError

CHECK_KINDS = ("command", "diff", "expect")
_CASE_KEYS = {
    "title",
    "prompt",
    "prompt_file",
    "fixture",
    "extra_files",
    "protected",
    "timeout_s",
    "max_tokens",
    "repeats",
    "checks",
    "tags",
    "payload",
}
_CHECK_KEYS = {
    "name",
    "kind",
    "run",
    "requires_gpu",
    "timeout_s",
    "metric",
    "threshold",
    "allow",
    "protect",
    "require_change",
    "path",
    "expected",
    "contains",
}


@dataclass(frozen=True)
class Check:
    name: str
    kind: str = "command"
    run: str = ""
    requires_gpu: bool = False
    timeout_s: float = 300.0
    metric: str | None = None  # "json:<file>#<key>[.<key>]" or "regex:<pattern>" on stdout
    threshold: str | None = None  # "<op> <number>", op one of >= > <= < ==
    allow: tuple[str, ...] = ()
    protect: tuple[str, ...] = ()
    require_change: bool = False
    path: str | None = None
    expected: str | None = None
    contains: tuple[str, ...] = ()


@dataclass(frozen=True)
class EvalCase:
    id: str
    skill: str
    title: str
    prompt: str
    case_dir: Path
    fixture: Path | None
    checks: tuple[Check, ...]
    protected: tuple[str, ...] = ()
    timeout_s: float = 900.0
    max_tokens: int = 300_000
    repeats: int = 1
    tags: tuple[str, ...] = ()
    extra_files: tuple[Path, ...] = ()
    payload: dict[str, Any] = field(default_factory=dict)  # merged into the implement task's payload

    @property
    def needs_gpu(self) -> bool:
        return any(c.requires_gpu for c in self.checks)


def _err(path: Path, field_: str, msg: str) -> ConfigError:
    return ConfigError(f"{path}: {field_}: {msg}")


def _check(path: Path, i: int, raw: Any) -> Check:
    where = f"checks[{i}]"
    if not isinstance(raw, dict):
        raise _err(path, where, "must be a table")
    unknown = set(raw) - _CHECK_KEYS
    if unknown:
        raise _err(path, f"{where}.{sorted(unknown)[0]}", f"unknown key; allowed: {', '.join(sorted(_CHECK_KEYS))}")
    kind = raw.get("kind", "command")
    if kind not in CHECK_KINDS:
        raise _err(path, f"{where}.kind", f"{kind!r}; allowed: {', '.join(CHECK_KINDS)}")
    if "name" not in raw:
        raise _err(path, f"{where}.name", "missing")
    if kind == "command" and not raw.get("run"):
        raise _err(path, f"{where}.run", "a command check needs the command to run")
    if kind == "expect" and not (raw.get("path") and (raw.get("expected") or raw.get("contains"))):
        raise _err(path, f"{where}", "an expect check needs path and expected or contains")
    if ("metric" in raw) != ("threshold" in raw):
        raise _err(path, f"{where}.threshold", "metric and threshold go together")
    if "threshold" in raw:
        parse_threshold(raw["threshold"], path, where)
    return Check(
        name=str(raw["name"]),
        kind=kind,
        run=str(raw.get("run", "")),
        requires_gpu=bool(raw.get("requires_gpu", False)),
        timeout_s=float(raw.get("timeout_s", 300)),
        metric=raw.get("metric"),
        threshold=raw.get("threshold"),
        allow=tuple(raw.get("allow", ())),
        protect=tuple(raw.get("protect", ())),
        require_change=bool(raw.get("require_change", False)),
        path=raw.get("path"),
        expected=raw.get("expected"),
        contains=tuple(raw.get("contains", ())),
    )


_OPS = (">=", "<=", "==", ">", "<")


def parse_threshold(text: str, path: Path | None = None, where: str = "threshold") -> tuple[str, float]:
    s = str(text).strip()
    for op in _OPS:
        if s.startswith(op):
            try:
                return op, float(s[len(op) :])
            except ValueError:
                break
    raise _err(path or Path("?"), where, f"{text!r}; write '<op> <number>' with op one of {' '.join(_OPS)}")


def load_case(case_dir: Path, skill: str) -> EvalCase:
    case_dir = Path(case_dir)
    path = case_dir / "case.toml"
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _err(path, "file", "missing") from None
    except tomllib.TOMLDecodeError as exc:
        raise _err(path, "toml", str(exc)) from None
    unknown = set(raw) - _CASE_KEYS
    if unknown:
        raise _err(path, sorted(unknown)[0], f"unknown key; allowed: {', '.join(sorted(_CASE_KEYS))}")
    if "prompt_file" in raw:
        prompt = (case_dir / raw["prompt_file"]).read_text(encoding="utf-8")
    elif "prompt" in raw:
        prompt = str(raw["prompt"])
    else:
        raise _err(path, "prompt", "missing; give prompt or prompt_file")
    fixture = case_dir / raw["fixture"] if raw.get("fixture") else None
    if fixture is not None and not fixture.is_dir():
        raise _err(path, "fixture", f"{fixture} is not a folder")
    extra = tuple(case_dir / f for f in raw.get("extra_files", ()))
    for f in extra:
        if not f.is_file():
            raise _err(path, "extra_files", f"{f} is not a file")
    checks = tuple(_check(path, i, c) for i, c in enumerate(raw.get("checks", [])))
    if not checks:
        raise _err(path, "checks", "a case needs at least one check")
    return EvalCase(
        id=case_dir.name,
        skill=skill,
        title=str(raw.get("title", case_dir.name)),
        prompt=prompt,
        case_dir=case_dir,
        fixture=fixture,
        checks=checks,
        protected=tuple(raw.get("protected", ())),
        timeout_s=float(raw.get("timeout_s", 900)),
        max_tokens=int(raw.get("max_tokens", 300_000)),
        repeats=int(raw.get("repeats", 1)),
        tags=tuple(raw.get("tags", ())),
        extra_files=extra,
        payload=dict(raw.get("payload", {})),
    )


def load_cases(evals_root: Path, skill: str, only: list[str] | None = None) -> list[EvalCase]:
    """Every case of ``skill`` under ``evals_root/<skill>/`` (sorted), optionally only the named ones."""
    skill_dir = Path(evals_root) / skill
    if not skill_dir.is_dir():
        raise ConfigError(f"no evals for skill {skill!r}: {skill_dir} is not a folder")
    cases = [load_case(d, skill) for d in sorted(skill_dir.iterdir()) if (d / "case.toml").is_file()]
    if only:
        missing = set(only) - {c.id for c in cases}
        if missing:
            raise ConfigError(f"unknown case(s) {', '.join(sorted(missing))}; known: {', '.join(c.id for c in cases)}")
        cases = [c for c in cases if c.id in only]
    if not cases:
        raise ConfigError(f"no cases (case.toml) under {skill_dir}")
    return cases
