"""Run every shipped eval case's checks on a GPU machine: the bare fixture and the reference solution.

    python3 tests/evals/device_golden.py OUT.json [CASE...]

Not a pytest module: it is what proves, on a leased GPU, that the GPU checks (correctness,
benchmark thresholds) fail for the starting code and pass for a real solution.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from evals.golden import apply_solution  # noqa: E402
from labconsole.evals.cases import load_cases  # noqa: E402
from labconsole.evals.checks import attempt_status, run_checks  # noqa: E402
from labconsole.evals.workspace import prepare_workdir  # noqa: E402


def main() -> int:
    out, only = Path(sys.argv[1]), sys.argv[2:]
    report = []
    for skill in ("cuda-kernels", "lab-protocol"):
        for case in load_cases(ROOT / "evals", skill):
            if only and case.id not in only:
                continue
            for variant in ("fixture", "solution"):
                with tempfile.TemporaryDirectory() as tmp:
                    wd = Path(tmp) / "wd"
                    base = prepare_workdir(case, wd)
                    if variant == "solution":
                        apply_solution(case, wd)
                    t0 = time.time()
                    checks = run_checks(case, wd, base, gpu=True)
                    bench = json.loads((wd / "bench.json").read_text()) if (wd / "bench.json").exists() else None
                row = {
                    "case": f"{skill}/{case.id}",
                    "variant": variant,
                    "status": attempt_status(checks),
                    "seconds": round(time.time() - t0, 1),
                    "checks": [
                        {"name": c.name, "status": c.status, "value": c.value, "detail": c.detail[-600:]}
                        for c in checks
                    ],
                    "bench": {k: v for k, v in (bench or {}).items() if k != "rows"} or None,
                    "bench_rows": (bench or {}).get("rows"),
                }
                report.append(row)
                print(
                    f"{row['case']:<36} {variant:<9} {row['status']:<10} {row['seconds']:>6}s "
                    + " ".join(
                        f"{c['name']}={c['status']}" + (f"({c['value']:.3g})" if c["value"] is not None else "")
                        for c in row["checks"]
                    ),
                    flush=True,
                )
    out.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
