"""Issue 23: a run's peak GPU memory is recorded in ``run.finished`` (the console's samples on its leased GPUs,
else the ``peak_vram_mb:`` line it printed) and exported as autoresearch's ``memory_gb``."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from labconsole.core.config import load_config
from labconsole.events import kinds as K
from labconsole.events.log import Event
from labconsole.gpu.leases import GpuLeasePool
from labconsole.gpu.snapshot import GpuSample, GpuSnapshot
from labconsole.lab import state as S
from labconsole.lab.gitops import LabRepo
from labconsole.lab.results_tsv import session_rows, write_tsv
from labconsole.runs.gpu_memory import printed_peak_mb
from labconsole.runs.executor import ExecutorContext
from labconsole.runs.local import LocalExecutor, RunRequest
from tests.helpers.git_lab import init_lab
from tests.helpers.lab_toml import lab_toml

GIB = 2**30

OBJECTIVE = """
import sys
print("val_bpb: 1.5")
for line in sys.argv[1:]:
    print(line)
"""


def _lab(tmp_path: Path, gpus_per_run: int, printed: str) -> tuple[Path, LabRepo]:
    toml = lab_toml(
        objective="val_bpb",
        command=f"python train.py {printed}",
        metric=r"regex:^val_bpb:\s*([0-9.]+)",
        timeout_s=20,
        repeats=1,
        search_file="train.py",
        tail=f"[resources]\ngpus_per_run = {gpus_per_run}",
    )
    lab = init_lab(tmp_path / "lab", {"train.py": OBJECTIVE, "lab.toml": toml})
    return lab, LabRepo(lab)


def _gpu(index: int, used_gib: float | None) -> GpuSample:
    return GpuSample(index=index, mem_used_bytes=None if used_gib is None else int(used_gib * GIB))


class FakeSampler:
    """Stands in for TelemetrySampler: hands each listener the snapshots taken while the run held its GPU."""

    def __init__(self, snapshots: list[GpuSnapshot]) -> None:
        self.snapshots = snapshots
        self.listeners: list[Callable[[GpuSnapshot], None]] = []

    def add_listener(self, fn: Callable[[GpuSnapshot], None]) -> Callable[[], None]:
        self.listeners.append(fn)
        for snap in self.snapshots:
            fn(snap)
        return lambda: self.listeners.remove(fn)

    def history(self) -> list[GpuSnapshot]:
        return []


def _run(tmp_path: Path, gpus_per_run: int, printed: str, sampler: FakeSampler | None) -> dict[str, Any]:
    lab, repo = _lab(tmp_path, gpus_per_run, printed)
    events: list[tuple[str, dict[str, Any]]] = []
    executor = LocalExecutor(
        ExecutorContext(
            repo,
            load_config(lab),
            lambda kind, actor, data: events.append((kind, data)),
            lambda data: "blob",
            tmp_path / "runs",
        ),
        lease_pool=GpuLeasePool([3]) if gpus_per_run else None,
        sampler=sampler,
    )
    outcome, _ = executor.run_once(RunRequest("h1-m1-c0", "h1", "candidate", repo.head_sha(), 0, {}))
    assert outcome.status == "ok", outcome.error
    [finished] = [data for kind, data in events if kind == K.RUN_FINISHED]
    return finished


def test_peak_is_the_most_used_on_the_leased_gpu_while_the_run_held_it(tmp_path: Path) -> None:
    snapshots = [
        GpuSnapshot(ts=1.0, available=True, gpus=[_gpu(2, 40.0), _gpu(3, 1.5)]),  # GPU 2 is someone else's
        GpuSnapshot(ts=2.0, available=True, gpus=[_gpu(2, 70.0), _gpu(3, 6.25)]),
        GpuSnapshot(ts=3.0, available=True, gpus=[_gpu(2, 70.0), _gpu(3, None)]),  # NVML said nothing: not a 0
        GpuSnapshot(ts=4.0, available=False, reason="nvml gone"),
        GpuSnapshot(ts=5.0, available=True, gpus=[_gpu(3, 2.0)]),
    ]
    sampler = FakeSampler(snapshots)
    # The run prints a different number: the console's own measurement wins over what the run says.
    finished = _run(tmp_path, 1, "'peak_vram_mb: 99.0'", sampler)
    assert finished["peak_gpu_mem_mb"] == 6400.0 and finished["peak_gpu_mem_from"] == "telemetry"
    assert sampler.listeners == []  # the run stopped listening when it gave its GPU back
    K.validate(K.RUN_FINISHED, finished)  # the fields are declared: the Lab's log would refuse them otherwise


def test_without_samples_the_printed_peak_vram_mb_line_is_the_fallback(tmp_path: Path) -> None:
    finished = _run(tmp_path, 1, "'peak_vram_mb:     2345.6' 'mfu_percent: 1.0'", FakeSampler([]))
    assert finished["peak_gpu_mem_mb"] == 2345.6 and finished["peak_gpu_mem_from"] == "output"


def test_nothing_measured_and_nothing_printed_is_none(tmp_path: Path) -> None:
    finished = _run(tmp_path, 0, "'peak_vram_mb: lots'", None)
    assert finished["peak_gpu_mem_mb"] is None and finished["peak_gpu_mem_from"] is None


@pytest.mark.parametrize(
    "output,expected",
    [
        ("val_bpb: 1.0\npeak_vram_mb:     2345.6\n", 2345.6),
        ("peak_vram_mb: 10\npeak_vram_mb: 12.5\n", 12.5),  # the last summary block
        ("peak_vram_mb: 0.0\n", 0.0),
        ("peak_vram_mb: -5\n", None),
        ("peak_vram_mb: nan\n", None),
        ("peak_vram_mb: 1e999\n", None),
        ("peak_vram_mb: 12abc\n", None),
        ("peak_vram_mb: 99999999999\n", None),  # no machine has that much
        ("my_peak_vram_mb: 3\n", None),
        ("peak_vram_mb: 3; rm -rf /\n", None),
        ("", None),
    ],
)
def test_the_printed_line_is_only_trusted_as_a_number(output: str, expected: float | None) -> None:
    assert printed_peak_mb(output) == expected


def _event(seq: int, kind: str, data: dict[str, Any]) -> Event:
    return Event(seq, float(seq), kind, "console", data, "", "")


def test_export_writes_memory_gb_from_run_finished(tmp_path: Path) -> None:
    state = S.LabState()
    state.baseline_sha, state.baseline_metric = "b" * 40, 1.6
    runs = [("h1-c0", "candidate", "c" * 40), ("h1-b0", "baseline", "b" * 40), ("h2-c0", "candidate", "d" * 40)]
    for run_id, role, commit in runs:
        state.runs[run_id] = S.RunState(run_id, run_id[:2], role, commit, 0)
    merged = S.HypothesisState("h1", "Set X to 2", {"X": 2}, status=S.MERGED, sha="c" * 40)
    merged.run_ids, merged.evidence = ["h1-c0", "h1-b0"], {"candidate_median": 1.4}
    rejected = S.HypothesisState("h2", "Set X to 3", {"X": 3}, status=S.REJECTED, sha="d" * 40)
    rejected.run_ids, rejected.evidence = ["h2-c0"], {"candidate_median": 1.7}
    state.hypotheses = {"h1": merged, "h2": rejected}
    events = [
        _event(1, K.RUN_FINISHED, {"run_id": "h1-c0", "peak_gpu_mem_mb": 2345.6, "peak_gpu_mem_from": "telemetry"}),
        _event(2, K.RUN_FINISHED, {"run_id": "h1-b0", "peak_gpu_mem_mb": 1000.0, "peak_gpu_mem_from": "output"}),
        _event(3, K.RUN_FINISHED, {"run_id": "h2-c0", "peak_gpu_mem_mb": None}),
    ]
    rows = list(csv.DictReader(io.StringIO(write_tsv(session_rows(state, events), "val_bpb")), delimiter="\t"))
    assert [(r["commit"], r["memory_gb"], r["status"]) for r in rows] == [
        ("bbbbbbb", "1.0", "keep"),  # the baseline's own runs
        ("ccccccc", "2.3", "keep"),  # its candidate runs, not the baseline runs of its measurement
        ("ddddddd", "0.0", "discard"),  # not measured
    ]


def test_the_real_sampler_feeds_a_listener_until_it_is_removed() -> None:
    import threading

    from labconsole.gpu.telemetry import TelemetrySampler
    from labconsole.runs.gpu_memory import PeakGpuMemory

    class Telemetry:
        used = 1.0

        def snapshot(self, max_age: float = 0.0) -> GpuSnapshot:
            return GpuSnapshot(ts=0.0, available=True, gpus=[_gpu(0, self.used)])

    telemetry = Telemetry()
    sampler = TelemetrySampler(telemetry, interval=0.01)  # type: ignore[arg-type]
    peak, seen = PeakGpuMemory([0]), threading.Event()
    remove = sampler.add_listener(lambda snap: (peak.offer(snap), seen.set()))
    sampler.start()
    try:
        assert seen.wait(10)
        remove()
        telemetry.used = 50.0  # after the run gave its GPU back: not the run's
        snaps = len(sampler.history())
        while len(sampler.history()) < min(snaps + 3, 600):
            threading.Event().wait(0.01)
    finally:
        sampler.stop()
    assert peak.peak_bytes == GIB and sampler.callback_errors == 0
