"""Runs inside ``unshare -Urnpf --mount-proc`` (tests/executors/test_ray_cluster.py): a real two-node Ray cluster
on loopback only (head: 2 CPUs; worker node: 1 CPU), and the console's Ray executor against it.

Prints one JSON object per scenario on stdout (``{"scenario": ..., ...}``); the test asserts on them. The
PID namespace ends every Ray process when this script exits.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil
from lab_fixture import make_lab, sh  # this script's own directory is first on sys.path

RAY = [sys.executable, "-c", "from ray.scripts.scripts import main; main()"]
HEAD = "127.0.0.1:6379"


def emit(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


def start_cluster(tmp: Path) -> subprocess.Popen[bytes]:
    """The head (detached; the PID namespace ends it) and a worker node we can kill (``--block``)."""
    common = ["--disable-usage-stats", "--include-dashboard=false"]
    subprocess.run(
        [*RAY, "start", "--head", "--num-cpus=2", "--port=6379", f"--temp-dir={tmp / 'ray'}", *common],
        check=True,
        capture_output=True,
    )
    worker = subprocess.Popen(
        [
            *RAY,
            "start",
            "--block",
            f"--address={HEAD}",
            "--num-cpus=1",
            "--node-manager-port=6400",
            "--object-manager-port=6401",
            "--min-worker-port=11000",
            "--max-worker-port=11999",
            "--dashboard-agent-listen-port=6402",
            "--dashboard-agent-grpc-port=6405",
            "--metrics-export-port=6403",
            "--runtime-env-agent-port=6404",
            "--disable-usage-stats",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import ray

    deadline = time.monotonic() + 90
    ray.init(address=HEAD, log_to_driver=False, logging_level="WARNING")
    while sum(1 for n in ray.nodes() if n["Alive"]) < 2:
        if time.monotonic() > deadline:
            raise SystemExit("the worker node never joined")
        time.sleep(0.5)
    return worker


def kill_node(worker: subprocess.Popen[bytes]) -> None:
    """SIGKILL the worker node's raylet and everything under it, as a machine that dies would."""
    procs = psutil.Process(worker.pid).children(recursive=True)
    for p in procs:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    worker.kill()


def main() -> None:
    tmp = Path(sys.argv[1])
    lab, shas = make_lab(tmp, f'[executor]\nkind = "ray"\naddress = "{HEAD}"\n')
    worker = start_cluster(tmp)
    import ray

    if sys.argv[2:] == ["session"]:  # the lab session alone (debugging)
        return session_on_ray(tmp / "demo")

    from labconsole.core.config import load_config
    from labconsole.runs.executor import RunRequest
    from labconsole.runs.factory import build_executor, preflight
    from labconsole.runs.remote_run import make_bundle

    class Repo:
        root = lab

    config = load_config(lab / "lab.toml")
    events: list[tuple[str, dict[str, Any]]] = []
    times: list[float] = []  # when each event was appended
    blobs: dict[str, bytes] = {}

    def append(kind: str, actor: str, data: dict[str, Any]) -> None:
        from labconsole.events.kinds import KINDS  # every field the executor logs must be declared

        KINDS[kind].check(data)
        events.append((kind, data))
        times.append(time.monotonic())

    def put_blob(data: bytes) -> str:
        key = f"b{len(blobs)}"
        blobs[key] = data
        return key

    def executor() -> Any:
        preflight(config)
        return build_executor(config, Repo(), append, put_blob, tmp / "runs")

    def req(run_id: str, role: str, mode: str, repeat: int = 0) -> RunRequest:
        return RunRequest(run_id, "h1", role, shas[mode], repeat, {})

    ex = executor()

    # 0. Lines stream back while the run is in flight (redacted); a flood is dropped and counted.
    done = ex.run(req("h1-m0-c0", "candidate", "stream"))
    timed = [(d, t) for (k, d), t in zip(events, times, strict=True) if d.get("run_id") == "h1-m0-c0"]
    early = next(t for d, t in timed if str(d.get("text", "")).startswith("early"))
    end = next(t for d, t in timed if "status" in d)
    texts = [d["text"] for d, _ in timed if "text" in d]
    emit(scenario="stream", status=done.outcome.status, texts=texts, early_before_end_s=round(end - early, 2))
    done = ex.run(req("h1-m0-c1", "candidate", "flood"))
    flood = [d for k, d in events if k == "run.log" and d["run_id"] == "h1-m0-c1"]
    emit(
        scenario="flood",
        status=done.outcome.status,
        shown=sum(1 for d in flood if d["text"]),
        dropped=sum(d.get("dropped", 0) for d in flood),
    )
    # 0b. GPU telemetry from each node (CPU only here: every node answers n/a), tagged with its node id.
    deadline = time.monotonic() + 60
    while len(ex.telemetry.nodes()) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    emit(
        scenario="telemetry",
        alive=sorted(n["NodeID"] for n in ray.nodes() if n["Alive"]),
        sampled={node: [snap.available, snap.reason] for node, snap in ex.telemetry.nodes().items()},
        logged=[d for k, d in events if k == "gpu.sample"],
    )
    if sys.argv[2:] == ["stream"]:  # these alone (debugging)
        return

    # 1. A measurement: interleaved pairs of baseline and candidate, on one node, with their metrics.
    t0 = time.monotonic()
    runs = []
    for repeat in range(2):
        pair = [("baseline", "ok"), ("candidate", "better")]
        for role, mode in pair if repeat % 2 == 0 else pair[::-1]:
            done = ex.run(req(f"h1-m1-{role[0]}{repeat}", role, mode, repeat))
            runs.append(
                {
                    "role": role,
                    "status": done.outcome.status,
                    "metric": done.outcome.metric,
                    "where": done.where,
                    "sandbox": done.outcome.sandbox,
                    "error": done.outcome.error,
                }
            )
    logs = [
        blobs[d["log_blob"]].decode()
        for k, d in events
        if k == "run.finished" and d["run_id"].startswith("h1-m1-") and d.get("log_blob")
    ]
    emit(scenario="measure", runs=runs, logs=logs, seconds=round(time.monotonic() - t0, 1))

    # 2. Tampering with a protected file is caught on the node.
    done = ex.run(req("h1-m2-c0", "candidate", "tamper"))
    emit(scenario="tamper", status=done.outcome.status, tampering=list(done.tampering), error=done.outcome.error)

    # 3. The node refuses a bundle that does not hold the commit the console asked for.
    real_bundle = ex._bundle

    def wrong_bundle(sha: str) -> Any:
        path = make_bundle(lab, shas["ok"], tmp / "wrong.bundle")
        return ray.put(path.read_bytes())

    ex._bundle = wrong_bundle
    done = ex.run(req("h1-m3-c0", "candidate", "better"))
    ex._bundle = real_bundle
    emit(scenario="mismatch", status=done.outcome.status, error=done.outcome.error, metric=done.outcome.metric)

    # 4. Killing the worker node mid-run: the run is failed (node lost), visibly, and re-queued once.
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    @ray.remote(num_cpus=1)
    def hold(seconds: float) -> None:
        time.sleep(seconds)

    head = next(n["NodeID"] for n in ray.nodes() if "node:__internal_head__" in n["Resources"])
    on_head = NodeAffinitySchedulingStrategy(head, soft=False)
    # Fill the head's 2 CPUs for a while: the run must go to the worker node; its re-queue waits for the head.
    blockers = [hold.options(scheduling_strategy=on_head).remote(12) for _ in range(2)]
    time.sleep(1.5)
    result: dict[str, Any] = {}

    def run_sleep() -> None:
        done = ex.run(req("h2-m1-c0", "candidate", "slow"))
        result.update(status=done.outcome.status, where=done.where, run_id=done.outcome.run_id)

    t0 = time.monotonic()
    thread = threading.Thread(target=run_sleep)
    thread.start()
    deadline = time.monotonic() + 30
    while not any(k == "run.started" and d["run_id"] == "h2-m1-c0" for k, d in events):
        time.sleep(0.2)
    # Wait until the worker node's CPU is taken (the task is running there), then kill the node.
    while ray.available_resources().get("CPU", 0) > 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2.0)
    kill_node(worker)
    thread.join(timeout=150)
    finished = {d["run_id"]: d for k, d in events if k == "run.finished"}
    started = {d["run_id"]: d for k, d in events if k == "run.started"}
    emit(
        scenario="node_lost",
        result=result,
        first=finished.get("h2-m1-c0"),
        requeued=started.get("h2-m1-c0-requeue"),
        retry=finished.get("h2-m1-c0-requeue"),
        head=head,
        seconds=round(time.monotonic() - t0, 1),
    )
    ray.get(blockers)

    # 5. Cancelling a run in flight ends it as crashed, promptly, and refuses new runs.
    ex2 = executor()
    out: dict[str, Any] = {}

    def run_cancelled() -> None:
        done = ex2.run(req("h3-m1-c0", "candidate", "sleep"))
        out.update(status=done.outcome.status, error=done.outcome.error)

    thread = threading.Thread(target=run_cancelled)
    thread.start()
    while not any(k == "run.started" and d["run_id"] == "h3-m1-c0" for k, d in events):
        time.sleep(0.2)
    time.sleep(3.0)
    t0 = time.monotonic()
    ex2.cancel()
    thread.join(timeout=60)
    try:
        ex2.run(req("h3-m1-c1", "candidate", "ok"))
        refused = False
    except Exception as exc:
        refused = type(exc).__name__ == "RunCancelled"
    emit(scenario="cancel", **out, seconds=round(time.monotonic() - t0, 1), refused_after=refused)

    # 6. A whole lab session (the demo lab) whose runs execute on Ray, through the gate to a merge.
    session_on_ray(tmp / "demo")


FAST_LOSS = """seed = int(os.environ.get("LABCONSOLE_SEED", "0"))
loss = 2.0 + abs(math.log10(LEARNING_RATE) + 2.0) * 0.3 + abs(CONTEXT - 12) * 0.01 + (seed % 3) * 0.001
json.dump({"val_bpb": loss}, open("result.json", "w"))
print("val_bpb", loss)
"""


def fast_train(train_py: str) -> str:
    """The demo's train.py cut to its tunable knobs (the researcher edits them by name) over an instant loss:
    the session on Ray measures real edits without minutes of training."""
    knobs = train_py.split("# --- hyperparameters")[1].split("\n", 1)[1].split("# --- fixed budget")[0]
    return "import json, math, os\n" + knobs + FAST_LOSS


def session_on_ray(dest: Path) -> None:
    import re

    from labconsole.cli import main as cli
    from labconsole.cli.headless import run_headless
    from labconsole.demo import create_demo_lab
    from labconsole.events.audit import verify_session
    from labconsole.events.log import read_events
    from labconsole.lab import state as S
    from labconsole.lab.service import Lab

    lab_dir = create_demo_lab(dest)
    # The demo's torch model takes ~25 s a run on two loaded cores; this stand-in keeps its knobs (the
    # sweep edits them) and its metric file, and answers in a fraction of a second.
    (lab_dir / "train.py").write_text(fast_train((lab_dir / "train.py").read_text()))
    toml = lab_dir / "lab.toml"
    text = re.sub(r"(?m)^budget\s*=\s*\d+", "budget = 2", toml.read_text())
    text = re.sub(r"(?m)^repeats\s*=\s*\d+", "repeats = 2", text)
    toml.write_text(text + f'\n[executor]\nkind = "ray"\naddress = "{HEAD}"\n')
    sh("git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "fast objective, runs on ray", cwd=lab_dir)
    t0 = time.monotonic()
    lab = Lab.start_session(lab_dir)
    session_dir = lab.session_dir
    try:
        state = run_headless(lab, timeout_s=200, echo=False)
    finally:
        lab.close()
    events = list(read_events(session_dir))
    finished = [e.data for e in events if e.kind == "run.finished"]
    waiting = [h for h in state.leaderboard() if h.status == S.AWAITING_HUMAN]
    merged = False
    if waiting:
        best = waiting[0]
        approve = [
            "review",
            "approve",
            best.hyp_id,
            "--lab",
            str(lab_dir),
            "--yes",
            "--reason",
            "test",
            "--who",
            "tester",
        ]
        merged = cli(approve) == 0 and cli(["merge", best.hyp_id, "--lab", str(lab_dir), "--who", "tester"]) == 0
    emit(
        scenario="session",
        statuses=sorted(h.status for h in state.hypotheses.values()),
        runs=len(finished),
        ok=sum(1 for d in finished if d["status"] == "ok"),
        wheres=sorted({d.get("where") or "" for d in finished}),
        executors=sorted({e.data.get("executor") or "" for e in events if e.kind == "run.started"}),
        sandbox=[e.data["mode"] for e in events if e.kind == "sandbox.status"],
        merged=merged,
        not_ok=[(d["run_id"], d["status"], d.get("error")) for d in finished if d["status"] != "ok"],
        notes=[e.data.get("text") for e in events if e.kind == "note"][-5:],
        audit_ok=verify_session(session_dir).ok,
        seconds=round(time.monotonic() - t0, 1),
    )


if __name__ == "__main__":
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    main()
