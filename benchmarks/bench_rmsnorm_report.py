#!/usr/bin/env python3
"""Issue 6 targets, checked against a run_device.py result file (kernels/rmsnorm/benchmarks).

    python benchmarks/bench_rmsnorm_report.py benchmarks/results/rmsnorm_h100_cf6bcf3.json \
        [--e2e benchmarks/results/rmsnorm_e2e_h100_cf6bcf3.json] [--json OUT]

Prints markdown tables (the kernel card's results section) and, with --json, the per-target
verdicts. "copy" is the fastest of the three same-size copies timed in the same run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

COPIES = ("copy", "copy_eager", "copy_sm")


def _us(c: dict, k: str) -> float:
    return c[k]["median_us"]


def _best_copy(c: dict) -> float:
    return min(_us(c, k) for k in COPIES if k in c)


def rms_table(res: dict) -> tuple[list[str], list[dict]]:
    lines = [
        "| rows | cuda µs | GB/s | % of copy | Δ vs copy µs | host µs (copy) | × compile | × Liger | × F.rms_norm | × eager |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    verdicts = []
    for rows, v in res["rms_norm_bf16_h4096"].items():
        c, r = v["candidates"], int(rows)
        cu, cp = _us(c, "cuda"), _best_copy(c)
        x = {k: _us(c, k) / cu for k in ("torch.compile", "liger", "F.rms_norm", "eager_qwen3")}
        host = c["cuda"].get("host_us")
        host_copy = c["copy"].get("host_us")
        lines.append(
            f"| {r} | {cu:.2f} | {c['cuda']['gb_s']:.0f} | {100 * cp / cu:.1f} | {cu - cp:+.2f} | "
            f"{host if host is not None else '–'} ({host_copy if host_copy is not None else '–'}) | "
            f"{x['torch.compile']:.2f} | {x['liger']:.2f} | {x['F.rms_norm']:.2f} | {x['eager_qwen3']:.1f} |"
        )
        t = {"rows": r, "vs_compile_ge_1": x["torch.compile"] >= 1.0, "vs_liger_ge_1": x["liger"] >= 1.0}
        if r >= 4096:
            t["pct_copy_ge_95"] = 100 * cp / cu >= 95
            t["vs_F_rms_norm_ge_1.4"] = x["F.rms_norm"] >= 1.4
        if r <= 128:
            t["device_within_1.5us_of_copy"] = cu - cp <= 1.5
            t["host_within_1.5x_copy"] = host is not None and host_copy is not None and host <= 1.5 * host_copy
        repeat = v.get("repeat_median_us")
        if repeat:
            t["repeat_vs_compile"] = round(repeat["torch.compile"] / repeat["cuda"], 3)
            t["repeat_vs_liger"] = round(repeat["liger"] / repeat["cuda"], 3)
        verdicts.append(t)
    return lines, verdicts


def fused_table(res: dict) -> tuple[list[str], list[dict]]:
    lines = [
        "| rows | fused µs | GB/s (4 tensors) | % of copy | × compile (unfused) | × Liger fused | × eager (unfused) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    verdicts = []
    for rows, v in res["fused_add_rms_norm_bf16_h4096"].items():
        c, r = v["candidates"], int(rows)
        cu, cp = _us(c, "cuda_fused"), _best_copy(c)
        xc, xl, xe = (_us(c, k) / cu for k in ("torch.compile_unfused", "liger_fused", "eager_unfused"))
        lines.append(f"| {r} | {cu:.2f} | {c['cuda_fused']['gb_s']:.0f} | {100 * cp / cu:.1f} | {xc:.2f} | {xl:.2f} | {xe:.1f} |")
        t = {"rows": r, "vs_compile_ge_1": xc >= 1.0, "vs_eager_ge_5": xe >= 5}
        if r >= 4096:
            t["pct_copy_ge_95"] = 100 * cp / cu >= 95
        verdicts.append(t)
    return lines, verdicts


def e2e_table(e2e: dict) -> list[str]:
    lines = ["| Qwen3-8B shape, 1 x H100 | baseline | rmsnorm kernels | speedup |", "|---|---:|---:|---:|"]
    for key, label in (("eager_prefill_1x2048_us", "eager prefill 1×2048 (ms)"),
                       ("eager_decode_1tok_ctx2048_us", "eager decode 1 token, ctx 2048 (ms)"),
                       ("compiled_prefill_1x2048_us", "compiled (regional) prefill 1×2048 (ms)")):
        b, k = e2e[key]["baseline"], e2e[key]["kernels"]
        if isinstance(b, (int, float)) and isinstance(k, (int, float)):
            lines.append(f"| {label} | {b / 1e3:.1f} | {k / 1e3:.1f} | {b / k:.2f}× |")
        else:
            lines.append(f"| {label} | {b} | {k} | – |")
    lines.append(f"| compiled decode | {e2e.get('compiled_decode', '–')} | | |")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("bench", type=Path)
    ap.add_argument("--e2e", type=Path)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    res = json.loads(args.bench.read_text())
    prov = res["provenance"]
    print(f"{prov['device']} · driver {prov['nvidia_smi'].split(', ')[1]} · torch {prov['torch']} · "
          f"CUDA {prov['cuda']} · triton {prov['triton']} · commit {prov['commit']} · {prov['date_utc']}")
    print(f"copy ceiling (1 GiB): {res['copy_peak_gb_s']} GB/s\n")
    rl, rv = rms_table(res)
    fl, fv = fused_table(res)
    print("\n".join(rl) + "\n\n" + "\n".join(fl))
    out = {"provenance": prov, "rms_norm": rv, "fused_add_rms_norm": fv}
    if args.e2e:
        e2e = json.loads(args.e2e.read_text())
        print("\n" + "\n".join(e2e_table(e2e)))
        out["e2e"] = {k: e2e[k] for k in e2e if k.endswith("_us")}
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
