"""Telemetry against a scripted fake NVML: values, n/a handling, attribution, sampler, no-GPU state."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from gpu.fake_nvml import FakeNvml, NVMLError, NVMLNotSupported, Seq, h100
from labconsole.gpu.telemetry import (
    MIN_INTERVAL_S,
    EventDownsampler,
    GpuTelemetry,
    OwnerRegistry,
    TelemetrySampler,
    GpuSnapshot,
    decode_throttle_reasons,
    trackio_metrics,
)


def test_snapshot_reads_every_field() -> None:
    nv = FakeNvml([h100(throttle=0x4 | 0x40), h100(util=(3, 1), temp=35)])
    snap = GpuTelemetry(nvml=nv).snapshot()
    assert snap.available and snap.reason is None
    assert snap.driver_version == "580.159.04"
    g0, g1 = snap.gpus
    assert (g0.index, g0.name) == (0, "NVIDIA H100 80GB HBM3")
    assert (g0.util_pct, g0.mem_util_pct) == (87.0, 40.0)
    assert (g0.mem_used_bytes, g0.mem_total_bytes) == (20 * 2**30, 80 * 2**30)
    assert g0.power_w == pytest.approx(512.345) and g0.power_limit_w == 700.0
    assert (g0.sm_clock_mhz, g0.mem_clock_mhz, g0.temperature_c) == (1980, 2619, 61)
    assert g0.throttle_reasons == ["sw_power_cap", "hw_thermal_slowdown"]
    assert g1.util_pct == 3.0 and g1.temperature_c == 35


def test_failed_queries_are_na_and_not_supported_is_not_asked_again() -> None:
    nv = FakeNvml([h100(power_mw=NVMLNotSupported(), temp=NVMLError("Unknown Error"), throttle=None)])
    tel = GpuTelemetry(nvml=nv, min_interval=0)
    g = tel.snapshot().gpus[0]
    assert g.power_w is None and g.temperature_c is None and g.throttle_reasons is None
    assert g.util_pct == 87.0  # the rest still read
    tel.snapshot()
    assert nv.calls["power_mw"] == 1  # "not supported" remembered
    assert nv.calls["temp"] == 2  # a transient error is retried next time


def test_broken_device_gives_error_not_exception() -> None:
    snap = GpuTelemetry(nvml=FakeNvml([h100(), {"broken": True}])).snapshot()
    assert snap.available
    assert snap.gpus[1].error and "cannot open device" in snap.gpus[1].error
    assert snap.gpus[1].util_pct is None


def test_no_driver_is_one_clear_state() -> None:
    nv = FakeNvml([], init_error=NVMLError("Driver Not Loaded"))
    tel = GpuTelemetry(nvml=nv, min_interval=0)
    snap = tel.snapshot()
    assert not snap.available and snap.gpus == []
    assert snap.reason.startswith("no GPU:") and "Driver Not Loaded" in snap.reason
    tel.snapshot()
    assert nv.init_count == 1  # not retried on every tick
    assert tel.gpu_count() == 0
    assert snap.to_event_data() == {"gpus": [], "available": False, "reason": snap.reason}


def test_zero_devices_is_no_gpu() -> None:
    snap = GpuTelemetry(nvml=FakeNvml([])).snapshot()
    assert not snap.available and "no devices" in snap.reason


def test_snapshots_are_cached_for_the_minimum_interval() -> None:
    now = [100.0]
    nv = FakeNvml([h100(util=Seq([(10, 0), (20, 0), (30, 0)]))])
    tel = GpuTelemetry(nvml=nv, clock=lambda: now[0])
    assert tel.snapshot().gpus[0].util_pct == 10
    now[0] += 0.1
    assert tel.snapshot().gpus[0].util_pct == 10  # cached: within 0.25 s
    now[0] += 0.2
    assert tel.snapshot().gpus[0].util_pct == 20
    now[0] += 0.3
    assert tel.snapshot(max_age=5.0).gpus[0].util_pct == 20  # the caller accepts an older one


def test_owner_registry_walks_parent_chain_with_fake_tree() -> None:
    parents = {300: 200, 200: 100, 100: 1, 1: None, 55: 1}
    reg = OwnerRegistry(parent_of=parents.get)
    reg.register(100, "agent:kernel-1")
    reg.register(200, "run:r7")
    assert reg.owner_of(300) == "run:r7"  # nearest registered ancestor wins
    assert reg.owner_of(100) == "agent:kernel-1"
    assert reg.owner_of(55) is None
    reg.unregister(200)
    assert reg.owner_of(300) == "agent:kernel-1"


def test_process_memory_attributed_through_real_process_tree() -> None:
    # A real child of a registered root (this test process); NVML (fake) reports the child's pid.
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        nv = FakeNvml(
            [h100(procs=[(child.pid, 3 * 2**30), (999_999_999, None)], graphics_procs=[(child.pid, 3 * 2**30)])]
        )
        reg = OwnerRegistry()
        reg.register(os.getpid(), "agent:trainer")
        snap = GpuTelemetry(nvml=nv, owners=reg).snapshot()
        procs = {p.pid: p for p in snap.gpus[0].processes}
        assert set(procs) == {child.pid, 999_999_999}  # compute+graphics deduplicated
        assert procs[child.pid].owner == "agent:trainer"
        assert procs[child.pid].used_mem_bytes == 3 * 2**30
        assert procs[999_999_999].owner is None and procs[999_999_999].used_mem_bytes is None
    finally:
        child.kill()
        child.wait()


def test_nvml_not_available_sentinel_memory_is_none() -> None:
    nv = FakeNvml([h100(procs=[(1, 2**64 - 1)])])
    assert GpuTelemetry(nvml=nv).snapshot().gpus[0].processes[0].used_mem_bytes is None


def test_decode_throttle_reasons() -> None:
    assert decode_throttle_reasons(0) == []
    assert decode_throttle_reasons(None) is None
    assert decode_throttle_reasons(0x1 | 0x8 | 0x10000) == ["gpu_idle", "hw_slowdown", "bit_0x10000"]


def test_dict_round_trip_and_event_data() -> None:
    nv = FakeNvml([h100(procs=[(4242, 2**30)])])
    reg = OwnerRegistry(parent_of=lambda pid: None)
    reg.register(4242, "run:r1")
    snap = GpuTelemetry(nvml=nv, owners=reg).snapshot()
    back = GpuSnapshot.from_dict(json.loads(json.dumps(snap.to_dict())))
    assert back == snap
    ev = snap.to_event_data()
    json.dumps(ev)
    gpu = ev["gpus"][0]
    assert gpu["index"] == 0 and gpu["util"] == 87.0 and gpu["mem_total"] == 80 * 2**30
    assert gpu["procs"] == [{"pid": 4242, "owner": "run:r1", "mem": 2**30}]


def test_logged_event_builds_the_same_snapshot_shape() -> None:
    nv = FakeNvml([h100(procs=[(4242, 2**30)])])
    reg = OwnerRegistry(parent_of=lambda pid: None)
    reg.register(4242, "run:r1")
    snap = GpuTelemetry(nvml=nv, owners=reg).snapshot()
    back = GpuSnapshot.from_event_data({"ts": 5.0, **json.loads(json.dumps(snap.to_event_data()))})
    assert back.ts == 5.0 and back.available
    g, want = back.gpus[0], snap.gpus[0]
    assert (g.index, g.util_pct, g.mem_used_bytes, g.mem_total_bytes) == (
        0,
        want.util_pct,
        want.mem_used_bytes,
        want.mem_total_bytes,
    )
    assert g.name is None  # not logged: n/a, never invented
    assert [(p.pid, p.owner, p.used_mem_bytes) for p in g.processes] == [(4242, "run:r1", 2**30)]
    off = GpuSnapshot.from_event_data({"gpus": [], "available": False, "reason": "no GPU: x"})
    assert not off.available and off.reason == "no GPU: x"
    # A malformed entry is skipped, not a crash of the panel that draws it.
    assert GpuSnapshot.from_event_data({"gpus": ["junk", {"util": 3}]}).gpus == []


def test_sampler_implements_the_telemetry_port() -> None:
    from labconsole.gpu.port import TelemetrySource

    sampler = TelemetrySampler(GpuTelemetry(nvml=FakeNvml([h100()])))
    assert isinstance(sampler, TelemetrySource)
    assert not isinstance(object(), TelemetrySource)


def test_sampler_thread_ring_and_callback() -> None:
    nv = FakeNvml([h100()])
    seen: list[GpuSnapshot] = []

    def callback(snap: GpuSnapshot) -> None:
        seen.append(snap)
        if len(seen) == 2:
            raise RuntimeError("consumer bug")  # must not stop sampling

    sampler = TelemetrySampler(GpuTelemetry(nvml=nv), interval=0.01, history=3, on_snapshot=callback)
    assert sampler.interval == MIN_INTERVAL_S  # the minimum is enforced
    sampler.interval = 0.02  # tests only: speed the cadence up directly
    sampler.start()
    deadline = time.monotonic() + 5
    while len(seen) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    sampler.stop()
    assert not sampler.running
    assert len(seen) >= 5
    assert len(sampler.history()) == 3  # fixed-size ring
    assert sampler.latest() is sampler.history()[-1]
    assert sampler.callback_errors == 1 and "consumer bug" in sampler.last_callback_error


def test_downsampler_emits_at_low_rate_with_window_stats() -> None:
    now = [0.0]
    nv = FakeNvml([h100(util=Seq([(10, 0), (90, 0), (50, 0), (20, 0)]))])
    tel = GpuTelemetry(nvml=nv, min_interval=0)
    down = EventDownsampler(period_s=30, clock=lambda: now[0])
    first = down.offer(tel.snapshot())
    assert first is not None and first["window"]["0"]["n"] == 1
    now[0] = 10
    assert down.offer(tel.snapshot()) is None
    now[0] = 20
    assert down.offer(tel.snapshot()) is None
    now[0] = 31
    ev = down.offer(tel.snapshot())
    assert ev["window"]["0"] == {"n": 3, "util_mean": pytest.approx(53.3, abs=0.1), "util_max": 90.0}


def test_trackio_metrics_keys_skip_na() -> None:
    nv = FakeNvml([h100(power_mw=NVMLNotSupported())])
    m = trackio_metrics(GpuTelemetry(nvml=nv).snapshot())
    assert m["gpu/0/utilization"] == 87.0 and m["gpu/0/total_memory"] == 80.0
    assert "gpu/0/power" not in m


def test_log_to_trackio_uses_run_log_system() -> None:
    from labconsole.gpu.telemetry import log_to_trackio

    class FakeRun:
        def __init__(self) -> None:
            self.logged: list[dict] = []

        def log_system(self, metrics: dict) -> None:
            self.logged.append(metrics)

    run = FakeRun()
    log_to_trackio(GpuTelemetry(nvml=FakeNvml([h100()])).snapshot(), run=run)
    assert run.logged and run.logged[0]["gpu/0/sm_clock"] == 1980.0
