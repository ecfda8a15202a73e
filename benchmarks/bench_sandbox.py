"""Run start cost of the measurement sandbox: the same trivial objective measured sandboxed (bubblewrap) and
unsandboxed (degraded), interleaved in one process; prints the medians, the extra seconds per run and the ratio.
Target: at most 0.3 s extra per run start.

    PYTHONPATH=. python benchmarks/bench_sandbox.py [--runs 20] [--out benchmarks/results/bench_sandbox.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from labconsole.core.config import load_config  # noqa: E402
from labconsole.core.sandbox import bwrap_path  # noqa: E402
from labconsole.lab.gitops import LabRepo  # noqa: E402
from labconsole.runs.executor import ExecutorContext  # noqa: E402
from labconsole.runs.local import LocalExecutor, RunRequest  # noqa: E402
from labconsole.runs.run_sandbox import SandboxStatus  # noqa: E402
from tests.helpers.git_lab import init_lab  # noqa: E402

TARGET_EXTRA_S = 0.3
LAB_TOML = """
[lab]
name = "bench-sandbox"
[objective]
name = "loss"
command = "echo loss 1.0"
metric = "regex:^loss (\\\\S+)"
repeats = 1
[search]
file = "x.txt"
[search.space]
X = { type = "int", low = 1, high = 3 }
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "bench_sandbox.json")
    args = parser.parse_args()
    if bwrap_path() is None:
        print("bubblewrap is not available here: nothing to compare")
        return 1
    base = Path(tempfile.mkdtemp(prefix="bench-sandbox-", dir="/var/tmp" if os.access("/var/tmp", os.W_OK) else None))
    try:
        lab = init_lab(base / "lab", {"lab.toml": LAB_TOML, "x.txt": "x\n"})
        repo = LabRepo(lab)
        sha = repo.head_sha()
        config = load_config(lab / "lab.toml")
        executors = {}
        for mode in ("bwrap", "degraded"):
            ex = LocalExecutor(
                ExecutorContext(repo, config, lambda *a: None, lambda b: "x", lab / ".labconsole" / "runs")
            )
            ex.sandbox = SandboxStatus(mode, "" if mode == "bwrap" else "benchmark")
            executors[mode] = ex
        times: dict[str, list[float]] = {"bwrap": [], "degraded": []}
        for i in range(args.runs):
            for mode in ("bwrap", "degraded") if i % 2 else ("degraded", "bwrap"):  # interleaved: drift hits both
                t0 = time.perf_counter()
                outcome, _ = executors[mode].run_once(RunRequest(f"b{i}-{mode}", "h", "candidate", sha, 0, {}))
                times[mode].append(time.perf_counter() - t0)
                assert outcome.status == "ok" and outcome.sandbox == mode, outcome
    finally:
        shutil.rmtree(base, ignore_errors=True)
    med = {mode: statistics.median(ts) for mode, ts in times.items()}
    extra = med["bwrap"] - med["degraded"]
    ratio = med["bwrap"] / med["degraded"]
    print(
        f"run (checkout + objective + verify), median of {args.runs}: unsandboxed {med['degraded'] * 1000:.1f} ms, "
        f"sandboxed {med['bwrap'] * 1000:.1f} ms"
    )
    print(f"extra per run start: {extra * 1000:.1f} ms (target <= {TARGET_EXTRA_S * 1000:.0f} ms); ratio {ratio:.2f}x")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "host": platform.node(),
                "cpus": os.cpu_count(),
                "runs": args.runs,
                "median_s": med,
                "extra_s": round(extra, 4),
                "ratio": round(ratio, 3),
                "target_extra_s": TARGET_EXTRA_S,
                "samples_s": {k: [round(t, 4) for t in v] for k, v in times.items()},
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {args.out}")
    return 0 if extra <= TARGET_EXTRA_S else 1


if __name__ == "__main__":
    sys.exit(main())
