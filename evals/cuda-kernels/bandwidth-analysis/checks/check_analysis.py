"""Check analysis.json against numbers recomputed from timings.json.

Bytes: RMSNorm reads x and writes y (+ the weight once); fused add + RMSNorm
reads x and the residual and writes y and the new residual (+ weight);
softmax reads and writes one tensor. A figure is untrustworthy when it
exceeds the H100's HBM3 peak (3.35 TB/s) or when the working set fits in the
50 MB L2 and L2 was not flushed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HBM_PEAK_GBS = 3350.0
L2_BYTES = 50e6
TENSORS = {"rmsnorm": 2, "add-rmsnorm": 4, "softmax": 2}


def expected(e: dict, elem: int = 2) -> dict:
    n = e["rows"] * e["hidden"]
    nbytes = TENSORS[e["op"]] * n * elem + (e["hidden"] * elem if "rmsnorm" in e["op"] else 0)
    gbs = nbytes / (e["us"] * 1e-6) / 1e9
    copy_gbs = 2 * n * elem / (e["copy_us"] * 1e-6) / 1e9
    trust = gbs <= HBM_PEAK_GBS and (e["l2_flush"] or nbytes > L2_BYTES)
    return {"bytes": nbytes, "gb_per_s": gbs, "pct_of_copy": 100 * gbs / copy_gbs, "trustworthy": trust}


def close(got: object, want: float, rel: float) -> bool:
    return isinstance(got, (int, float)) and abs(float(got) - want) <= rel * abs(want)


def main() -> int:
    timings = json.loads(Path("timings.json").read_text())["entries"]
    try:
        got = {e["name"]: e for e in json.loads(Path("analysis.json").read_text())["entries"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"analysis.json unreadable: {exc}")
        return 1
    bad = []
    for e in timings:
        want, have = expected(e), got.get(e["name"])
        if have is None:
            bad.append(f"{e['name']}: missing")
            continue
        for key, rel in (("bytes", 0.01), ("gb_per_s", 0.02), ("pct_of_copy", 0.02)):
            if not close(have.get(key), want[key], rel):
                bad.append(f"{e['name']}: {key} {have.get(key)!r}, expected ~{want[key]:.4g}")
        if have.get("trustworthy") is not want["trustworthy"]:
            bad.append(f"{e['name']}: trustworthy should be {want['trustworthy']}")
    for b in bad:
        print(f"FAIL {b}")
    print(f"{len(timings) - len({b.split(':')[0] for b in bad})}/{len(timings)} entries right")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
