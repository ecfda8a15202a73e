"""The Ray executor: measurement runs go to an existing Ray cluster; decisions, the log and the gate stay here.

Each run ships its exact commit as a git bundle (one per commit, put in Ray's object store once), and a
Ray task on some node checks the commit and runs it in the same sandbox as local runs
(``runs/remote_run.py``). Runs of one measurement prefer the node its first run landed on (soft node
affinity), so candidate and baseline of a comparison share a machine; the node is in every run's
``where``. A node that dies mid-run ends that run visibly as ``failed (node lost)`` and the run is
queued once more under a new run id — once, and only for a lost node, so a retry can never be used to
pick a better number. ``cancel`` cancels the Ray tasks (``force=True`` kills the worker and, through
bubblewrap's ``--die-with-parent``, the run). The run's lines stream back while it runs: the task pushes
them in batches to a ``ray.util.queue.Queue`` actor on the console's node, which a driver thread drains
into ``run.log`` events (runs/run_log.py); the whole log still comes back at the end as its blob.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from labconsole.errors import LabError
from labconsole.events import kinds as K
from labconsole.runs.executor import ExecutedRun, ExecutorBase, ExecutorContext, RunCancelled, RunRequest
from labconsole.runs.preflight import check_ray_address
from labconsole.runs.finish import finish_run, store_output
from labconsole.runs.remote_run import make_bundle, run_from_bundle

NODE_LOST = "failed (node lost)"
# Set-up time on the node (fetching the bundle, the checkout) on top of the objective's own timeout.
SETUP_SLACK_S = 120.0
GPU_SAMPLE_PERIOD_S = 30.0  # a node's gpu.sample in the log, as often as the console's own
DRAIN_S = 0.25  # how often the driver takes streamed lines off the queue
LOG_QUEUE_ITEMS = 2000  # batches waiting in the queue; a task whose push finds it full counts its lines dropped


class RayExecutor(ExecutorBase):
    """The :class:`~labconsole.runs.executor.Executor` that runs on a Ray cluster (``[executor] kind = "ray"``)."""

    def __init__(self, ctx: ExecutorContext) -> None:
        super().__init__(ctx)
        self._refs: dict[str, Any] = {}  # run id -> the Ray task's ObjectRef
        self._bundles: dict[str, Any] = {}  # commit -> ObjectRef of its bundle bytes
        self._affinity: dict[str, str] = {}  # measurement ("hyp-m1") -> node id of its first run
        self._remote: Any = None
        self._log_queue: Any = None
        self._drain_lock = threading.Lock()
        self.telemetry: Any = None  # ClusterTelemetry once connected: every node's GPUs, by node id
        self._gpu_events: Any = None

    def connect(self) -> None:
        """Join the cluster (after the factory's reachability check); one line if Ray refuses."""
        import ray

        address = check_ray_address(self.config.executor.address)
        try:
            if not ray.is_initialized():
                ray.init(
                    address=address,
                    namespace=self.config.executor.namespace or "labconsole",
                    log_to_driver=False,
                    logging_level=logging.WARNING,
                )
        except Exception as exc:
            raise LabError(
                f"[executor] address {address!r}: Ray refused the connection: "
                f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}"
            ) from None
        # max_retries=0: Ray must never re-run a measurement on its own; the one re-queue after a lost
        # node is ours, logged as a new run. max_calls=0: Ray's default for GPU tasks starts a new worker
        # process per task (to free GPU memory); here the run is a subprocess that exits, so the worker
        # holds no GPU memory and reusing it takes a worker start out of every hand-off.
        self._remote = ray.remote(max_retries=0, max_calls=0)(run_from_bundle)
        self._start_log_queue()
        self._start_telemetry()

    def _start_telemetry(self) -> None:
        """A GPU sampler on each node, polled from here; the log gets their samples tagged with ``node``."""
        from labconsole.gpu.telemetry.cluster import ClusterTelemetry, NodeEventDownsampler

        self._gpu_events = NodeEventDownsampler(period_s=GPU_SAMPLE_PERIOD_S)
        self.telemetry = ClusterTelemetry(interval=1.0, on_snapshot=self._on_node_snapshot)
        self.telemetry.start()

    def _on_node_snapshot(self, node: str, snap: Any) -> None:
        if self._cancelled.is_set():
            return
        data = self._gpu_events.offer(node, snap)
        if data is not None:
            self.append(K.GPU_SAMPLE, "console", data)

    def _start_log_queue(self) -> None:
        """The queue runs' lines come back through: an actor pinned to the console's own node (it must
        outlive any worker node) taking no CPU, drained by a daemon thread here."""
        import ray
        from ray.util.queue import Queue
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        here = ray.get_runtime_context().get_node_id()
        self._log_queue = Queue(
            maxsize=LOG_QUEUE_ITEMS,
            actor_options={"num_cpus": 0, "scheduling_strategy": NodeAffinitySchedulingStrategy(here, soft=True)},
        )
        threading.Thread(target=self._drain_loop, name="ray-run-lines", daemon=True).start()

    def _drain_loop(self) -> None:
        while not self._cancelled.is_set():  # after cancel, each ending run drains its own last lines
            try:
                self._drain()
            except Exception:  # the cluster went away: the runs end with their own errors, and their blobs
                pass
            time.sleep(DRAIN_S)

    def _drain(self) -> None:
        """Move every batch waiting in the queue into run.log events (one drainer at a time: lines stay in order)."""
        with self._drain_lock:
            waiting = self._log_queue.qsize() if self._log_queue is not None else 0
            batches = self._log_queue.get_nowait_batch(waiting) if waiting else []
            for batch in batches:
                # Written by a Ray worker next to the run: checked for shape like any input from a node.
                if not (isinstance(batch, tuple) and len(batch) == 3 and isinstance(batch[1], list)):
                    continue
                run_id, lines, dropped = batch
                if isinstance(dropped, int) and dropped > 0:
                    self.log_sink.dropped(str(run_id), dropped)
                for text in lines:
                    self.log_sink.line(str(run_id), "stdout", str(text))

    def announce_sandbox(self) -> None:
        """Runs are sandboxed on their node, which the console cannot see from here: each ``run.finished``
        records its node's sandbox; a node without one refuses runs when the lab requires a sandbox."""
        obj = self.config.objective
        reason = "runs execute on Ray nodes; each run records its node's sandbox"
        self._log_sandbox("remote", reason, network=obj.network, env=list(obj.env), read_paths=list(obj.read_paths))

    def cancel(self) -> None:
        import ray

        self._cancelled.set()
        if self.telemetry is not None:
            self.telemetry.stop(timeout=0.0)
        with self._lock:
            refs = list(self._refs.values())
        for ref in refs:
            try:
                ray.cancel(ref, force=True)
            except Exception:  # already finished, or its node is gone: nothing left to stop
                pass

    def clean_up_after_crash(self) -> list[str]:
        # Ray tasks share the fate of the driver that owns them: a dead console's tasks were ended by Ray.
        return []

    def run(self, request: RunRequest, priority: float = 0.0) -> ExecutedRun:
        done = self._attempt(request, requeue_of=None)
        if done.outcome.error.startswith(NODE_LOST) and not self._cancelled.is_set():
            retry = RunRequest(
                f"{request.run_id}-requeue", request.hyp_id, request.role, request.sha, request.repeat, request.params
            )
            done = self._attempt(retry, requeue_of=request.run_id)
        return done

    # --- one attempt ------------------------------------------------------------------------------

    def _attempt(self, req: RunRequest, requeue_of: str | None) -> ExecutedRun:
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        if self._cancelled.is_set():
            raise RunCancelled(req.run_id)
        obj = self.config.objective
        gpus = self.config.resources.gpus_per_run
        measurement = req.run_id.rsplit("-", 1)[0]
        options: dict[str, Any] = {"num_cpus": 1, "num_gpus": gpus}
        if (node := self._affinity.get(measurement)) is not None:
            options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node, soft=True)
        run_vars = {"LABCONSOLE_SEED": str(req.repeat), "LABCONSOLE_RUN_ID": req.run_id}
        self.append(
            K.RUN_STARTED,
            "console",
            req.started(obj.command, gpus=[], executor="ray", **({"requeue_of": requeue_of} if requeue_of else {})),
        )
        started = time.monotonic()
        where = "ray"
        self.log_sink.open(req.run_id, req.hyp_id)
        try:
            bundle = self._bundle(req.sha)
            ref = self._remote.options(**options).remote(
                bundle, req.sha, obj, run_vars, _gpu_env_marker(gpus), self._log_queue
            )
            with self._lock:
                self._refs[req.run_id] = ref
            if self._cancelled.is_set():
                ray.cancel(ref, force=True)
            result = ray.get(ref, timeout=obj.timeout_s + SETUP_SLACK_S)
            where = self._where_of(result)
        except Exception as exc:
            result = self._failure(exc, ray)
        finally:
            with self._lock:
                self._refs.pop(req.run_id, None)
        try:
            self._drain()  # the task pushed its last lines before it returned: they go before run.finished
        except Exception:
            pass
        self.log_sink.close(req.run_id)
        node = result.get("node_id")
        if node and measurement not in self._affinity:
            self._affinity[measurement] = node
        return self._finish(req, result, where, time.monotonic() - started)

    def _bundle(self, sha: str) -> Any:
        import ray

        with self._lock:
            ref = self._bundles.get(sha)
        if ref is None:
            with tempfile.TemporaryDirectory(prefix="labconsole-ship-") as tmp:
                path = make_bundle(self.repo.root, sha, Path(tmp) / "commit.bundle")
                ref = ray.put(path.read_bytes())
            with self._lock:
                self._bundles[sha] = ref
        return ref

    def _failure(self, exc: Exception, ray: Any) -> dict[str, Any]:
        """What a run that did not come back becomes (a result dict like the remote side's)."""
        errors = ray.exceptions
        lost = tuple(
            getattr(errors, n)
            for n in (
                "NodeDiedError",
                "WorkerCrashedError",
                "OwnerDiedError",
                "LocalRayletDiedError",
                "ObjectLostError",
            )
            if hasattr(errors, n)
        )
        if self._cancelled.is_set():
            return {"status": "crashed", "error": "stopped with the console"}
        if isinstance(exc, errors.GetTimeoutError):
            return {
                "status": "timeout",
                "error": f"no result within {self.config.objective.timeout_s + SETUP_SLACK_S:g} s",
            }
        if isinstance(exc, errors.TaskCancelledError):
            return {"status": "crashed", "error": "the Ray task was cancelled"}
        if isinstance(exc, lost):
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            return {"status": "failed", "error": f"{NODE_LOST}: {type(exc).__name__} {first}"[:300]}
        return {"status": "failed", "error": f"{type(exc).__name__}: {exc}"[:300]}

    @staticmethod
    def _where_of(result: dict[str, Any]) -> str:
        node = result.get("node_id") or ""
        return f"ray:{result.get('node_ip', '?')}/{node[:12]}"

    def _finish(self, req: RunRequest, result: dict[str, Any], where: str, waited: float) -> ExecutedRun:
        status = str(result.get("status", "failed"))
        error = self.redactor.text(str(result.get("error", "")))
        log_blob, artifacts = store_output(
            self.put_blob, self.redactor, result.get("output", b""), result.get("artifacts") or {}
        )
        duration = round(float(result.get("duration_s") or waited), 3)
        return finish_run(
            self.append,
            req,
            status,
            result.get("metric"),
            result.get("returncode"),
            duration,
            error,
            log_blob=log_blob,
            artifacts=artifacts,
            sandbox=str(result.get("sandbox", "")),
            where=where,
            remote=True,
            tampering=result.get("tampering") or (),
        )


def _gpu_env_marker(gpus: int) -> dict[str, str]:
    """The remote side fills in ``CUDA_VISIBLE_DEVICES`` from what Ray assigned; empty for CPU runs."""
    return {"CUDA_VISIBLE_DEVICES": "ray"} if gpus else {}
