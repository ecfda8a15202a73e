"""GPU leases: runs take whole GPUs (``CUDA_VISIBLE_DEVICES``), never more holders than GPUs.

Waiters are served strictly in priority order (higher first, FIFO among
equals): the head of the queue is never overtaken, so a request for several
GPUs cannot starve behind a stream of small ones. Each GPU's idle time between
one lease's release and the next lease's start is recorded, so the console can
show how much GPU time the lab wastes between experiments.

Executor use::

    lease = pool.acquire(n, priority, run_id)
    try:
        env.update(lease.env())
        subprocess.run(cmd, env=env, timeout=...)
    finally:
        lease.release()
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any
from collections.abc import Callable, Mapping, Sequence

from labconsole.errors import LabError

GpuId = int | str  # an NVML index, or a UUID/ordinal string taken from CUDA_VISIBLE_DEVICES


class LeaseTimeout(LabError):
    """No GPUs came free within the caller's timeout."""


@dataclass
class IdleGap:
    """One GPU sat unleased from ``start`` to ``end`` (pool clock seconds) between two leases."""

    gpu: GpuId
    start: float
    end: float
    before_run: str  # the run whose lease ended the gap
    queued_at_start: bool  # a request was already waiting when the GPU came free (a scheduling gap)

    @property
    def seconds(self) -> float:
        return self.end - self.start

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "seconds": self.seconds}


@dataclass(eq=False)
class Lease:
    pool: GpuLeasePool
    gpus: tuple[GpuId, ...]
    run_id: str
    priority: int
    requested_at: float
    acquired_at: float
    released_at: float | None = None

    @property
    def wait_seconds(self) -> float:
        return self.acquired_at - self.requested_at

    @property
    def active(self) -> bool:
        return self.released_at is None

    def env(self) -> dict[str, str]:
        """Environment for the run's subprocess; an empty value hides every GPU from a 0-GPU lease."""
        return {"CUDA_VISIBLE_DEVICES": ",".join(str(g) for g in self.gpus)}

    def release(self) -> None:
        """Give the GPUs back; safe to call more than once."""
        self.pool._release(self)

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def to_dict(self) -> dict[str, Any]:
        return {
            "gpus": list(self.gpus),
            "run_id": self.run_id,
            "priority": self.priority,
            "requested_at": self.requested_at,
            "acquired_at": self.acquired_at,
            "released_at": self.released_at,
            "wait_seconds": self.wait_seconds,
        }


@dataclass(eq=False)
class _Waiter:
    n: int
    priority: int
    seq: int
    run_id: str
    since: float
    lease: Lease | None = None  # set when granted

    def order(self) -> tuple[int, int]:
        return (-self.priority, self.seq)


@dataclass
class PoolState:
    """What the TUI shows: who holds each GPU, the queue, and idle time."""

    gpus: list[dict[str, Any]] = field(default_factory=list)
    queue: list[dict[str, Any]] = field(default_factory=list)
    idle_seconds: float = 0.0
    recent_gaps: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class GpuLeasePool:
    def __init__(
        self, gpu_indices: Sequence[GpuId], clock: Callable[[], float] = time.monotonic, max_gap_records: int = 1000
    ) -> None:
        if len(set(gpu_indices)) != len(gpu_indices):
            raise ValueError(f"duplicate GPU ids: {list(gpu_indices)}")
        self.gpus: tuple[GpuId, ...] = tuple(gpu_indices)
        self._clock = clock
        self._cond = threading.Condition()
        self._holder: dict[GpuId, Lease | None] = {g: None for g in self.gpus}
        self._freed_at: dict[GpuId, float | None] = {g: None for g in self.gpus}  # None: never leased yet
        self._queued_when_freed: dict[GpuId, bool] = {g: False for g in self.gpus}
        self._queue: list[_Waiter] = []
        self._seq = itertools.count()
        self._gaps: list[IdleGap] = []
        self._idle_total: dict[GpuId, float] = {g: 0.0 for g in self.gpus}
        self._max_gaps = max_gap_records
        self.peak_holders = 0  # most GPUs held at once, for tests and the status line

    # -- acquiring -----------------------------------------------------------

    def acquire(self, n: int = 1, priority: int = 0, run_id: str = "", timeout: float | None = None) -> Lease:
        """Block until ``n`` GPUs are free and this request is first in line; raise ``LeaseTimeout`` after ``timeout``."""
        if n < 0 or n > len(self.gpus):
            raise LabError(f"run {run_id or '?'} asks for {n} GPU(s); this pool has {len(self.gpus)}")
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            now = self._clock()
            waiter = _Waiter(n=n, priority=priority, seq=next(self._seq), run_id=run_id, since=now)
            self._queue.append(waiter)
            self._queue.sort(key=_Waiter.order)
            self._grant()
            while waiter.lease is None:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    self._queue.remove(waiter)
                    self._grant()  # our leaving may unblock those behind us
                    self._cond.notify_all()
                    raise LeaseTimeout(f"run {run_id or '?'}: no {n} GPU(s) free within {timeout:g} s")
                self._cond.wait(remaining)
            return waiter.lease

    def _grant(self) -> None:
        """Serve the queue head(s) while GPUs suffice. Caller holds the lock."""
        while self._queue:
            head = self._queue[0]
            free = [g for g in self.gpus if self._holder[g] is None]
            if head.n > len(free):
                return  # strict order: nobody overtakes the head
            self._queue.pop(0)
            now = self._clock()
            chosen = tuple(free[: head.n])
            lease = Lease(self, chosen, head.run_id, head.priority, head.since, now)
            for g in chosen:
                self._holder[g] = lease
                freed = self._freed_at[g]
                if freed is not None:
                    gap = IdleGap(g, freed, now, head.run_id, self._queued_when_freed[g])
                    self._idle_total[g] += gap.seconds
                    self._gaps.append(gap)
                    del self._gaps[: -self._max_gaps]
            head.lease = lease
            held = sum(1 for h in self._holder.values() if h is not None)
            self.peak_holders = max(self.peak_holders, held)
            self._cond.notify_all()

    # -- releasing -------------------------------------------------------------

    def _release(self, lease: Lease) -> None:
        with self._cond:
            if lease.released_at is not None:
                return
            now = self._clock()
            lease.released_at = now
            waiting = bool(self._queue)
            for g in lease.gpus:
                if self._holder.get(g) is lease:
                    self._holder[g] = None
                    self._freed_at[g] = now
                    self._queued_when_freed[g] = waiting
            self._grant()
            self._cond.notify_all()

    # -- reading ---------------------------------------------------------------

    def free_gpus(self) -> list[GpuId]:
        with self._cond:
            return [g for g in self.gpus if self._holder[g] is None]

    def active_leases(self) -> list[Lease]:
        with self._cond:
            seen: dict[int, Lease] = {}
            for lease in self._holder.values():
                if lease is not None:
                    seen[id(lease)] = lease
            return list(seen.values())

    def queued(self) -> list[dict[str, Any]]:
        with self._cond:
            now = self._clock()
            return [
                {"run_id": w.run_id, "priority": w.priority, "gpus": w.n, "waiting_s": now - w.since}
                for w in self._queue
            ]

    def idle_gaps(self) -> list[IdleGap]:
        with self._cond:
            return list(self._gaps)

    def idle_seconds(self, gpu: GpuId | None = None, include_open: bool = False) -> float:
        """Idle seconds between leases (one GPU or all summed); ``include_open`` adds gaps still running."""
        with self._cond:
            gpus = self.gpus if gpu is None else (gpu,)
            total = sum(self._idle_total[g] for g in gpus)
            if include_open:
                now = self._clock()
                total += sum(
                    now - freed for g in gpus if self._holder[g] is None and (freed := self._freed_at[g]) is not None
                )
            return total

    def state(self) -> PoolState:
        with self._cond:
            now = self._clock()
            gpus = []
            for g in self.gpus:
                lease = self._holder[g]
                gpus.append(
                    {
                        "gpu": g,
                        "run_id": None if lease is None else lease.run_id,
                        "held_s": None if lease is None else now - lease.acquired_at,
                        "idle_s": self._idle_total[g],
                    }
                )
            queue = [
                {"run_id": w.run_id, "priority": w.priority, "gpus": w.n, "waiting_s": now - w.since}
                for w in self._queue
            ]
            gaps = [gap.to_dict() for gap in self._gaps[-20:]]
            return PoolState(gpus=gpus, queue=queue, idle_seconds=sum(self._idle_total.values()), recent_gaps=gaps)


# ---------------------------------------------------------------------------
# the machine's pool


def visible_gpu_ids(count: int, env: dict[str, str] | None = None) -> list[GpuId]:
    """GPU ids this console may hand out: its own ``CUDA_VISIBLE_DEVICES`` if set, else ``0..count-1``."""
    environ: Mapping[str, str] = os.environ if env is None else env
    cvd = environ.get("CUDA_VISIBLE_DEVICES")
    if cvd is None:
        return list(range(count))
    ids: list[GpuId] = []
    for part in (p.strip() for p in cvd.split(",")):
        if not part or part == "-1":
            break  # CUDA stops at the first invalid entry
        ids.append(int(part) if part.isdigit() else part)
    return ids


def detect_gpu_count() -> tuple[int, str]:
    """(number of GPUs, how we know / why none): NVML first, then torch."""
    from labconsole.gpu.telemetry import GpuTelemetry

    tel = GpuTelemetry()
    try:
        snap = tel.snapshot()
    finally:
        tel.close()
    if snap.available and snap.gpus:
        return len(snap.gpus), f"NVML driver {snap.driver_version or 'n/a'}"
    reason = snap.reason or "no GPU"
    try:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.device_count(), "torch.cuda"
    except Exception:
        pass
    return 0, reason


def pool_for_machine(
    gpus_needed: int, detect: Callable[[], tuple[int, str]] = detect_gpu_count, env: dict[str, str] | None = None
) -> GpuLeasePool:
    """The pool for this machine; a lab that needs GPUs on a machine without enough fails here, before agents start."""
    count, how = detect()
    ids = visible_gpu_ids(count, env) if count else []
    if gpus_needed > 0 and not ids:
        plural = "GPU" if gpus_needed == 1 else "GPUs"
        raise LabError(
            f"lab.toml asks for {gpus_needed} {plural} per run ([resources] gpus_per_run) but this machine has none: "
            f"{how.removeprefix('no GPU: ')}; set gpus_per_run = 0 or run the lab on a GPU machine"
        )
    if gpus_needed > len(ids):
        raise LabError(
            f"lab.toml asks for {gpus_needed} GPUs per run ([resources] gpus_per_run) but this machine has "
            f"{len(ids)} visible ({','.join(map(str, ids))})"
        )
    return GpuLeasePool(ids)
