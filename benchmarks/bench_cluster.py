"""Scheduler benchmark: N queued hypotheses over G simulated GPUs, on Ray (fake GPU resources) and locally
(the console's GPU lease pool), side by side.

Each hypothesis is one measurement run that holds one GPU and sleeps for a log-normal time (the spread of
real runs, scaled down). The console side is what the lab does: ``max_parallel_runs`` measurement threads,
each submitting a run and waiting for it. On Ray the runs are Ray tasks asking for ``num_gpus=1`` on a
head started with ``--num-gpus G`` (no GPU needed); locally they lease from ``GpuLeasePool``.

Reported: decisions per second (runs handed to a GPU per second of wall time), GPU idle share (1 - busy
GPU-seconds / (G x wall)), idle gap per hand-off (a GPU freed until its next run started: median, p95),
fairness across the measurement threads (runs per thread, min/max) and the console's own CPU and memory.
Goals from the issue: idle gap per hand-off < 2 s on Ray, < 0.5 s locally. Where a hand-off's time goes is
profiled per run: submit -> start (Ray's lease and dispatch, including any worker process it had to start)
and end -> console (the result's way back), plus how many worker processes Ray started during the runs.

Ray must not talk over the machine's outside address here: the script re-runs itself inside a private
network and PID namespace (``unshare -Urnpf``, loopback only), which also ends every Ray process with it.

    PYTHONPATH=. python benchmarks/bench_cluster.py [--hypotheses 1000] [--gpus 64] [--median-s 2.0]
        [--out benchmarks/results/bench_cluster.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

IN_NAMESPACE = "LABCONSOLE_BENCH_NETNS"
WARM_TASK_S = 3.0  # long enough that all G warm-up tasks run at once, each in its own worker
WARM_LIMIT_S = 180.0


@dataclass
class Span:
    gpu: str
    start: float
    end: float
    thread: int
    submitted: float = 0.0  # when the console handed the run over (0: not recorded)
    returned: float = 0.0  # when the console learned the run had ended
    worker: int = 0  # the pid of the Ray worker process that ran it (0: not Ray)


def durations(n: int, median_s: float, seed: int = 0) -> list[float]:
    """Log-normal run times (sigma 0.5: the slowest of a thousand about 5x the median)."""
    rng = random.Random(seed)
    return [median_s * rng.lognormvariate(0.0, 0.5) for _ in range(n)]


def drive(
    times: list[float], threads: int, run: Callable[[float, int], Span]
) -> tuple[list[Span], float, dict[str, float]]:
    """The console's side: ``threads`` measurement workers pull hypotheses off one queue and run them."""
    queue = list(enumerate(times))
    lock = threading.Lock()
    spans: list[Span] = []
    proc = psutil.Process()
    cpu0 = proc.cpu_times()
    rss_peak = [proc.memory_info().rss]
    done = threading.Event()

    def sample_memory() -> None:
        while not done.wait(0.5):
            rss_peak[0] = max(rss_peak[0], proc.memory_info().rss)

    def worker(index: int) -> None:
        while True:
            with lock:
                if not queue:
                    return
                _, seconds = queue.pop(0)
            span = run(seconds, index)
            with lock:
                spans.append(span)

    sampler = threading.Thread(target=sample_memory, daemon=True)
    sampler.start()
    t0 = time.time()
    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    wall = time.time() - t0
    done.set()
    cpu1 = proc.cpu_times()
    console = {
        "cpu_s": round((cpu1.user + cpu1.system) - (cpu0.user + cpu0.system), 2),
        "cpu_share_of_one_core": round(((cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)) / wall, 3),
        "rss_peak_mb": round(rss_peak[0] / 2**20, 1),
    }
    return spans, wall, console


def summarize(spans: list[Span], wall: float, gpus: int, console: dict[str, float]) -> dict[str, Any]:
    by_gpu: dict[str, list[Span]] = {}
    for s in spans:
        by_gpu.setdefault(s.gpu, []).append(s)
    gaps: list[float] = []
    for runs in by_gpu.values():
        runs.sort(key=lambda s: s.start)
        gaps += [max(0.0, b.start - a.end) for a, b in zip(runs, runs[1:], strict=False)]
    busy = sum(s.end - s.start for s in spans)
    # While hypotheses were still queued (until the last run started) idleness is the scheduler's; after
    # that it is the tail of the last runs draining, which no scheduler can fill.
    first, last_start = min(s.start for s in spans), max(s.start for s in spans)
    window = max(1e-9, last_start - first)
    busy_queued = sum(max(0.0, min(s.end, last_start) - max(s.start, first)) for s in spans)
    per_thread: dict[int, int] = {}
    for s in spans:
        per_thread[s.thread] = per_thread.get(s.thread, 0) + 1
    gaps.sort()
    return {
        "runs": len(spans),
        "wall_s": round(wall, 2),
        "decisions_per_s": round(len(spans) / wall, 2),
        "gpu_idle_share": round(1 - busy / (gpus * wall), 4),
        "gpu_idle_share_while_queued": round(1 - busy_queued / (gpus * window), 4),
        "gpus_used": len(by_gpu),
        "handoffs": len(gaps),
        "idle_gap_median_s": round(statistics.median(gaps), 4) if gaps else None,
        "idle_gap_p95_s": round(gaps[int(0.95 * (len(gaps) - 1))], 4) if gaps else None,
        "idle_gap_max_s": round(gaps[-1], 4) if gaps else None,
        "runs_per_thread_min_max": [min(per_thread.values()), max(per_thread.values())] if per_thread else None,
        "console": console,
        **profile(spans),
    }


def profile(spans: list[Span]) -> dict[str, Any]:
    """Where a hand-off's time goes: submit -> start (the scheduler's lease and dispatch) and end -> the
    console hearing of it (the result's way back), median and p95 each."""
    timed = [s for s in spans if s.submitted and s.returned]
    if not timed:
        return {}

    def stats(values: list[float]) -> dict[str, float]:
        values = sorted(values)
        return {"median": round(statistics.median(values), 4), "p95": round(values[int(0.95 * (len(values) - 1))], 4)}

    return {
        "submit_to_start_s": stats([s.start - s.submitted for s in timed]),
        "end_to_console_s": stats([s.returned - s.end for s in timed]),
    }


def bench_local(times: list[float], gpus: int) -> dict[str, Any]:
    from labconsole.gpu.leases import GpuLeasePool

    pool = GpuLeasePool(list(range(gpus)))

    def run(seconds: float, thread: int) -> Span:
        with pool.acquire(1, 0, f"t{thread}") as lease:
            start = time.time()
            time.sleep(seconds)
            end = time.time()
        return Span(str(lease.gpus[0]), start, end, thread)

    spans, wall, console = drive(times, gpus, run)
    return summarize(spans, wall, gpus, console)


def bench_ray(times: list[float], gpus: int, tmp: Path) -> dict[str, Any]:
    import ray

    t0 = time.time()
    subprocess.run(
        [
            sys.executable,
            "-c",
            "from ray.scripts.scripts import main; main()",
            "start",
            "--head",
            f"--num-cpus={gpus}",
            f"--num-gpus={gpus}",
            "--port=6379",
            "--include-dashboard=false",
            f"--temp-dir={tmp / 'ray'}",
            "--disable-usage-stats",
        ],
        check=True,
        capture_output=True,
    )
    ray.init(address="127.0.0.1:6379", log_to_driver=False)

    # max_calls=0 as in the Ray executor: Ray's default for GPU tasks is one task per worker process,
    # which puts a worker start (seconds on a busy machine) into every hand-off.
    @ray.remote(num_cpus=1, num_gpus=1, max_retries=0, max_calls=0)
    def sleeper(seconds: float) -> tuple[str, float, float, int]:
        start = time.time()
        time.sleep(seconds)
        return ",".join(str(g) for g in ray.get_gpu_ids()), start, time.time(), os.getpid()

    # Warm the worker pool: a long-lived cluster has its G worker processes up already; here starting them
    # takes a while (Ray starts at most as many at once as the machine has cores). The warm-up tasks must
    # overlap: G tasks of no length ran on a handful of workers, the rest then started *during* the
    # measured runs, each start (seconds on a loaded small machine) an idle gap on the GPU it held.
    warm = ray.get([sleeper.remote(WARM_TASK_S) for _ in range(gpus)])
    while len({pid for *_, pid in warm}) < gpus and time.time() - t0 < WARM_LIMIT_S:
        warm = ray.get([sleeper.remote(WARM_TASK_S) for _ in range(gpus)])
    warm_pids = {pid for *_, pid in warm}
    startup = time.time() - t0

    def run(seconds: float, thread: int) -> Span:
        submitted = time.time()
        gpu, start, end, pid = ray.get(sleeper.remote(seconds))
        return Span(gpu, start, end, thread, submitted, time.time(), pid)

    spans, wall, console = drive(times, gpus, run)
    out = summarize(spans, wall, gpus, console)
    out["cluster_start_and_warm_s"] = round(startup, 1)
    out["workers_warm"] = len(warm_pids)
    out["workers_started_during_runs"] = len({s.worker for s in spans} - warm_pids)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hypotheses", type=int, default=1000)
    ap.add_argument("--gpus", type=int, default=64)
    ap.add_argument("--median-s", type=float, default=2.0, help="median run time (seconds)")
    ap.add_argument("--only", choices=["ray", "local"], default=None)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    if os.environ.get(IN_NAMESPACE) != "1" and args.only != "local":
        if not shutil.which("unshare"):
            print("bench_cluster: needs unshare (util-linux) to keep Ray on loopback", file=sys.stderr)
            return 2
        env = {**os.environ, IN_NAMESPACE: "1", "RAY_USAGE_STATS_ENABLED": "0"}
        return subprocess.run(
            [
                "unshare",
                "-Urnpf",
                "--mount-proc",
                "sh",
                "-c",
                'ip link set lo up && exec "$@"',
                "sh",
                sys.executable,
                *sys.argv,
            ],
            env=env,
        ).returncode
    times = durations(args.hypotheses, args.median_s)
    result: dict[str, Any] = {
        "hypotheses": args.hypotheses,
        "gpus": args.gpus,
        "median_run_s": args.median_s,
        "run_seconds_total": round(sum(times), 1),
        "ideal_wall_s": round(sum(times) / args.gpus, 1),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        # A shared machine: the 1-minute load average at the start and the end says how contended it was.
        "load_avg_1m": {"start": round(os.getloadavg()[0], 2)},
    }
    if args.only != "ray":
        result["local"] = bench_local(times, args.gpus)
    if args.only != "local":
        with tempfile.TemporaryDirectory(prefix="bc-") as tmp:
            os.environ["HOME"] = tmp  # Ray writes its auth token under HOME
            result["ray"] = bench_ray(times, args.gpus, Path(tmp))
    result["load_avg_1m"]["end"] = round(os.getloadavg()[0], 2)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
