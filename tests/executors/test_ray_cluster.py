"""The Ray executor against a real two-node Ray cluster (head: 2 CPUs, worker node: 1 CPU), CPU only.

Ray advertises the machine's outside address and listens on every interface, so the cluster and the console
part run in a private network namespace with loopback only (``unshare -Urn``; a PID namespace too, so that
every Ray process ends with the script). The scenarios are in ``ray_cluster_script.py``: a measurement of
interleaved pairs, tampering caught on the node, a commit mismatch refused there, the worker node killed
mid-run (failed (node lost), re-queued once), and cancellation.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("ray", reason="the Ray executor's tests need the ray extra: pip install -e '.[ray]'")

SCRIPT = Path(__file__).with_name("ray_cluster_script.py")


def namespace_problem() -> str:
    if not shutil.which("unshare") or not shutil.which("ip"):
        return "needs unshare and ip (util-linux, iproute2) for a loopback-only network namespace"
    probe = subprocess.run(
        ["unshare", "-Urnpf", "--mount-proc", "sh", "-c", "ip link set lo up"], capture_output=True, text=True
    )
    return "" if probe.returncode == 0 else f"cannot make a private network namespace: {probe.stderr.strip()}"


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    if os.environ.get("LABCONSOLE_SLOW_TESTS") != "1":
        pytest.skip("slow (starts a two-node Ray cluster, ~1 min): set LABCONSOLE_SLOW_TESTS=1")
    problem = namespace_problem()
    if problem:
        pytest.skip(problem)
    tmp = tmp_path_factory.mktemp("ray")
    repo = str(Path(__file__).resolve().parents[2])
    env = {
        **os.environ,
        "HOME": str(tmp),
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_health_check_period_ms": "500",
        "RAY_health_check_failure_threshold": "4",
        "PYTHONPATH": os.pathsep.join(p for p in (repo, os.environ.get("PYTHONPATH", "")) if p),
    }
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.run(
        [
            "unshare",
            "-Urnpf",
            "--mount-proc",
            "sh",
            "-c",
            'ip link set lo up && exec "$0" "$1" "$2"',
            sys.executable,
            str(SCRIPT),
            str(tmp),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    found = {}
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            found[record["scenario"]] = record
    if proc.returncode != 0 and not found:
        pytest.fail(f"the Ray cluster script failed ({proc.returncode}): {proc.stderr[-3000:]}")
    return found


pytestmark = pytest.mark.slow


def test_a_measurement_runs_on_the_cluster_interleaved_on_one_node(scenarios: dict[str, dict[str, Any]]) -> None:
    m = scenarios["measure"]
    assert [(r["role"], r["status"], r["metric"]) for r in m["runs"]] == [
        ("baseline", "ok", 1.0),
        ("candidate", "ok", 1.5),
        ("candidate", "ok", 2.5),
        ("baseline", "ok", 2.0),
    ]
    wheres = {r["where"] for r in m["runs"]}
    assert len(wheres) == 1 and next(iter(wheres)).startswith("ray:127.0.0.1/")  # the measurement stays on a node
    assert {r["sandbox"] for r in m["runs"]} <= {"bwrap", "degraded"}
    assert m["logs"][0] == "ran ok h1-m1-b0\n"  # the run's whole output came back as its log


def test_lines_stream_back_while_the_run_is_in_flight(scenarios: dict[str, dict[str, Any]]) -> None:
    s = scenarios["stream"]
    assert s["status"] == "ok" and s["texts"] == ["early [REDACTED]", "late", "ran stream h1-m0-c0"]
    assert s["early_before_end_s"] > 1.5  # printed 3 s before the end, it arrived then, not with the result
    f = scenarios["flood"]
    assert f["status"] == "ok" and f["shown"] < 1000 and f["shown"] + f["dropped"] == 5001


def test_gpu_telemetry_comes_from_every_node_tagged_with_its_id(scenarios: dict[str, dict[str, Any]]) -> None:
    t = scenarios["telemetry"]
    assert len(t["alive"]) == 2 and sorted(t["sampled"]) == t["alive"]  # a sampler on the head and the worker
    assert all(available is False and reason for available, reason in t["sampled"].values())  # no GPU: n/a
    assert sorted(d["node"] for d in t["logged"]) == t["alive"]  # one gpu.sample per node, saying which
    assert all(d["available"] is False and d["gpus"] == [] for d in t["logged"])


def test_tampering_with_a_protected_file_is_caught_on_the_node(scenarios: dict[str, dict[str, Any]]) -> None:
    t = scenarios["tamper"]
    assert (t["status"], t["tampering"]) == ("invalid", ["prepare.py"])


def test_a_bundle_with_another_commit_is_refused_remotely(scenarios: dict[str, dict[str, Any]]) -> None:
    m = scenarios["mismatch"]
    assert m["status"] == "refused" and m["metric"] is None
    assert m["error"].startswith("commit mismatch: the bundle holds ")


def test_a_node_killed_mid_run_is_a_visible_failure_and_one_requeue(scenarios: dict[str, dict[str, Any]]) -> None:
    n = scenarios["node_lost"]
    first, retry = n["first"], n["retry"]
    assert first["status"] == "failed" and first["error"].startswith("failed (node lost)"), first
    assert first["metric"] is None
    assert n["requeued"]["requeue_of"] == "h2-m1-c0"
    assert retry["status"] == "ok" and retry["metric"] == 1.0
    assert n["result"]["run_id"] == "h2-m1-c0-requeue" and n["result"]["status"] == "ok"
    assert n["head"][:12] in retry["where"]  # re-queued onto the node that is still alive


def test_cancel_stops_the_ray_task_and_refuses_new_runs(scenarios: dict[str, dict[str, Any]]) -> None:
    c = scenarios["cancel"]
    assert (c["status"], c["error"]) == ("crashed", "stopped with the console")
    assert c["seconds"] < 30 and c["refused_after"]


def test_a_lab_session_runs_on_ray_through_the_gate_to_a_merge(scenarios: dict[str, dict[str, Any]]) -> None:
    s = scenarios["session"]
    assert s["runs"] >= 8 and s["ok"] == s["runs"]  # 2 hypotheses x 2 pairs at least, all on the cluster
    assert s["executors"] == ["ray"] and all(w.startswith("ray:127.0.0.1/") for w in s["wheres"])
    assert s["sandbox"] == ["remote"]
    assert "awaiting-human" in s["statuses"] or "merged" in s["statuses"]
    assert s["merged"] and s["audit_ok"]
