"""The local executor: the console runs the objective itself, on the exact commit.

A measurement runs candidate and baseline alternately (``repeats`` pairs, the
order flipped every repeat, the same seed within a pair) in clean detached
checkouts, checks that no run touched a protected file, and turns every
timeout, crash or unreadable metric into a visible failed run with its log.
Each run is sandboxed (``runs/run_sandbox.py``) with its limits (``runs/limits.py``);
what it printed or wrote is redacted (``core/redact.py``) before it is stored.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from labconsole.errors import LabError
from labconsole.events import kinds as K
from labconsole.runs.executor import ExecutedRun, ExecutorBase, ExecutorContext, RunCancelled, RunRequest
from labconsole.runs.gpu_memory import PeakGpuMemory, run_peak
from labconsole.runs.limits import Limiter, RunLimits
from labconsole.runs.metric import MetricError, extract_metric
from labconsole.runs.finish import finish_run
from labconsole.runs.outcome import RunOutcome
from labconsole.runs.output_pump import wait_streaming
from labconsole.runs.run_sandbox import SANDBOX_DEGRADED, PreparedRun, SandboxStatus, prepare
from labconsole.runs.tracking import TrackedRun, TrackioSink

__all__ = ["LocalExecutor", "RunCancelled", "RunRequest"]

MAX_LOG_BYTES = 4 << 20  # keep at most the last 4 MiB of a run's output as its log blob


class LocalExecutor(ExecutorBase):
    """The :class:`~labconsole.runs.executor.Executor` that runs on this machine (its GPUs through leases)."""

    def __init__(
        self,
        ctx: ExecutorContext,
        tracker: TrackioSink | None = None,
        lease_pool: Any = None,
        owners: Any = None,
        sampler: Any = None,
    ) -> None:
        super().__init__(ctx)
        self.tracker = tracker
        self.lease_pool = lease_pool
        self.owners = owners  # telemetry.OwnerRegistry: GPU memory of a run's processes shows as run:<id>
        self.sampler = sampler  # telemetry.TelemetrySampler: a run's snapshots go to Trackio and its peak memory
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self.sandbox = SandboxStatus.here()

    def announce_sandbox(self) -> None:
        """At session start, before any agent: log whether runs are sandboxed; refuse without a sandbox
        when the lab requires one (one line, nothing started)."""
        obj = self.config.objective
        if self.sandbox.mode == SANDBOX_DEGRADED and obj.require_sandbox:
            raise LabError(f"[objective] require_sandbox = true but {self.sandbox.reason}")
        self._log_sandbox(
            self.sandbox.mode,
            self.sandbox.reason,
            network=obj.network,
            env=list(obj.env),
            read_paths=list(obj.read_paths),
        )

    def measure(
        self, hyp_id: str, sha: str, base_sha: str, params: dict[str, Any], measurement: int, priority: float = 0.0
    ) -> tuple[list[RunOutcome], list[str]]:
        """Run ``repeats`` interleaved pairs. Returns the outcomes and any protected-file tampering seen."""
        outcomes: list[RunOutcome] = []
        tampering: set[str] = set()
        for repeat in range(self.config.objective.repeats):
            pair = [("baseline", base_sha), ("candidate", sha)]
            if repeat % 2:
                pair.reverse()  # alternate who goes first: drift on the machine hits both alike
            for role, commit in pair:
                if self._cancelled.is_set():
                    return outcomes, sorted(tampering)
                request = RunRequest(
                    f"{hyp_id}-m{measurement}-{role[0]}{repeat}",
                    hyp_id,
                    role,
                    commit,
                    repeat,
                    params if role == "candidate" else {},
                )
                try:
                    outcome, touched = self.run_once(request, priority)
                except RunCancelled:
                    return outcomes, sorted(tampering)
                outcomes.append(outcome)
                tampering.update(touched)
        return outcomes, sorted(tampering)

    def clean_up_after_crash(self) -> list[str]:
        """End objective processes a dead console left running and remove their checkouts."""
        ended: list[str] = []
        if not self.runs_dir.is_dir():
            return ended
        for pidfile in self.runs_dir.glob("*.pgid"):
            try:
                os.killpg(int(pidfile.read_text().strip()), signal.SIGKILL)
                ended.append(pidfile.stem)
            except (ValueError, ProcessLookupError, PermissionError):
                pass
            pidfile.unlink(missing_ok=True)
        for checkout in self.runs_dir.iterdir():
            if checkout.is_dir():
                try:
                    self.repo.remove_checkout(checkout)
                except Exception:  # not ours (the git layer refuses): leave it for a person
                    pass
        return ended

    def cancel(self) -> None:
        """Stop measuring: kill running objective processes (their runs end as 'crashed')."""
        self._cancelled.set()
        with self._lock:
            procs = list(self._procs.values())
        for proc in procs:
            _kill_group(proc)

    def run_once(self, req: RunRequest, priority: float = 0.0) -> tuple[RunOutcome, list[str]]:
        """:meth:`run` as (outcome, protected files the run touched)."""
        done = self.run(req, priority)
        return done.outcome, list(done.tampering)

    def run(self, req: RunRequest, priority: float = 0.0) -> ExecutedRun:
        obj = self.config.objective
        lease = None
        gpu_info: dict[str, Any] = {"gpus": []}
        if self.config.resources.gpus_per_run and self.lease_pool is not None:
            # Higher priority first; the pool orders by integer priority.
            lease = self.lease_pool.acquire(self.config.resources.gpus_per_run, int(priority * 1000), req.run_id)
            if self._cancelled.is_set():
                lease.release()
                raise RunCancelled(req.run_id)
            idle = sum(gap.seconds for gap in self.lease_pool.idle_gaps() if gap.before_run == req.run_id)
            gpu_info = {
                "gpus": list(lease.gpus),
                "gpu_wait_s": round(lease.wait_seconds, 3),
                "gpu_idle_before_s": round(idle, 3),
            }
        workdir = self.runs_dir / req.run_id
        run_vars = {"LABCONSOLE_SEED": str(req.repeat), "LABCONSOLE_RUN_ID": req.run_id}
        prepared = prepare(
            obj, obj.command, workdir, self.repo.root, run_vars, lease.env() if lease is not None else {}, self.sandbox
        )
        self.append(
            K.RUN_STARTED,
            "console",
            req.started(obj.command, **gpu_info, sandbox=prepared.sandbox, env_names=prepared.env_names),
        )
        started = time.monotonic()
        started_wall = time.time()
        # The run's peak GPU memory, from the console's own samples while it holds its GPUs.
        peak = PeakGpuMemory(lease.gpus) if lease is not None and self.sampler is not None else None
        stop_peak = self.sampler.add_listener(peak.offer) if peak is not None else None
        status, metric, returncode, error, output = "failed", None, None, "", b""
        touched: list[str] = []
        artifacts: dict[str, str] = {}  # file -> blob
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        try:
            if workdir.exists():  # left over from a console that died mid-run
                self.repo.remove_checkout(workdir)
            self.repo.checkout_detached(req.sha, workdir)
            self.log_sink.open(req.run_id, req.hyp_id)
            status, returncode, output, error = self._execute(req.run_id, prepared, workdir, obj.timeout_s)
            if status == "ok":
                try:
                    metric = extract_metric(obj.metric, workdir, output.decode("utf-8", "replace"))
                except MetricError as exc:
                    status, error = "failed", f"metric: {exc}"
            artifacts = {
                name: self.put_blob(self.redactor.data((workdir / name).read_bytes()))
                for name in obj.artifacts
                if (workdir / name).is_file()
            }
            touched = self.repo.verify_checkout(workdir, req.sha, list(obj.protected))
            if touched:
                status, error = "invalid", "run modified protected files: " + ", ".join(touched)
        except Exception as exc:  # a run that cannot even start is a failed run, not a console crash
            status, error = "failed", f"{type(exc).__name__}: {exc}"
        finally:
            self.log_sink.close(req.run_id)
            if stop_peak is not None:
                stop_peak()
            if lease is not None:
                lease.release()
            try:
                if workdir.exists():
                    self.repo.remove_checkout(workdir)
            except Exception:
                shutil.rmtree(workdir, ignore_errors=True)
        duration = time.monotonic() - started
        error = self.redactor.text(error)
        try:
            log_blob: str | None = self.put_blob(self.redactor.data(output[-MAX_LOG_BYTES:]))
        except OSError as exc:  # the run still ends in the log (no hidden runs), without its output
            log_blob = None
            error = f"{error}; log not stored: {exc.strerror or exc}".lstrip("; ")
        where = "local" + (":gpu" + ",".join(str(g) for g in gpu_info["gpus"]) if gpu_info["gpus"] else "")
        finished = finish_run(
            self.append,
            req,
            status,
            metric,
            returncode,
            round(duration, 3),
            error,
            log_blob=log_blob,
            artifacts=artifacts,
            sandbox=prepared.sandbox,
            where=where,
            remote=False,
            tampering=touched,
            extra=run_peak(peak, output.decode("utf-8", "replace")).event_data(),
        )
        if self.tracker is not None:
            self.tracker.record(
                TrackedRun(
                    project=self.config.name,
                    name=req.run_id,
                    group=req.hyp_id,
                    config=self.redactor.value(
                        {"commit": req.sha, "role": req.role, "repeat": req.repeat, **req.params}
                    ),
                    metrics={obj.name: metric, "duration_s": duration}
                    if metric is not None
                    else {"duration_s": duration},
                    failed=status != "ok",
                    error=error,
                    system=self._gpu_metrics_since(started_wall),
                )
            )
        return finished

    def _gpu_metrics_since(self, since: float) -> list[dict[str, float]]:
        if self.sampler is None:
            return []
        from labconsole.gpu.telemetry import trackio_metrics

        return [
            m for snap in self.sampler.history() if snap.available and snap.ts >= since if (m := trackio_metrics(snap))
        ]

    def _execute(
        self, run_id: str, prepared: PreparedRun, cwd: Path, timeout_s: float
    ) -> tuple[str, int | None, bytes, str]:
        obj = self.config.objective
        limiter = Limiter(run_id, RunLimits(obj.memory_mb, obj.max_processes))
        try:
            status, returncode, output, error = self._wait(run_id, prepared, cwd, timeout_s, limiter)
            if status != "ok" and (hit := limiter.hit(returncode, output)):
                error = hit  # "killed: memory limit 2048 MB" says more than "killed by signal 9"
            return status, returncode, output, error
        finally:
            limiter.close()

    def _wait(
        self, run_id: str, prepared: PreparedRun, cwd: Path, timeout_s: float, limiter: Limiter
    ) -> tuple[str, int | None, bytes, str]:
        argv = prepared.prefix + limiter.inner(prepared.command, prepared.sandbox != SANDBOX_DEGRADED)
        proc = subprocess.Popen(
            limiter.outer(argv),
            cwd=cwd,
            env=prepared.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=limiter.preexec if limiter.how == "rlimit" else None,
        )
        with self._lock:
            self._procs[run_id] = proc
        # If the console dies (kill -9), the next one finds and ends this process group.
        pidfile = self.runs_dir / f"{run_id}.pgid"
        pidfile.write_text(str(proc.pid))
        if self._cancelled.is_set():  # cancel() ran between our check and the start: don't outlive it
            _kill_group(proc)
        if self.owners is not None:
            self.owners.register(proc.pid, f"run:{run_id}")
        try:
            output, timed_out = wait_streaming(
                proc, timeout_s, lambda text: self.log_sink.line(run_id, "stdout", text), _kill_group
            )
            if timed_out:
                return "timeout", proc.returncode, output, f"timed out after {timeout_s:g} s"
        finally:
            with self._lock:
                self._procs.pop(run_id, None)
            pidfile.unlink(missing_ok=True)
            if self.owners is not None:
                self.owners.unregister(proc.pid)
        if self._cancelled.is_set() and proc.returncode != 0:
            return "crashed", proc.returncode, output, "stopped with the console"
        if proc.returncode < 0:
            return "crashed", proc.returncode, output, f"killed by signal {-proc.returncode}"
        if proc.returncode != 0:
            tail = output.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
            return "failed", proc.returncode, output, f"exit code {proc.returncode}: {tail[0][:200]}"
        return "ok", 0, output, ""


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        try:
            proc.wait(timeout=2)
            return
        except subprocess.TimeoutExpired:
            continue
