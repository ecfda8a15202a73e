#!/usr/bin/env python3
"""Issue 6 targets, checked against a run_device.py result file (kernels/rmsnorm/benchmarks).

    python benchmarks/bench_rmsnorm_report.py benchmarks/results/rmsnorm_h100_cf6bcf3.json \
        [--e2e benchmarks/results/rmsnorm_e2e_h100_cf6bcf3.json] [--json OUT]

Prints markdown tables (the kernel card's results section) and, with --json, the per-target
verdicts, for each measure the run holds: device time from CUDA events around a graph replay,
and kernel time from CUPTI (launch overhead left out). "copy" is the fastest same-size copy
timed in the same run with the same measure.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

COPIES = ("copy", "copy_eager", "copy_sm")


MEASURES = {
    "candidates": "device time, CUDA events around one graph replay (includes ~3-4 µs launch overhead)",
    "kernel_time": "kernel time, CUPTI: first kernel start to last kernel end of the candidate's own work",
}


def _us(c: dict, k: str) -> float:
    return c[k]["median_us"]


def _best_copy(c: dict) -> float:
    return min(_us(c, k) for k in COPIES if k in c)


def _measures(v: dict) -> list[str]:
    return [m for m in MEASURES if m in v]


def _rows(res: dict, op: str, measure: str, candidate: str) -> Iterator[tuple[int, dict, dict, float, float]]:
    """Each row count of `op` that `measure` covers: (rows, its entry, that measure's timings, the
    candidate's µs, the best copy's µs)."""
    for rows, v in res[op].items():
        if measure in v:
            c = v[measure]
            yield int(rows), v, c, _us(c, candidate), _best_copy(c)


def _head(*columns: str) -> list[str]:
    """A markdown table's header and alignment rows, every column right-aligned (numbers)."""
    return ["| " + " | ".join(columns) + " |", "|" + "---:|" * len(columns)]


def rms_table(res: dict, measure: str = "candidates") -> tuple[list[str], list[dict]]:
    lines = _head(
        "rows",
        "cuda µs",
        "GB/s",
        "% of copy",
        "Δ vs copy µs",
        "host µs (copy)",
        "× compile",
        "× Liger",
        "× F.rms_norm",
        "× eager",
    )
    verdicts = []
    for r, v, c, cu, cp in _rows(res, "rms_norm_bf16_h4096", measure, "cuda"):
        host_c = v["candidates"]
        x = {k: _us(c, k) / cu for k in ("torch.compile", "liger", "F.rms_norm", "eager_qwen3")}
        host = host_c["cuda"].get("host_us")
        host_copy = host_c["copy"].get("host_us")
        host_txt = f"{host} ({host_copy})" if measure == "candidates" and host is not None else "–"
        lines.append(
            f"| {r} | {cu:.2f} | {c['cuda']['gb_s']:.0f} | {100 * cp / cu:.1f} | {cu - cp:+.2f} | {host_txt} | "
            f"{x['torch.compile']:.3f} | {x['liger']:.3f} | {x['F.rms_norm']:.2f} | {x['eager_qwen3']:.1f} |"
        )
        t = {
            "rows": r,
            "x_compile": round(x["torch.compile"], 3),
            "x_liger": round(x["liger"], 3),
            "vs_compile_ge_1": x["torch.compile"] >= 1.0,
            "vs_liger_ge_1": x["liger"] >= 1.0,
        }
        if r >= 4096:
            t["pct_copy"] = round(100 * cp / cu, 1)
            t["pct_copy_ge_95"] = 100 * cp / cu >= 95
            t["x_F_rms_norm"] = round(x["F.rms_norm"], 3)
            t["vs_F_rms_norm_ge_1.4"] = x["F.rms_norm"] >= 1.4
            # What 1.4x F.rms_norm would need, as a fraction of this run's same-size copy time.
            t["needed_for_1.4x_F_rms_norm_pct_of_copy_time"] = round(100 * _us(c, "F.rms_norm") / 1.4 / cp, 1)
        if r <= 128:
            t["device_minus_copy_us"] = round(cu - cp, 2)
            t["device_within_1.5us_of_copy"] = cu - cp <= 1.5
            if host is not None and host_copy is not None:
                t["host_x_copy"] = round(host / host_copy, 2)
                t["host_within_1.5x_copy"] = host <= 1.5 * host_copy
        verdicts.append(t)
    return lines, verdicts


def fused_table(res: dict, measure: str = "candidates") -> tuple[list[str], list[dict]]:
    lines = _head(
        "rows", "fused µs", "GB/s (4 tensors)", "% of copy", "× compile (unfused)", "× Liger fused", "× eager (unfused)"
    )
    verdicts = []
    for r, _, c, cu, cp in _rows(res, "fused_add_rms_norm_bf16_h4096", measure, "cuda_fused"):
        xc, xl, xe = (_us(c, k) / cu for k in ("torch.compile_unfused", "liger_fused", "eager_unfused"))
        lines.append(
            f"| {r} | {cu:.2f} | {c['cuda_fused']['gb_s']:.0f} | {100 * cp / cu:.1f} | {xc:.3f} | {xl:.3f} | {xe:.1f} |"
        )
        t = {
            "rows": r,
            "x_compile": round(xc, 3),
            "x_eager": round(xe, 2),
            "vs_compile_ge_1": xc >= 1.0,
            "vs_eager_ge_5": xe >= 5,
        }
        if r >= 4096:
            t["pct_copy"] = round(100 * cp / cu, 1)
            t["pct_copy_ge_95"] = 100 * cp / cu >= 95
        verdicts.append(t)
    return lines, verdicts


E2E_ROWS = (
    ("eager_prefill_1x2048_us", "eager prefill 1×2048"),
    ("eager_decode_1tok_ctx2048_us", "eager decode 1 token, ctx 2048"),
    ("compiled_prefill_1x2048_us", "compiled (regional) prefill 1×2048"),
    ("compiled_decode_1tok_ctx2048_us", "compiled decode (whole model, StaticCache)"),
    ("compiled_cudagraphs_decode_1tok_ctx2048_us", "compiled decode, mode=reduce-overhead (CUDA graphs)"),
)


def e2e_table(e2e: dict) -> list[str]:
    lines = ["| Qwen3-8B shape, 1 x H100 | baseline ms | rmsnorm kernels ms | speedup |", "|---|---:|---:|---:|"]
    for key, label in E2E_ROWS:
        val = e2e.get(key)
        if isinstance(val, dict) and all(isinstance(val.get(k), (int, float)) for k in ("baseline", "kernels")):
            b, k = val["baseline"], val["kernels"]
            lines.append(f"| {label} | {b / 1e3:.1f} | {k / 1e3:.1f} | {b / k:.2f}× |")
        elif val is not None:
            lines.append(f"| {label} | {str(val)[:80]} | | – |")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("bench", type=Path)
    ap.add_argument("--e2e", type=Path)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    res = json.loads(args.bench.read_text())
    prov = res["provenance"]
    print(
        f"{prov['device']} · driver {prov['nvidia_smi'].split(', ')[1]} · torch {prov['torch']} · "
        f"CUDA {prov['cuda']} · triton {prov['triton']} · commit {prov['commit']} · {prov['date_utc']}"
    )
    print(f"copy ceiling (1 GiB): {res['copy_peak_gb_s']} GB/s\n")
    out: dict = {"provenance": prov, "measures": MEASURES}
    for measure, label in MEASURES.items():
        rl, rv = rms_table(res, measure)
        fl, fv = fused_table(res, measure)
        if not rv:
            continue
        print(
            f"### {label}\n\nrms_norm, bf16, hidden 4096\n\n"
            + "\n".join(rl)
            + "\n\nfused_add_rms_norm, bf16, hidden 4096\n\n"
            + "\n".join(fl)
            + "\n"
        )
        out[measure] = {"rms_norm": rv, "fused_add_rms_norm": fv}
    if args.e2e:
        e2e = json.loads(args.e2e.read_text())
        print("\n".join(e2e_table(e2e)))
        out["e2e"] = {k: e2e[k] for k in e2e if k.endswith("_us")}
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
