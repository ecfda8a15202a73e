"""The kernel benchmark harness: fair timings, an honest bandwidth yardstick, correctness that cannot be skipped.

Per group (one op at one shape, see ``bench_spec``) in one process:

1. warm up every case (compiles happen here), capture each in a CUDA graph
   (falling back to CUDA events when capture fails);
2. **device time**: rounds in which every case runs once, in rotated order,
   each preceded by an L2 flush (a write over twice the L2 size), timed with
   events around one graph replay; rounds continue until every median is known
   to ±1% (or the budget runs out);
3. **host-inclusive time**: rounds of eager back-to-back calls closed by a
   synchronize — what an eager caller pays, dispatch included;
4. a **same-size device copy** is one of the cases, so GB/s and "% of copy"
   come from this run on this card;
5. **correctness after timing**: inputs redrawn in place (same storage: a
   pointer-keyed cache is stale), outputs poisoned with NaN (skipped work
   shows), output compared with the fp32 reference within dtype tolerances;
6. flags: impossible bandwidth (beyond the copy), >10x speedups, noise;
7. per class, ``torch.compile(fullgraph=True)`` of a module (or call) using the op.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from labconsole.errors import LabError
from labconsole.gpu import bench_spec as spec
from labconsole.gpu.bench_stats import (
    IMPOSSIBLE_MARGIN,
    REVIEW_SPEEDUP,
    CheckResult,
    Flag,
    TimingStats,
    bandwidth_flags,
    check_output,
    enough_reps,
    gbps,
    noise_flags,
    poison_,
    speedup_flags,
    summarize,
    tolerance_for,
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
            "gbps": _round(self.gbps),
            "pct_of_copy": _round(self.pct_of_copy),
            "pct_of_peak_copy": _round(self.pct_of_peak_copy),
            "speedups": {b: {k: _round(v) for k, v in s.items()} for b, s in self.speedups.items()},
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
        return {"bench": self.bench, "shape": self.shape, "label": self.label, "bytes": self.bytes,
                "candidate": self.candidate, "copy_gbps": _round(self.copy_gbps), "reps": self.reps,
                "cases": [c.to_dict() for c in self.cases], "error": self.error}


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
                out.append({**Flag("compile_check_failed", cc["case"], cc.get("error") or "mismatch").to_dict(),
                            "bench": cc["bench"], "shape": cc["shape"]})
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


def _round(x: float | None, nd: int = 4) -> float | None:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return None if x is None else str(x)  # type: ignore[return-value]
    return round(x, nd)


def method_description(cfg: BenchConfig) -> dict[str, str]:
    if cfg.cpu_smoke:
        return {"device_time": "cpu wall clock (smoke test: logic only, numbers meaningless)",
                "host_time": "cpu wall clock"}
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


# ---------------------------------------------------------------------------
# timing machinery


class _Case:
    def __init__(self, name: str, role: str, fn: Callable[[], Any]) -> None:
        self.name = name
        self.role = role
        self.fn = fn
        self.run: Callable[[], Any] = fn  # graph replay once captured
        self.method = ""
        self.graph: Any = None
        self.device_samples: list[float] = []
        self.host_samples: list[float] = []
        self.host_batch = 1
        self.error: str | None = None
        self.capture_error = ""


class _Device:
    """What differs between CUDA and the CPU smoke mode."""

    def __init__(self, cpu: bool) -> None:
        import torch

        self.torch = torch
        self.cpu = cpu
        self.name = "cpu" if cpu else "cuda"
        self.flush_buf = None
        if not cpu:
            l2 = int(getattr(torch.cuda.get_device_properties(0), "L2_cache_size", 0) or 50 * 2**20)
            self.l2_bytes = l2
            # Writing twice the L2 evicts every line a previous rep left there.
            self.flush_buf = torch.empty(max(2 * l2, 64 * 2**20), dtype=torch.int8, device="cuda")
        else:
            self.l2_bytes = 0

    def sync(self) -> None:
        if not self.cpu:
            self.torch.cuda.synchronize()

    def flush_l2(self) -> None:
        if self.flush_buf is not None:
            self.flush_buf.zero_()

    def prepare(self, case: _Case, warmup: int) -> None:
        torch = self.torch
        if self.cpu:
            for _ in range(warmup):
                case.fn()
            case.method = "cpu_wallclock"
            return
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm-up off the default stream, as graph capture requires
            for _ in range(warmup):
                case.fn()
        torch.cuda.current_stream().wait_stream(side)
        torch.cuda.synchronize()
        try:
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                case.fn()
            torch.cuda.synchronize()
            graph.replay()
            torch.cuda.synchronize()
            case.graph = graph
            case.run = graph.replay
            case.method = "cuda_graph"
        except Exception as exc:  # host syncs, CPU work, unsupported ops: time the eager call instead
            torch.cuda.synchronize()
            case.run = case.fn
            case.method = "cuda_events"
            case.capture_error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"

    def device_round(self, cases: list[_Case]) -> None:
        """One rep of every case; appends microseconds to each case's samples."""
        torch = self.torch
        if self.cpu:
            for c in cases:
                t0 = time.perf_counter()
                c.run()
                c.device_samples.append((time.perf_counter() - t0) * 1e6)
            return
        marks = []
        for c in cases:
            self.flush_l2()
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            c.run()
            end.record()
            marks.append((c, start, end))
        torch.cuda.synchronize()
        for c, start, end in marks:
            c.device_samples.append(start.elapsed_time(end) * 1e3)

    def host_sample(self, case: _Case) -> float:
        self.sync()
        t0 = time.perf_counter()
        for _ in range(case.host_batch):
            case.fn()
        self.sync()
        return (time.perf_counter() - t0) * 1e6 / case.host_batch


def _rotate(items: list[Any], k: int) -> list[Any]:
    k %= len(items)
    return items[k:] + items[:k]


# ---------------------------------------------------------------------------
# one group


def _reference_fn(inst: Any, group: spec.Group, case: str) -> Callable[[], Any] | None:
    for name in (f"verify_{case}", "verify", f"verify_{group.candidate}", *[f"verify_{v}" for v in group.variants]):
        fn = getattr(inst, name, None)
        if callable(fn):
            return fn
    return None


def _call_output(inst: Any, fn: Callable[[], Any]) -> Any:
    import torch

    result = fn()
    return result if isinstance(result, torch.Tensor) else getattr(inst, spec.output_names(inst)[0], None)


def _check_case(inst: Any, group: spec.Group, case: _Case, dev: _Device, cfg: BenchConfig,
                trial_seed: int) -> tuple[CheckResult | None, list[Flag]]:
    import torch

    ref_fn = _reference_fn(inst, group, case.name)
    if ref_fn is None:
        return None, [Flag("unverified", case.name, "no verify_* method: output not checked")]
    flags: list[Flag] = []
    override = getattr(inst, "tolerance", None)
    result: CheckResult | None = None
    for trial in range(cfg.check_trials):
        spec.refresh_inputs(inst, trial_seed + trial)
        for name in spec.output_names(inst):
            poison_(getattr(inst, name, None))
        dev.sync()
        out = _call_output(inst, case.fn)
        dev.sync()
        out = out.detach().clone() if isinstance(out, torch.Tensor) else out
        ref = ref_fn()
        dev.sync()
        if isinstance(ref, torch.Tensor) and ref.dtype not in (torch.float32, torch.float64) and trial == 0:
            flags.append(Flag("reference_not_fp32", case.name, f"reference is {ref.dtype}; compute it in fp32"))
        tol = tolerance_for(out.dtype, override) if isinstance(out, torch.Tensor) else None
        result = check_output(out, ref, tol)
        if not result.ok:
            flags.append(Flag("incorrect", case.name, f"fresh inputs #{trial + 1}: {result.detail}"))
            break
    return result, flags


def measure_device_copy(dev: _Device, cfg: BenchConfig) -> dict[str, Any]:
    """The device's copy bandwidth: a copy far larger than L2 (1 GiB moved; 16 MiB on CPU), same method as cases."""
    import torch

    nbytes = 16 * 2**20 if dev.cpu else 2**30
    src = torch.randn(nbytes // 8, device=dev.name)
    dst = torch.empty_like(src)
    case = _Case("device_copy", "copy", lambda: dst.copy_(src))
    dev.prepare(case, cfg.warmup)
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < (0.05 if dev.cpu else 0.5):  # an idle GPU needs time to raise its clocks
        case.run()
        dev.sync()
    for rep in range(max(cfg.min_reps, 40)):
        dev.device_round([case])
    stats = summarize(case.device_samples)
    case.graph = None
    return {"bytes": nbytes, "dtype": "float32", "method": case.method, "device": stats.to_dict(),
            "gbps": gbps(nbytes, stats.median_us)}


def apply_bandwidth_flags(report: "BenchReport") -> float | None:
    """After all groups: the device's copy bandwidth is the best copy seen in this run (the 1 GiB copy,
    or a group's same-size copy if that ran faster); flag and rate every case against it."""
    copies = [report.device_copy.get("gbps")] + [g.copy_gbps for g in report.groups]
    peak = max((c for c in copies if c), default=None)
    report.device_copy["peak_gbps"] = peak
    margin = report.config.impossible_margin
    for g in report.groups:
        copy = next((c for c in g.cases if c.role == "copy"), None)
        for r in g.cases:
            if r.gbps is not None and peak:
                r.pct_of_peak_copy = 100.0 * r.gbps / peak
            if r.role != "copy":
                r.flags += bandwidth_flags(r.name, r.gbps, g.copy_gbps, margin, r.device,
                                           None if copy is None else copy.device, peak)
    return peak


def run_group(group: spec.Group, kernel: Any, dev: _Device, cfg: BenchConfig, prev_kernel: Any = None,
              log: Callable[[str], None] = lambda s: None) -> GroupResult:
    import torch

    inst = spec.make_instance(group, kernel, dev.name)
    nbytes = spec.bytes_moved(inst)
    cases: list[_Case] = []
    for v in group.variants:
        role = "candidate" if v == group.candidate else "baseline"
        cases.append(_Case(v, role, getattr(inst, f"benchmark_{v}")))
    ref_fn = _reference_fn(inst, group, group.candidate)
    if cfg.verify_baselines and len(group.variants) == 1 and ref_fn is not None:
        cases.append(_Case("ref_eager", "baseline", ref_fn))
        if not dev.cpu:  # inductor on CPU needs a C++ toolchain and seconds per shape: not for smoke tests
            cases.append(_Case("ref_compiled", "baseline", torch.compile(ref_fn, dynamic=False)))
    if prev_kernel is not None:
        cases.append(_Case(f"prev:{group.candidate}", "prev",
                           _with_kernel(inst, prev_kernel, getattr(inst, f"benchmark_{group.candidate}"))))
    # The yardstick: a device copy moving the same bytes (half read, half written), in the output's
    # element type so the copy kernel vectorises as the op's own loads and stores can (x.clone()).
    out0 = getattr(inst, spec.output_names(inst)[0], None)
    elem = out0.dtype if isinstance(out0, torch.Tensor) and out0.is_floating_point() else torch.float32
    half = max(nbytes // 2 // torch.empty((), dtype=elem).element_size(), 1)
    src = torch.randn(half, device=dev.name).to(elem)
    dst = torch.empty_like(src)
    cases.append(_Case("copy", "copy", lambda: dst.copy_(src)))

    for c in cases:
        try:
            dev.prepare(c, cfg.warmup)
        except Exception as exc:
            c.error = f"{type(exc).__name__}: {exc}".splitlines()[0]
            dev.sync()
    live = [c for c in cases if c.error is None]

    # Device time: interleaved rounds until every median is pinned down.
    t0 = time.perf_counter()
    reps = 0
    while live and reps < cfg.max_reps:
        dev.device_round(_rotate(live, reps))
        reps += 1
        if reps >= cfg.min_reps and reps % 5 == 0:
            if all(enough_reps(c.device_samples, cfg.min_reps, cfg.rel_ci) for c in live):
                break
            if time.perf_counter() - t0 > cfg.budget_s:
                break

    # Host-inclusive time: eager calls, batched so a sample spans enough time to read a clock.
    for c in live:
        med = summarize(c.device_samples).median_us if c.device_samples else 1.0
        c.host_batch = int(min(100, max(1, math.ceil(cfg.host_batch_us / max(med, 1.0)))))
    host_reps = min(cfg.host_reps, max(5, reps))
    for rep in range(host_reps if live else 0):
        for c in _rotate(live, rep):
            c.host_samples.append(dev.host_sample(c))

    results: dict[str, CaseResult] = {}
    for c in cases:
        r = CaseResult(name=c.name, role=c.role, device_method=c.method, host_batch=c.host_batch, error=c.error)
        if c.error:
            r.flags.append(Flag("error", c.name, c.error))
        if c.device_samples:
            r.device = summarize(c.device_samples)
            r.gbps = gbps(nbytes, r.device.median_us)
            r.flags += noise_flags(c.name, r.device)
        if c.host_samples:
            r.host = summarize(c.host_samples)
        if c.method == "cuda_events":
            r.flags.append(Flag("events_fallback", c.name, c.capture_error or "graph capture failed"))
        results[c.name] = r
    copy = results["copy"]
    copy_gbps = copy.gbps
    for r in results.values():
        if r.gbps is not None and copy_gbps:
            r.pct_of_copy = 100.0 * r.gbps / copy_gbps

    # Speedups of the candidate (and prev) against every baseline, device and host.
    for r in results.values():
        if r.role not in ("candidate", "prev") or r.device is None:
            continue
        for b in results.values():
            if b.role not in ("baseline", "prev") or b is r or b.device is None:
                continue
            r.speedups[b.name] = {"device": b.device.median_us / r.device.median_us}
            if b.host is not None and r.host is not None:
                r.speedups[b.name]["host"] = b.host.median_us / r.host.median_us
        r.flags += speedup_flags(r.name, {k: v["device"] for k, v in r.speedups.items()}, cfg.review_speedup)

    # Correctness last, on fresh inputs, so nothing the timing left behind can pass for an answer.
    for i, c in enumerate(cases):
        if c.role == "copy" or c.error or c.name.startswith("ref_"):  # the reference is not checked against itself
            continue
        try:
            check, flags = _check_case(inst, group, c, dev, cfg, cfg.seed + 101 * i)
        except Exception as exc:
            check, flags = None, [Flag("incorrect", c.name, f"raised during the check: {type(exc).__name__}: {exc}")]
        results[c.name].check = check
        results[c.name].flags += flags

    for c in cases:  # graphs hold memory from their private pools
        c.graph = None
    log(f"  {group.bench_id} {group.label}: {reps} reps, copy {copy_gbps or 0:.0f} GB/s")
    return GroupResult(bench=group.bench_id, shape=group.shape, label=group.label, bytes=nbytes,
                       candidate=group.candidate, copy_gbps=copy_gbps, reps=reps, cases=list(results.values()))


def _with_kernel(inst: Any, kernel: Any, method: Callable[[], Any]) -> Callable[[], Any]:
    def call() -> Any:
        current = inst.kernel
        inst.kernel = kernel
        try:
            return method()
        finally:
            inst.kernel = current

    return call


# ---------------------------------------------------------------------------
# torch.compile(fullgraph=True) integration check


def compile_check(group: spec.Group, kernel: Any, dev: _Device, cfg: BenchConfig) -> dict[str, Any]:
    """Compile a module using the op (``compile_module()``) — or the candidate call — with fullgraph=True."""
    import torch

    record: dict[str, Any] = {"bench": group.bench_id, "shape": group.label, "case": group.candidate,
                              "mode": "", "ok": False, "error": None, "check": None}
    try:
        torch._dynamo.reset()
        inst = spec.make_instance(group, kernel, dev.name)
        hook = getattr(inst, "compile_module", None)
        if callable(hook):
            record["mode"] = "module"
            module, args = hook()
            with torch.no_grad():
                compiled = torch.compile(module, fullgraph=True)
                got = compiled(*args)
                want = _reference_fn(inst, group, group.candidate)
                ref = want() if want is not None else module(*args).float()
        else:
            record["mode"] = "call"
            method = getattr(inst, f"benchmark_{group.candidate}")
            compiled = torch.compile(lambda: _call_output(inst, method), fullgraph=True)
            spec.refresh_inputs(inst, cfg.seed + 7)
            for name in spec.output_names(inst):
                poison_(getattr(inst, name, None))
            got = compiled()
            want = _reference_fn(inst, group, group.candidate)
            if want is None:
                record["ok"] = isinstance(got, torch.Tensor)
                record["error"] = None if record["ok"] else "compiled call returned no tensor"
                return record
            ref = want()
        dev.sync()
        check = check_output(got, ref, tolerance_for(got.dtype, getattr(inst, "tolerance", None)))
        record["check"] = check.to_dict()
        record["ok"] = check.ok
        record["error"] = None if check.ok else check.detail
    except Exception as exc:
        record["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:500]
    return record


# ---------------------------------------------------------------------------
# provenance and the whole run


def _git(cwd: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def provenance(kernel_dir: Path, cpu_smoke: bool, kernel_note: str = "") -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "kernel_dir": str(kernel_dir),
        "kernel_load": kernel_note,
        # A copied tree (the device machine's) has no .git: the caller may pass the commit in.
        "git_commit": _git(kernel_dir, "rev-parse", "HEAD") or os.environ.get("LABCONSOLE_GIT_COMMIT"),
        "git_dirty": None,
        "argv": sys.argv,
    }
    status = _git(kernel_dir, "status", "--porcelain", "--", ".")
    info["git_dirty"] = None if status is None else bool(status)
    try:
        import triton  # type: ignore[import-not-found]

        info["triton"] = triton.__version__
    except Exception:
        info["triton"] = None
    if cpu_smoke:
        info.update(device="cpu (smoke)", driver=None)
        return info
    props = torch.cuda.get_device_properties(0)
    info.update(
        device=torch.cuda.get_device_name(0),
        device_capability=".".join(map(str, torch.cuda.get_device_capability(0))),
        sm_count=props.multi_processor_count,
        l2_bytes=getattr(props, "L2_cache_size", None),
        device_mem_bytes=props.total_memory,
        cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
    )
    from labconsole.gpu.telemetry import GpuTelemetry

    tel = GpuTelemetry()
    snap = tel.snapshot()
    tel.close()
    info["driver"] = snap.driver_version
    if snap.available and snap.gpus:
        g = snap.gpus[0]
        info["clocks_at_start"] = {"sm_mhz": g.sm_clock_mhz, "mem_mhz": g.mem_clock_mhz,
                                   "power_limit_w": g.power_limit_w, "temp_c": g.temperature_c}
    return info


def require_cuda() -> None:
    try:
        import torch
    except ImportError as exc:
        raise LabError("labconsole bench needs PyTorch with CUDA: torch is not installed") from exc
    if not torch.cuda.is_available():
        raise LabError(
            f"labconsole bench needs a CUDA GPU: torch {torch.__version__} sees none "
            "(use --cpu-smoke to check a benchmark file's logic on CPU; its numbers mean nothing)"
        )


def run_bench(kernel_dir: Path, cfg: BenchConfig | None = None, prev_dir: Path | None = None,
              log: Callable[[str], None] = lambda s: print(s, file=sys.stderr)) -> BenchReport:
    cfg = cfg or BenchConfig()
    kernel_dir = Path(kernel_dir).resolve()
    if not kernel_dir.is_dir():
        raise LabError(f"{kernel_dir}: not a directory")
    if not cfg.cpu_smoke:
        require_cuda()
    scripts = spec.discover_scripts(kernel_dir)
    kernel, note = spec.load_kernel(kernel_dir)
    prev_kernel = None
    if prev_dir is not None:
        prev_kernel, prev_note = spec.load_kernel(Path(prev_dir).resolve())
        note += f"; prev: {prev_note}"
    dev = _Device(cpu=cfg.cpu_smoke)
    report = BenchReport(provenance=provenance(kernel_dir, cfg.cpu_smoke, note), config=cfg)
    report.provenance["l2_flush_bytes"] = 0 if dev.flush_buf is None else dev.flush_buf.numel()
    report.device_copy = measure_device_copy(dev, cfg)
    log(f"device copy: {report.device_copy['gbps']:.0f} GB/s ({report.device_copy['bytes'] / 2**20:.0f} MiB moved)")
    cwd = os.getcwd()
    os.chdir(kernel_dir)  # benchmark files may open paths relative to the kernel repo, as under `kernels benchmark`
    try:
        for script in scripts:
            for cls in spec.load_classes(script):
                groups = spec.plan_groups(script, cls, cfg.shapes, cfg.only)
                log(f"{script.name}:{cls.__name__}: {len(groups)} shape(s)")
                for group in groups:
                    try:
                        report.groups.append(run_group(group, kernel, dev, cfg, prev_kernel, log))
                    except Exception as exc:
                        report.groups.append(GroupResult(group.bench_id, group.shape, group.label, 0,
                                                         group.candidate, None, 0, [],
                                                         error=f"{type(exc).__name__}: {exc}".splitlines()[0]))
                if cfg.compile_check and groups:
                    shared = [g for g in groups if g.setup_name == "setup"] or groups
                    report.compile_checks.append(compile_check(shared[len(shared) // 2], kernel, dev, cfg))
    finally:
        os.chdir(cwd)
    apply_bandwidth_flags(report)
    return report


# ---------------------------------------------------------------------------
# presentation


def format_report(data: dict[str, Any]) -> str:
    """A compact table of a report dict (``BenchReport.to_dict()`` or loaded JSON)."""
    prov = data.get("provenance", {})
    lines = [f"{prov.get('device')}  driver {prov.get('driver')}  torch {prov.get('torch')}  "
             f"cuda {prov.get('cuda')}  commit {str(prov.get('git_commit'))[:10]}  {prov.get('date')}"]
    dc = data.get("device_copy") or {}
    if dc.get("gbps"):
        lines.append(f"device copy: {dc['gbps']:.0f} GB/s over {dc['bytes'] / 2**20:.0f} MiB; "
                     f"ceiling used (best copy in run) {dc.get('peak_gbps') or 0:.0f} GB/s")
    lines.append(f"{'shape':<22} {'case':<18} {'device µs':>10} {'±IQR':>8} {'host µs':>9} {'GB/s':>8} "
                 f"{'%copy':>6} {'%peak':>6}  check  flags")
    for g in data.get("groups", []):
        if g.get("error"):
            lines.append(f"{g['label']:<22} error: {g['error']}")
            continue
        for c in g["cases"]:
            d, h = c.get("device") or {}, c.get("host") or {}
            check = c.get("check")
            ok = "-" if check is None else ("ok" if check["ok"] else "FAIL")
            flags = ",".join(f["kind"] for f in c.get("flags", []) if f["severity"] != "info")
            name = ("*" if c["role"] == "candidate" else " ") + c["name"]
            lines.append(
                f"{g['label']:<22} {name:<18} {_num(d.get('median_us')):>10} {_num(d.get('iqr_us')):>8} "
                f"{_num(h.get('median_us')):>9} {_num(c.get('gbps'), '.0f'):>8} {_num(c.get('pct_of_copy'), '.0f'):>6} "
                f"{_num(c.get('pct_of_peak_copy'), '.0f'):>6}  "
                f"{ok:<5}  {flags}"
            )
    for cc in data.get("compile_checks", []):
        lines.append(f"torch.compile(fullgraph=True) {cc['bench']} {cc['shape']} [{cc['mode']}]: "
                     f"{'ok' if cc['ok'] else 'FAIL ' + str(cc.get('error'))}")
    lines.append("result: " + ("ok" if data.get("ok") else "NOT OK (see flags)"))
    return "\n".join(lines)


def _num(x: Any, spec_: str = ".2f") -> str:
    return "-" if x is None or isinstance(x, str) else f"{x:{spec_}}"


def trackio_rows(data: dict[str, Any]) -> list[dict[str, float]]:
    """One Trackio log row per group: ``<case>/device_us``, ``<case>/host_us``, ``<case>/gbps`` plus shape numbers."""
    rows = []
    for g in data.get("groups", []):
        row: dict[str, float] = {f"shape/{k}": float(v) for k, v in g["shape"].items() if isinstance(v, (int, float))}
        row["bytes"] = float(g["bytes"])
        for c in g["cases"]:
            d, h = c.get("device") or {}, c.get("host") or {}
            for key, value in (("device_us", d.get("median_us")), ("host_us", h.get("median_us")),
                               ("gbps", c.get("gbps")), ("pct_of_copy", c.get("pct_of_copy"))):
                if isinstance(value, (int, float)):
                    row[f"{c['name']}/{key}"] = float(value)
        rows.append(row)
    return rows


def log_report_to_trackio(data: dict[str, Any], project: str, name: str | None = None) -> int:
    import trackio

    run = trackio.init(project=project, name=name, config={"provenance": data.get("provenance", {})})
    rows = trackio_rows(data)
    for step, row in enumerate(rows):
        run.log(row, step=step)
    trackio.finish()
    return len(rows)
