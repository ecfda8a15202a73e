"""GPU leases with real subprocesses: concurrency cap, priority order, freeing on crash/timeout, idle gaps."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import pytest

from labconsole.errors import LabError
from labconsole.gpu.leases import GpuLeasePool, LeaseTimeout, pool_for_machine, visible_gpu_ids

# The child records when it ran and which GPUs it saw.
CHILD = (
    "import json, os, sys, time\n"
    "t0 = time.time()\n"
    "time.sleep(float(sys.argv[2]))\n"
    "print(json.dumps({'run': sys.argv[1], 'cvd': os.environ['CUDA_VISIBLE_DEVICES'], 't0': t0, 't1': time.time()}))\n"
    "sys.exit(int(sys.argv[3]))\n"
)


def _run_with_lease(
    pool: GpuLeasePool,
    run_id: str,
    priority: int,
    sleep_s: float,
    out: list[dict],
    exit_code: int = 0,
    timeout: float | None = None,
) -> None:
    lease = pool.acquire(1, priority, run_id)
    try:
        env = dict(os.environ)
        env.update(lease.env())
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, run_id, str(sleep_s), str(exit_code)],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if proc.stdout.strip():
            out.append(json.loads(proc.stdout))
    finally:
        lease.release()


def _wait_for(cond, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.005)


def test_three_runs_on_two_gpus_never_more_than_two_at_once() -> None:
    pool = GpuLeasePool([0, 1])
    out: list[dict] = []
    threads = [threading.Thread(target=_run_with_lease, args=(pool, f"r{i}", 0, 0.4, out)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert len(out) == 3
    assert {r["cvd"] for r in out} <= {"0", "1"}
    # No instant is covered by more than two child processes.
    events = sorted([(r["t0"], 1) for r in out] + [(r["t1"], -1) for r in out])
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    assert peak == 2
    assert pool.peak_holders == 2
    assert pool.free_gpus() == [0, 1]


def test_queue_is_served_by_priority_then_fifo() -> None:
    pool = GpuLeasePool(["a", "b"])
    blockers = [pool.acquire(1, 0, "blocker-a"), pool.acquire(1, 0, "blocker-b")]
    granted: list[str] = []
    lock = threading.Lock()

    def wait_turn(run_id: str, priority: int) -> None:
        lease = pool.acquire(1, priority, run_id)
        with lock:
            granted.append(run_id)
        time.sleep(0.05)
        lease.release()

    threads = []
    for run_id, prio in [("low", 1), ("high-1", 5), ("mid", 3), ("high-2", 5)]:
        t = threading.Thread(target=wait_turn, args=(run_id, prio))
        t.start()
        threads.append(t)
        _wait_for(lambda: len(pool.queued()) == len(threads))  # enqueue in this exact order
    assert [q["run_id"] for q in pool.queued()] == ["high-1", "high-2", "mid", "low"]
    blockers[0].release()  # one GPU at a time, so the order is observable
    _wait_for(lambda: len(granted) == 1)
    blockers[1].release()
    for t in threads:
        t.join(10)
    assert granted == ["high-1", "high-2", "mid", "low"]


def test_lease_freed_when_run_crashes_or_times_out() -> None:
    pool = GpuLeasePool([0, 1])
    out: list[dict] = []
    _run_with_lease(pool, "crash", 0, 0.0, out, exit_code=3)
    assert out[0]["run"] == "crash" and pool.free_gpus() == [0, 1]
    with pytest.raises(subprocess.TimeoutExpired):
        _run_with_lease(pool, "hang", 0, 30.0, out, timeout=0.3)
    assert pool.free_gpus() == [0, 1] and pool.active_leases() == []


def test_context_manager_and_idempotent_release() -> None:
    pool = GpuLeasePool([0, 1, 2])
    with pool.acquire(2, run_id="r") as lease:
        assert lease.env() == {"CUDA_VISIBLE_DEVICES": "0,1"}
        assert pool.free_gpus() == [2]
    lease.release()
    lease.release()
    assert pool.free_gpus() == [0, 1, 2]
    cpu_only = pool.acquire(0, run_id="cpu")
    assert cpu_only.env() == {"CUDA_VISIBLE_DEVICES": ""}  # hides every GPU
    cpu_only.release()


def test_acquire_timeout_and_bad_requests() -> None:
    pool = GpuLeasePool([0])
    held = pool.acquire(1, run_id="holder")
    with pytest.raises(LeaseTimeout, match="no 1 GPU"):
        pool.acquire(1, run_id="late", timeout=0.05)
    assert pool.queued() == []
    with pytest.raises(LabError, match="asks for 2 GPU"):
        pool.acquire(2, run_id="big")
    held.release()


def test_head_of_queue_is_not_overtaken_by_smaller_requests() -> None:
    pool = GpuLeasePool([0, 1])
    first = pool.acquire(1, run_id="running")
    order: list[str] = []

    def take(run_id: str, n: int, prio: int) -> None:
        with pool.acquire(n, prio, run_id):
            order.append(run_id)
            time.sleep(0.02)

    big = threading.Thread(target=take, args=("big", 2, 5))
    big.start()
    _wait_for(lambda: len(pool.queued()) == 1)
    small = threading.Thread(target=take, args=("small", 1, 1))
    small.start()
    _wait_for(lambda: len(pool.queued()) == 2)
    time.sleep(0.05)
    assert order == []  # GPU 1 is free, but "small" must not jump the 2-GPU head
    first.release()
    big.join(5)
    small.join(5)
    assert order == ["big", "small"]


def test_idle_gaps_between_leases_with_fake_clock() -> None:
    now = [0.0]
    pool = GpuLeasePool([0, 1], clock=lambda: now[0])
    a = pool.acquire(1, run_id="a")  # GPU 0 at t=0; no gap before a first lease
    now[0] = 10.0
    a.release()
    now[0] = 13.5
    b = pool.acquire(2, run_id="b")  # GPU 0 idle 3.5 s; GPU 1 never leased before
    gaps = pool.idle_gaps()
    assert [(g.gpu, g.seconds, g.before_run, g.queued_at_start) for g in gaps] == [(0, 3.5, "b", False)]
    assert pool.idle_seconds() == 3.5 and pool.idle_seconds(1) == 0.0
    now[0] = 20.0
    b.release()
    now[0] = 21.0
    assert pool.idle_seconds(include_open=True) == 3.5 + 2 * 1.0
    state = pool.state().to_dict()
    assert state["idle_seconds"] == 3.5 and state["gpus"][0]["run_id"] is None
    json.dumps(state)


def test_visible_gpu_ids_follow_cuda_visible_devices() -> None:
    assert visible_gpu_ids(2, env={}) == [0, 1]
    assert visible_gpu_ids(8, env={"CUDA_VISIBLE_DEVICES": "2,3"}) == [2, 3]
    assert visible_gpu_ids(8, env={"CUDA_VISIBLE_DEVICES": "GPU-abc,-1,4"}) == ["GPU-abc"]
    assert visible_gpu_ids(8, env={"CUDA_VISIBLE_DEVICES": ""}) == []


def test_pool_for_machine_without_gpu_fails_clearly() -> None:
    no_gpu = lambda: (0, "no GPU: NVIDIA driver/NVML unavailable (NVML Shared Library Not Found)")  # noqa: E731
    with pytest.raises(LabError) as exc:
        pool_for_machine(1, detect=no_gpu, env={})
    msg = str(exc.value)
    assert msg.startswith("lab.toml asks for 1 GPU per run ([resources] gpus_per_run) but this machine has none: ")
    assert "NVML Shared Library Not Found" in msg and "\n" not in msg
    assert pool_for_machine(0, detect=no_gpu, env={}).gpus == ()
    with pytest.raises(LabError, match="asks for 4 GPUs per run .* has 2 visible"):
        pool_for_machine(4, detect=lambda: (2, "NVML"), env={})
    assert pool_for_machine(1, detect=lambda: (2, "NVML"), env={}).gpus == (0, 1)
