#!/usr/bin/env python3
"""Bandwidth arithmetic for memory-bound kernels.

    python bandwidth.py --op rmsnorm --rows 4096 --hidden 4096 --dtype bf16 --us 30.5 [--copy-tbs 3.0]

prints bytes moved, achieved GB/s and the percentage of the copy bandwidth.
Import ``bytes_moved`` / ``achieved_gbs`` from other scripts.
"""

from __future__ import annotations

import argparse
import json
import sys

DTYPE_BYTES = {"fp32": 4, "float32": 4, "bf16": 2, "bfloat16": 2, "fp16": 2, "float16": 2, "fp8": 1}
H100_COPY_TBS = 3.0  # measured large device copy on H100 SXM; datasheet peak is ~3.35 TB/s


def bytes_moved(op: str, rows: int, hidden: int, elem: int) -> int:
    """Minimum bytes read + written by one call of ``op`` on a (rows, hidden) tensor."""
    n = rows * hidden
    if op == "copy" or op == "softmax":
        return 2 * n * elem
    if op == "rmsnorm":
        return 2 * n * elem + hidden * elem  # x in, y out, weight once
    if op == "add-rmsnorm":
        return 4 * n * elem + hidden * elem  # x, residual in; y, new residual out; weight
    raise ValueError(f"unknown op {op!r}; known: copy, softmax, rmsnorm, add-rmsnorm")


def achieved_gbs(nbytes: int, seconds: float) -> float:
    return nbytes / seconds / 1e9


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--op", default="rmsnorm")
    p.add_argument("--rows", type=int, required=True)
    p.add_argument("--hidden", type=int, required=True)
    p.add_argument("--dtype", default="bf16", choices=sorted(DTYPE_BYTES))
    p.add_argument("--us", type=float, required=True, help="median time per call in microseconds")
    p.add_argument("--copy-tbs", type=float, default=H100_COPY_TBS, help="measured copy bandwidth in TB/s")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    nbytes = bytes_moved(a.op, a.rows, a.hidden, DTYPE_BYTES[a.dtype])
    gbs = achieved_gbs(nbytes, a.us * 1e-6)
    out = {"bytes": nbytes, "gb_per_s": round(gbs, 1), "pct_of_copy": round(100 * gbs / (a.copy_tbs * 1e3), 1)}
    if a.json:
        print(json.dumps(out))
    else:
        print(f"{nbytes / 1e6:.2f} MB moved, {out['gb_per_s']} GB/s, {out['pct_of_copy']}% of {a.copy_tbs} TB/s copy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
