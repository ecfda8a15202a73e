"""Benchmark records: the run's configuration, per-case and per-group results, the report (schema labconsole.bench/1)."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from labconsole.gpu.bench_stats import (
    IMPOSSIBLE_MARGIN,
    REVIEW_SPEEDUP,
    CheckResult,
    Flag,
    TimingStats,
)

SCHEMA = "labconsole.bench/1"


@dataclass
class BenchConfig:
    warmup: int = 5  # eager calls before capture; compiles and autotuning happen here
    min_reps: int = 25
    max_reps: int = 400
    rel_ci: float = 0.01  # stop once each median is known to ±1%
    budget_s: float = 3.0  # per group, device-time rounds
    host_reps: int = 30
    host_batch_us: float = 300.0  # eager calls per host sample: enough to cover ≥ this much device time
    check_trials: int = 2  # fresh-input correctness draws per case
    compile_check: bool = True
    cpu_smoke: bool = False  # run the logic on CPU (wall-clock timing): for tests, not for numbers
    shapes: list[dict[str, Any]] | None = None
    only: list[str] | None = None  # run only these variants
    # kernels-style workloads (one benchmark_<w> per shape) have no baselines of their own:
    # time their verify_<w> (a PyTorch formula) eagerly and under torch.compile as baselines.
    verify_baselines: bool = True
    impossible_margin: float = IMPOSSIBLE_MARGIN
    review_speedup: float = REVIEW_SPEEDUP
    seed: int = 1234

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CaseResult:
    name: str
    role: str  # candidate | baseline | copy | prev
    device: TimingStats | None = None
    device_method: str = ""  # cuda_graph | cuda_events | cpu_wallclock
    host: TimingStats | None = None
    host_batch: int = 1
    gbps: float | None = None
    pct_of_copy: float | None = None  # of the same-size copy in this group
    pct_of_peak_copy: float | None = None  # of the device's (large) copy bandwidth in this run
    speedups: dict[str, dict[str, float]] = field(default_factory=dict)  # vs baseline: {"device": x, "host": y}
    check: CheckResult | None = None
    flags: list[Flag] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "device": None if self.device is None else self.device.to_dict(),
            "device_method": self.device_method,
            "host": None if self.host is None else self.host.to_dict(),
            "host_batch": self.host_batch,
            "gbps": round_or_none(self.gbps),
            "pct_of_copy": round_or_none(self.pct_of_copy),
            "pct_of_peak_copy": round_or_none(self.pct_of_peak_copy),
            "speedups": {b: {k: round_or_none(v) for k, v in s.items()} for b, s in self.speedups.items()},
            "check": None if self.check is None else self.check.to_dict(),
            "flags": [f.to_dict() for f in self.flags],
            "error": self.error,
        }


@dataclass
class GroupResult:
    bench: str
    shape: dict[str, Any]
    label: str
    bytes: int
    candidate: str
    copy_gbps: float | None
    reps: int
    cases: list[CaseResult]
    error: str | None = None

    def case(self, name: str) -> CaseResult:
        return next(c for c in self.cases if c.name == name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "bench": self.bench,
            "shape": self.shape,
            "label": self.label,
            "bytes": self.bytes,
            "candidate": self.candidate,
            "copy_gbps": round_or_none(self.copy_gbps),
            "reps": self.reps,
            "cases": [c.to_dict() for c in self.cases],
            "error": self.error,
        }


@dataclass
class BenchReport:
    provenance: dict[str, Any]
    config: BenchConfig
    groups: list[GroupResult] = field(default_factory=list)
    compile_checks: list[dict[str, Any]] = field(default_factory=list)
    device_copy: dict[str, Any] = field(default_factory=dict)  # the large copy: the device's bandwidth ceiling

    def flags(self) -> list[dict[str, Any]]:
        out = []
        for g in self.groups:
            if g.error:
                out.append({**Flag("error", "*", g.error).to_dict(), "bench": g.bench, "shape": g.label})
            for c in g.cases:
                out.extend({**f.to_dict(), "bench": g.bench, "shape": g.label} for f in c.flags)
        for cc in self.compile_checks:
            if not cc["ok"]:
                out.append(
                    {
                        **Flag("compile_check_failed", cc["case"], cc.get("error") or "mismatch").to_dict(),
                        "bench": cc["bench"],
                        "shape": cc["shape"],
                    }
                )
        return out

    @property
    def ok(self) -> bool:
        return not any(f["severity"] == "fail" for f in self.flags())

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "ok": self.ok,
            "provenance": self.provenance,
            "method": method_description(self.config),
            "config": self.config.to_dict(),
            "device_copy": self.device_copy,
            "groups": [g.to_dict() for g in self.groups],
            "compile_checks": self.compile_checks,
            "flags": self.flags(),
        }

    def write_json(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=1, default=str) + "\n")
        return path


def round_or_none(x: float | None, nd: int = 4) -> float | None:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return None if x is None else str(x)  # type: ignore[return-value]
    return round(x, nd)


def method_description(cfg: BenchConfig) -> dict[str, str]:
    if cfg.cpu_smoke:
        return {
            "device_time": "cpu wall clock (smoke test: logic only, numbers meaningless)",
            "host_time": "cpu wall clock",
        }
    return {
        "device_time": "CUDA events around one CUDA-graph replay per rep (events around an eager call where "
        "capture fails); L2 flushed before each rep; median of reps until ±1% CI",
        "host_time": "wall clock over a batch of eager back-to-back calls closed by a synchronize, per call",
        "interleaving": "every rep runs all cases once, order rotated each rep, in one process",
        "bandwidth": "bytes = inputs read once + outputs written once; % of a same-size device copy (a case in "
        "every group) and % of the device's copy bandwidth (a 1 GiB copy), both timed in this run",
        "correctness": "after timing; inputs redrawn in place; outputs poisoned with NaN; fp32 reference; "
        "dtype-aware atol/rtol and relative-norm tolerance",
    }
