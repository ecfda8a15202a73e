#!/usr/bin/env python3
"""Device benchmark of rmsnorm against its baselines, all in one process on one GPU.

Method (docs/DESIGN.md §5 / issue 6):
- device time: each candidate is captured once in a CUDA graph; every rep first writes a
  256 MiB buffer (flushes the 50 MB L2, and keeps the host ahead of the GPU), then times one
  graph replay between CUDA events. Candidates are interleaved rep by rep; median reported.
- kernel time: the same graphs, flushes and interleaving under torch.profiler (CUPTI); per
  rep, first kernel start to last kernel end of the candidate's own work. This is the device
  time without the ~3-4 µs of graph launch + event overhead that the event timing includes
  for every candidate alike (and that dominates, with its noise, below ~512 rows).
- host-inclusive time: back-to-back eager calls, wall clock / call, synchronized at the end.
- bandwidth = bytes that must move (inputs read once + outputs written once) / device time,
  compared with the fastest of three same-size copies timed in the same run: x.clone() in a
  graph (a memcpy node), x.clone() launched eagerly between the same events, and x.neg()
  (an SM kernel moving the same bytes). "pct_of_copy" uses that fastest copy.

    python run_device.py --kernel-dir kernels/rmsnorm --out results.json [--commit SHA]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

EPS = 1e-6
Fn = Callable[[], object]


def hf_rms_norm(x: torch.Tensor, w: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """transformers' Qwen3RMSNorm.forward, verbatim math."""
    h = x.to(torch.float32)
    h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)
    return w * h.to(x.dtype)


def hf_add_rms_norm(x: torch.Tensor, r: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The unfused pair in a Qwen3 decoder layer: residual add, then the norm."""
    s = r + x
    return hf_rms_norm(s, w), s


def _gpu_events(prof) -> list:
    """Kernels, memcpys and memsets the GPU ran (not GPU-side annotation ranges)."""
    out = []
    for e in prof.profiler.kineto_results.events():
        if e.device_type() != torch.autograd.DeviceType.CUDA:
            continue
        kind = e.activity_type() if hasattr(e, "activity_type") else None
        if kind is not None and kind not in ("kernel", "gpu_memcpy", "gpu_memset"):
            continue
        if kind is None and e.name().startswith(("ProfilerStep", "gpu_user_annotation")):
            continue
        out.append(e)
    return out


class Timer:
    def __init__(self, flush_mib: int = 256) -> None:
        self.flush = torch.empty(flush_mib * 2**20, dtype=torch.uint8, device="cuda")
        self._flush_activity: set[str] | None = None  # GPU activity names of one flush, profiled once

    def graph(self, fn: Fn) -> torch.cuda.CUDAGraph:
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for _ in range(3):
                fn()
        torch.cuda.current_stream().wait_stream(s)
        torch.cuda.synchronize()
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            fn()
        torch.cuda.synchronize()
        return g

    def device_us(self, fns: dict[str, Fn], reps: int, eager: tuple[str, ...] = ()) -> dict[str, dict]:
        """Keys in `eager` are launched directly (no graph) between the events."""
        graphs = {k: (f if k in eager else self.graph(f).replay) for k, f in fns.items()}
        events: dict[str, list] = {k: [] for k in fns}
        for _ in range(reps):
            for k, run in graphs.items():
                self.flush.zero_()
                a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                a.record()
                run()
                b.record()
                events[k].append((a, b))
        torch.cuda.synchronize()
        out = {}
        for k, ev in events.items():
            t = sorted(a.elapsed_time(b) * 1e3 for a, b in ev)
            out[k] = {"median_us": statistics.median(t), "p10_us": t[len(t) // 10], "p90_us": t[9 * len(t) // 10]}
        del graphs
        return out

    def kernel_us(self, fns: dict[str, Fn], reps: int) -> dict[str, dict]:
        """GPU execution time of each candidate's own work, from CUPTI (torch.profiler): per rep,
        first kernel/memcpy start to last end, so graph-launch and event overhead (a few µs,
        common to all candidates, noisy) is left out. Same graphs, flushes and interleaving as
        device_us; the flush's own activity delimits the reps."""
        from torch.profiler import ProfilerActivity, profile

        graphs = {k: self.graph(f) for k, f in fns.items()}
        flush_names = self._flush_names()
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            for _ in range(reps):
                for g in graphs.values():
                    self.flush.zero_()
                    g.replay()
            torch.cuda.synchronize()
        acts = sorted((e.start_ns(), e.end_ns(), e.name()) for e in _gpu_events(prof))
        segments: list[list[tuple[int, int, str]]] = []
        for a in acts:
            if a[2] in flush_names:
                segments.append([])
            elif segments:
                segments[-1].append(a)
        keys = list(fns)
        if len(segments) != reps * len(keys) or any(not seg for seg in segments):
            raise RuntimeError(f"profiler saw {len(segments)} flush-delimited segments, expected {reps * len(keys)}")
        spans: dict[str, list[float]] = {k: [] for k in keys}
        for i, seg in enumerate(segments):
            spans[keys[i % len(keys)]].append((max(e for _, e, _ in seg) - min(s for s, _, _ in seg)) / 1e3)
        del graphs
        out = {}
        for k, t in spans.items():
            t.sort()
            out[k] = {"median_us": statistics.median(t), "p10_us": t[len(t) // 10], "p90_us": t[9 * len(t) // 10]}
        return out

    def _flush_names(self) -> set[str]:
        if self._flush_activity is not None:
            return self._flush_activity
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            self.flush.zero_()
            torch.cuda.synchronize()
        names = {e.name() for e in _gpu_events(prof)}
        if not names:
            raise RuntimeError("the profiler saw no GPU activity for the L2 flush (CUPTI unavailable?)")
        self._flush_activity = names
        return names

    @staticmethod
    def host_us(fns: dict[str, Fn], calls: int = 300, rounds: int = 5) -> dict[str, float]:
        res: dict[str, list[float]] = {k: [] for k in fns}
        for f in fns.values():
            for _ in range(20):
                f()
        for _ in range(rounds):
            for k, f in fns.items():
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                for _ in range(calls):
                    f()
                torch.cuda.synchronize()
                res[k].append((time.perf_counter() - t0) / calls * 1e6)
        return {k: statistics.median(v) for k, v in res.items()}


def provenance(commit: str | None) -> dict:
    smi = subprocess.run(
        ["nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.max.sm", "--format=csv,noheader"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    p = torch.cuda.get_device_properties(0)
    import triton

    return {
        "date_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": commit,
        "device": torch.cuda.get_device_name(0),
        "nvidia_smi": smi,
        "sm_count": p.multi_processor_count,
        "l2_bytes": getattr(p, "L2_cache_size", None),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "triton": triton.__version__,
        "python": sys.version.split()[0],
    }


COPIES = ("copy", "copy_eager", "copy_sm")


def copy_fns(t: torch.Tensor) -> dict[str, Fn]:
    return {"copy": lambda: t.clone(), "copy_eager": lambda: t.clone(), "copy_sm": lambda: t.neg()}


def summarize(dev: dict, host: dict | None, nbytes: int) -> dict:
    copy_us = min(dev[k]["median_us"] for k in COPIES if k in dev)
    rows = {}
    for k, d in dev.items():
        gbs = nbytes / (d["median_us"] * 1e-6) / 1e9
        rows[k] = {
            **{m: round(v, 3) for m, v in d.items()},
            "gb_s": round(gbs, 1),
            "pct_of_copy": round(100 * copy_us / d["median_us"], 1),
            **({"host_us": round(host[k], 2)} if host and k in host else {}),
        }
    return rows


def print_medians(label: str, entry: dict) -> None:
    """One line each for the event-timed and the kernel-timed medians of a sweep entry."""
    for what, key in (("events", "candidates"), ("kernel", "kernel_time")):
        print(f"{label} {what}: " + ", ".join(f"{k}={v['median_us']:.2f}us" for k, v in entry[key].items()), flush=True)


def load_kernels(kernel_dir: Path):
    from kernels import get_local_kernel

    cuda_k = get_local_kernel(kernel_dir)
    triton_k = get_local_kernel(kernel_dir / "build" / "torch-cuda")
    assert cuda_k.BACKEND == "cuda", f"expected the compiled variant, got {cuda_k.BACKEND}"
    assert triton_k.BACKEND == "triton", triton_k.BACKEND
    return cuda_k, triton_k


def gpu_warmup(seconds: float = 3.0) -> None:
    """Bring clocks up from idle before anything is timed."""
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    t = time.time()
    while time.time() - t < seconds:
        a @ a
        torch.cuda.synchronize()


def shapes_for(npack: int) -> dict[str, tuple[int, ...]]:
    """Launch shapes a sweep may force for rows of `npack` packets: name -> (nv, lanes[, min_blocks])."""
    out = {}
    for nv in (1, 2, 4, 8, 16):
        if 32 <= -(-npack // nv) <= (256 if nv >= 16 else 512 if nv >= 8 else 1024):
            out[f"b{nv}"] = (nv, 0)
    if -(-npack // 2) <= 256:
        out["b2o6"] = (2, 0, 6)  # register-capped for 6 resident blocks per SM
    nv = next((n for n in (1, 2, 4, 8, 16) if 32 * n >= npack), None)
    if nv is not None and npack > 128:
        out[f"w{nv}"] = (nv, 32)
    return out


def tune_shapes(K, timer: Timer, reps: int) -> dict:
    tune: dict = {}
    for fused in (False, True):
        for h in (2048, 4096, 8192):
            for rows in (1, 16, 128, 256, 512, 1024, 2048, 4096, 8192, 65536):
                if fused and h != 4096:
                    continue
                x = torch.randn(rows, h, device="cuda", dtype=torch.bfloat16)
                r = torch.randn_like(x) if fused else None
                w = torch.rand(h, device="cuda", dtype=torch.bfloat16) + 0.5
                both = torch.randn(2 * rows, h, device="cuda", dtype=torch.bfloat16) if fused else x
                fns: dict[str, Fn] = {"copy_sm": lambda: both.neg()}
                for name, shape in shapes_for(h * 2 // 16).items():
                    fns[name] = (lambda sh: lambda: K.ops.rms_norm_config(x, w, EPS, sh[0], sh[1], r, *sh[2:]))(shape)
                fns["auto"] = (lambda: K.fused_add_rms_norm(x, r, w, EPS)) if fused else (lambda: K.rms_norm(x, w, EPS))
                key = f"{'fused_' if fused else ''}h{h}_rows{rows}"
                kt = timer.kernel_us(fns, reps)
                tune[key] = {k: round(v["median_us"], 3) for k, v in kt.items()}
                tune[key]["auto_is"] = K.ops.launch_config(rows, h, "bfloat16", fused)
                print(f"tune {key}: {tune[key]}", flush=True)
                del x, r, both, fns
    return tune


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernel-dir", type=Path, default=Path(__file__).resolve().parent.parent)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--commit")
    ap.add_argument("--reps", type=int, default=50)
    ap.add_argument("--quick", action="store_true", help="fewer shapes (smoke run)")
    ap.add_argument("--tune", action="store_true", help="also sweep launch shapes (kernel time)")
    ap.add_argument("--only-tune", action="store_true", help="only the launch-shape sweep")
    args = ap.parse_args()

    torch.manual_seed(0)
    torch._dynamo.config.cache_size_limit = 256
    torch._dynamo.config.accumulated_cache_size_limit = 4096
    K, T = load_kernels(args.kernel_dir)
    from liger_kernel.ops.fused_add_rms_norm import LigerFusedAddRMSNormFunction
    from liger_kernel.transformers.rms_norm import LigerRMSNorm

    gpu_warmup()
    timer = Timer()
    result: dict = {"provenance": provenance(args.commit), "method": __doc__}
    t_start = time.time()

    # Measured copy ceiling: 1 GiB device-to-device clone, bytes read + written.
    big = torch.randn(2**29, device="cuda", dtype=torch.bfloat16)
    d = timer.device_us(copy_fns(big), 20, eager=("copy_eager",))
    result["copy_peak_gb_s"] = {k: round(2 * big.numel() * 2 / (v["median_us"] * 1e-6) / 1e9, 1) for k, v in d.items()}
    del big
    torch.cuda.empty_cache()

    if args.only_tune:
        with torch.no_grad():
            result["tuning_bf16"] = tune_shapes(K, timer, max(20, args.reps // 2))
        result["elapsed_s"] = round(time.time() - t_start, 1)
        args.out.write_text(json.dumps(result, indent=1, default=str) + "\n")
        print(f"wrote {args.out} in {result['elapsed_s']} s")
        return 0

    hidden = 4096
    row_list = [1, 4, 16, 64, 128, 512, 2048, 4096, 16384, 65536]
    if args.quick:
        row_list = [1, 128, 4096, 65536]
    with torch.no_grad():
        # --- rms_norm, bf16, hidden 4096 ----------------------------------------------------
        comp = torch.compile(hf_rms_norm, dynamic=False)
        liger = LigerRMSNorm(hidden, eps=EPS).cuda().to(torch.bfloat16)
        sweep = {}
        for rows in row_list:
            x = torch.randn(rows, hidden, device="cuda", dtype=torch.bfloat16)
            w = torch.rand(hidden, device="cuda", dtype=torch.bfloat16) + 0.5
            liger.weight.data.copy_(w)
            fns: dict[str, Fn] = {
                **copy_fns(x),
                "cuda": lambda: K.rms_norm(x, w, EPS),
                "triton": lambda: T.rms_norm(x, w, EPS),
                "eager_qwen3": lambda: hf_rms_norm(x, w),
                "F.rms_norm": lambda: F.rms_norm(x, (hidden,), w, EPS),
                "torch.compile": lambda: comp(x, w),
                "liger": lambda: liger(x),
            }
            ref = hf_rms_norm(x.float(), w.float())
            err = {k: ((fns[k]().float() - ref).norm() / ref.norm()).item() for k in fns if k not in COPIES}
            dev = timer.device_us(fns, args.reps, eager=("copy_eager",))
            kern = timer.kernel_us({k: f for k, f in fns.items() if k != "copy_eager"}, args.reps)
            host = Timer.host_us({**fns, "cuda_raw_op": lambda: K.ops.rms_norm(x, w, EPS)}) if rows <= 4096 else None
            sweep[rows] = {
                "candidates": summarize(dev, host, 2 * x.numel() * 2),
                "rel_err_vs_fp32": err,
                "kernel_time": summarize(kern, None, 2 * x.numel() * 2),
                "launch_config": K.ops.launch_config(rows, hidden, "bfloat16"),
            }
            if host:
                sweep[rows]["cuda_raw_op_host_us"] = round(host["cuda_raw_op"], 2)
            print_medians(f"rms_norm rows={rows}", sweep[rows])
            del x, fns
            torch.cuda.empty_cache()
        result["rms_norm_bf16_h4096"] = sweep

        # --- fused_add_rms_norm, bf16, hidden 4096 ------------------------------------------
        comp_pair = torch.compile(hf_add_rms_norm, dynamic=False)
        fsweep = {}
        for rows in row_list:
            x = torch.randn(rows, hidden, device="cuda", dtype=torch.bfloat16)
            r = torch.randn_like(x)
            x2, r2 = x.clone(), r.clone()
            w = torch.rand(hidden, device="cuda", dtype=torch.bfloat16) + 0.5
            both = torch.randn(2 * rows, hidden, device="cuda", dtype=torch.bfloat16)
            fns = {
                **copy_fns(both),
                "cuda_fused": lambda: K.fused_add_rms_norm(x, r, w, EPS),
                "triton_fused": lambda: T.fused_add_rms_norm(x2, r2, w, EPS),
                "eager_unfused": lambda: hf_add_rms_norm(x, r, w),
                "torch.compile_unfused": lambda: comp_pair(x, r, w),
                "liger_fused": lambda: LigerFusedAddRMSNormFunction.apply(x, r, w, EPS, 0.0, "llama", False),
            }
            dev = timer.device_us(fns, args.reps, eager=("copy_eager",))
            kern = timer.kernel_us({k: f for k, f in fns.items() if k != "copy_eager"}, args.reps)
            host = Timer.host_us(fns) if rows <= 4096 else None
            fsweep[rows] = {
                "candidates": summarize(dev, host, 4 * x.numel() * 2),
                "kernel_time": summarize(kern, None, 4 * x.numel() * 2),
            }
            print_medians(f"fused rows={rows}", fsweep[rows])
            del x, r, x2, r2, both, fns
            torch.cuda.empty_cache()
        result["fused_add_rms_norm_bf16_h4096"] = fsweep

        # --- launch-shape sweep (kernel time), plain and fused ------------------------------
        if args.tune:
            result["tuning_bf16"] = tune_shapes(K, timer, max(20, args.reps // 2))

        # --- other dtypes and hidden sizes -------------------------------------------------
        other = {}
        shapes = [(dtp, 4096, rows) for dtp in (torch.float16, torch.float32) for rows in (1, 128, 4096, 65536)]
        shapes += [(torch.bfloat16, h, 16384) for h in (128, 1024, 2048, 5120, 8192, 4095)]
        shapes += [(torch.bfloat16, 128, 65536), (torch.bfloat16, 128, 32), (torch.bfloat16, 4095, 1)]
        for dtp, h, rows in shapes:
            x = torch.randn(rows, h, device="cuda", dtype=dtp)
            w = torch.rand(h, device="cuda", dtype=dtp) + 0.5
            fns = {
                **copy_fns(x),
                "cuda": lambda: K.rms_norm(x, w, EPS),
                "triton": lambda: T.rms_norm(x, w, EPS),
                "F.rms_norm": lambda: F.rms_norm(x, (h,), w, EPS),
                "torch.compile": lambda: comp(x, w),
            }
            dev = timer.device_us(fns, max(20, args.reps // 2), eager=("copy_eager",))
            key = f"{str(dtp).split('.')[-1]}_h{h}_rows{rows}"
            other[key] = {
                "path": K.cuda_path(h, dtp),
                "candidates": summarize(dev, None, 2 * x.numel() * x.element_size()),
            }
            print(
                f"{key}: " + ", ".join(f"{k}={v['median_us']:.2f}us" for k, v in other[key]["candidates"].items()),
                flush=True,
            )
            del x, fns
        result["other_shapes"] = other

    result["elapsed_s"] = round(time.time() - t_start, 1)
    args.out.write_text(json.dumps(result, indent=1, default=str) + "\n")
    print(f"copy peak {result['copy_peak_gb_s']} GB/s; wrote {args.out} in {result['elapsed_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
