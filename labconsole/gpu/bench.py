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

import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from labconsole.errors import LabError
from labconsole.gpu import bench_spec as spec
from labconsole.gpu.bench_device import BenchCase, BenchDevice, measure_device_copy, rotate
from labconsole.gpu.bench_provenance import provenance, require_cuda
from labconsole.gpu.bench_report import format_report, log_report_to_trackio, trackio_rows
from labconsole.gpu.bench_results import (
    SCHEMA,
    BenchConfig,
    BenchReport,
    CaseResult,
    GroupResult,
    method_description,
)
from labconsole.gpu.bench_stats import (
    CheckResult,
    Flag,
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

# The harness's public names: callers import them from here, wherever they are defined.
__all__ = [
    "SCHEMA",
    "BenchCase",
    "BenchConfig",
    "BenchDevice",
    "BenchReport",
    "CaseResult",
    "GroupResult",
    "apply_bandwidth_flags",
    "compile_check",
    "format_report",
    "log_report_to_trackio",
    "measure_device_copy",
    "method_description",
    "provenance",
    "require_cuda",
    "run_bench",
    "run_group",
    "trackio_rows",
]

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


def _check_case(
    inst: Any, group: spec.Group, case: BenchCase, dev: BenchDevice, cfg: BenchConfig, trial_seed: int
) -> tuple[CheckResult | None, list[Flag]]:
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


def apply_bandwidth_flags(report: BenchReport) -> float | None:
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
                r.flags += bandwidth_flags(
                    r.name, r.gbps, g.copy_gbps, margin, r.device, None if copy is None else copy.device, peak
                )
    return peak


def run_group(
    group: spec.Group,
    kernel: Any,
    dev: BenchDevice,
    cfg: BenchConfig,
    prev_kernel: Any = None,
    log: Callable[[str], None] = lambda s: None,
) -> GroupResult:
    import torch

    inst = spec.make_instance(group, kernel, dev.name)
    nbytes = spec.bytes_moved(inst)
    cases: list[BenchCase] = []
    for v in group.variants:
        role = "candidate" if v == group.candidate else "baseline"
        cases.append(BenchCase(v, role, getattr(inst, f"benchmark_{v}")))
    ref_fn = _reference_fn(inst, group, group.candidate)
    if cfg.verify_baselines and len(group.variants) == 1 and ref_fn is not None:
        cases.append(BenchCase("ref_eager", "baseline", ref_fn))
        if not dev.cpu:  # inductor on CPU needs a C++ toolchain and seconds per shape: not for smoke tests
            cases.append(BenchCase("ref_compiled", "baseline", torch.compile(ref_fn, dynamic=False)))
    if prev_kernel is not None:
        cases.append(
            BenchCase(
                f"prev:{group.candidate}",
                "prev",
                _with_kernel(inst, prev_kernel, getattr(inst, f"benchmark_{group.candidate}")),
            )
        )
    # The yardstick: a device copy moving the same bytes (half read, half written), in the output's
    # element type so the copy kernel vectorises as the op's own loads and stores can (x.clone()).
    out0 = getattr(inst, spec.output_names(inst)[0], None)
    elem = out0.dtype if isinstance(out0, torch.Tensor) and out0.is_floating_point() else torch.float32
    half = max(nbytes // 2 // torch.empty((), dtype=elem).element_size(), 1)
    src = torch.randn(half, device=dev.name).to(elem)
    dst = torch.empty_like(src)
    cases.append(BenchCase("copy", "copy", lambda: dst.copy_(src)))

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
        dev.device_round(rotate(live, reps))
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
        for c in rotate(live, rep):
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
    return GroupResult(
        bench=group.bench_id,
        shape=group.shape,
        label=group.label,
        bytes=nbytes,
        candidate=group.candidate,
        copy_gbps=copy_gbps,
        reps=reps,
        cases=list(results.values()),
    )


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


def compile_check(group: spec.Group, kernel: Any, dev: BenchDevice, cfg: BenchConfig) -> dict[str, Any]:
    """Compile a module using the op (``compile_module()``) — or the candidate call — with fullgraph=True."""
    import torch

    record: dict[str, Any] = {
        "bench": group.bench_id,
        "shape": group.label,
        "case": group.candidate,
        "mode": "",
        "ok": False,
        "error": None,
        "check": None,
    }
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

            def call_candidate() -> Any:
                return _call_output(inst, method)

            compiled = torch.compile(call_candidate, fullgraph=True)
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


def run_bench(
    kernel_dir: Path,
    cfg: BenchConfig | None = None,
    prev_dir: Path | None = None,
    log: Callable[[str], None] = lambda s: print(s, file=sys.stderr),
) -> BenchReport:
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
    dev = BenchDevice(cpu=cfg.cpu_smoke)
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
                        report.groups.append(
                            GroupResult(
                                group.bench_id,
                                group.shape,
                                group.label,
                                0,
                                group.candidate,
                                None,
                                0,
                                [],
                                error=f"{type(exc).__name__}: {exc}".splitlines()[0],
                            )
                        )
                if cfg.compile_check and groups:
                    shared = [g for g in groups if g.setup_name == "setup"] or groups
                    report.compile_checks.append(compile_check(shared[len(shared) // 2], kernel, dev, cfg))
    finally:
        os.chdir(cwd)
    apply_bandwidth_flags(report)
    return report
