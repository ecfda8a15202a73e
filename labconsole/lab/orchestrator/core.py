"""The orchestrator: runs the lab loop for a Lab (agents → events → tasks → measurements).

Three kinds of threads feed the one write path (``Lab.append``):
* the dispatcher turns supervisor messages (agent protocol lines, exits) into events
  and reacts to them (a commit starts a measurement, a verdict asks for a human);
* the scheduler hands tasks to idle agents from the current state;
* measurement workers run the objective on exact commits (runs/local.py).
Decisions stay with the person; nothing here approves or merges.

This module only wires the parts: agents.py (the agents and their tasks), scheduling.py (state → tasks),
measurement.py (commits → evidence), decisions.py (verdicts, budget), dispatch.py (messages → handlers),
recovery.py (after a crash). Each part is used under the lab lock.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from labconsole.agents.supervisor import Supervision, Supervisor
from labconsole.events import kinds as K
from labconsole.gpu.snapshot import GpuSnapshot
from labconsole.gpu.telemetry import EventDownsampler, GpuTelemetry, OwnerRegistry, TelemetrySampler
from labconsole.lab.orchestrator.agents import AgentPool, InFlight
from labconsole.lab.orchestrator.decisions import GateFlow
from labconsole.lab.orchestrator.dispatch import MessageRouter
from labconsole.lab.orchestrator.measurement import Measurements
from labconsole.lab.orchestrator.port import LabPort
from labconsole.lab.orchestrator.recovery import recover
from labconsole.lab.orchestrator.scheduling import Scheduler
from labconsole.runs.factory import build_executor, preflight
from labconsole.runs.tracking import TrackioSink

if TYPE_CHECKING:
    from labconsole.gpu.leases import GpuLeasePool


@dataclass(frozen=True)
class OrchestratorOptions:
    """How ``Lab.start`` runs the loop; the defaults are a console's. Tests and tools change a few by name."""

    supervision: Supervision | None = None  # agents' hang/heartbeat/backoff limits (None: the supervisor's own)
    track: bool = True  # Trackio runs for measurements
    agent_argv: dict[str, list[str]] | None = None  # a role's command instead of the lab's agent backend
    tick_s: float = 0.1  # the scheduler's period
    nvml: Any = None  # an NVML stand-in for GPU telemetry (None: the real one, or "no GPU")
    gpu_sample_period_s: float = 30.0  # how often a gpu.sample event is logged
    check_baseline: bool = True  # measure the baseline before any agent starts


class Orchestrator:
    def __init__(self, lab: LabPort, options: OrchestratorOptions | None = None) -> None:
        opts = options or OrchestratorOptions()
        self.lab = lab
        self.config = lab.config
        preflight(self.config)  # an unreachable cluster or a missing token: one line, before anything starts
        self.supervisor = Supervisor(lab.session_dir / "agents", opts.supervision)
        self.tracker = TrackioSink() if opts.track else None
        # GPU telemetry: one sampler for the session (the TUI reads it too); processes are
        # attributed to the agent or run that owns them; the log gets a sample every 30 s.
        self.owners = OwnerRegistry()
        self.sampler = TelemetrySampler(
            GpuTelemetry(nvml=opts.nvml, owners=self.owners),
            interval=1.0,
            history=600,
            on_snapshot=self._on_gpu_snapshot,
        )
        self._gpu_events = EventDownsampler(period_s=opts.gpu_sample_period_s)
        self.runs_dir = lab.repo.root / ".labconsole" / "runs"
        # [executor] kind picks local, Ray or HF Jobs; the local options are unused by the remote ones.
        self.executor = build_executor(
            self.config,
            lab.repo,
            lab.append,
            lab.put_blob,
            self.runs_dir,
            tracker=self.tracker,
            lease_pool=self._lease_pool(),
            owners=self.owners,
            sampler=self.sampler,
        )
        self.tick_s = opts.tick_s
        self.check_baseline = opts.check_baseline
        self.baseline_broken: str | None = None  # why the agents were paused for a broken baseline, until resumed
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.agents = AgentPool(lab, self.supervisor, opts.agent_argv)
        self.measurements = Measurements(
            lab, self.executor, self._stop, after_each=self._check_budget, on_baseline_broken=self._baseline_broken
        )
        self.gate = GateFlow(lab, self.agents, self.measurements.evidence_of)
        self.scheduler = Scheduler(lab, self.agents, self.measurements, self.gate)
        self.router = MessageRouter(lab, self.agents, self.scheduler, self.gate, self.owners, self._check_budget)

    # The parts' books, for views and tests that look at what is in progress.
    @property
    def in_flight(self) -> dict[str, InFlight]:
        return self.agents.in_flight

    @property
    def measuring(self) -> set[str]:
        return self.measurements.measuring

    @property
    def paused_roles(self) -> set[str]:
        return self.agents.paused_roles

    # --- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        self.executor.announce_sandbox()  # logs sandbox.status; raises (one line) if required but missing
        self.sampler.start()
        recover(self.lab, self.measurements)
        if self.check_baseline:
            self._require_baseline()  # raises before any agent starts
        self.agents.start()
        for target, name in ((self._dispatch_loop, "dispatcher"), (self._schedule_loop, "scheduler")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        self.executor.cancel()
        self.supervisor.close()
        self.measurements.shutdown()
        self.sampler.stop()
        for thread in self._threads:
            thread.join(timeout=5)
        self._drain_messages()
        if self.tracker is not None:
            self.tracker.close()

    def idle(self) -> bool:
        """Nothing left to do without a person: work settled and the report written after it."""
        with self.lab.locked():
            return self.scheduler.settled(self.lab.state) and self.lab.state.report_is_current()

    # --- what the Lab service asks for (it has logged the person's command already) ----------------

    def control(self, agent_id: str, action: str) -> None:
        with self.lab.locked():
            self.agents.control(agent_id, action)

    def message(self, agent_id: str, text: str) -> None:
        self.agents.message(agent_id, text)

    def resume_all(self) -> None:
        self.baseline_broken = None
        self.agents.resume_all()

    def remeasure(self, hyp_id: str) -> None:
        self.measurements.remeasure(hyp_id)

    def wait_measurements(self, timeout_s: float | None = None) -> None:
        self.measurements.wait(timeout_s)

    def review_with_rules(self, hyp_id: str) -> None:
        self.gate.review_with_rules(hyp_id)

    # --- threads ----------------------------------------------------------------------------------

    def _dispatch_loop(self) -> None:
        while not self._stop.is_set():
            try:
                msg = self.supervisor.messages.get(timeout=0.1)
            except queue.Empty:
                continue
            try:
                with self.lab.locked():
                    self.router.handle(msg)
            except Exception as exc:  # one bad message must not end the lab loop
                if self.lab.fatal:
                    return
                self.lab.append(K.NOTE, "console", {"text": f"error handling {msg.type} from {msg.agent_id}: {exc}"})

    def _drain_messages(self) -> None:
        while True:
            try:
                msg = self.supervisor.messages.get_nowait()
            except queue.Empty:
                return
            if msg.type in ("exited", "started"):
                self.router.handle(msg)

    def _schedule_loop(self) -> None:
        while not self._stop.wait(self.tick_s):
            try:
                with self.lab.locked():
                    self.scheduler.schedule()
            except Exception as exc:
                if self.lab.fatal:
                    return
                self.lab.append(K.NOTE, "console", {"text": f"scheduler error: {exc}"})

    def _require_baseline(self) -> None:
        """One baseline run on main, in the log like any run; a lab that cannot measure it starts no agent."""
        from labconsole.lab.preflight_baseline import BASELINE_RUN_PREFIX, measure_baseline, require_baseline

        with self.lab.locked():  # one per start: a resumed session checks again, under a new run id
            n = 1 + sum(run_id.startswith(BASELINE_RUN_PREFIX) for run_id in self.lab.state.runs)
        remote = (
            None
            if self.config.executor.kind == "local"
            else (lambda append, put_blob: build_executor(self.config, self.lab.repo, append, put_blob, self.runs_dir))
        )
        result = measure_baseline(
            self.config,
            self.lab.repo,
            self.lab.repo.head_sha(),
            append=self.lab.append,
            put_blob=self.lab.put_blob,
            read_blob=self.lab.blob,
            runs_dir=self.runs_dir,
            lease_pool=getattr(self.executor, "lease_pool", None),
            owners=self.owners,
            run_id=f"{BASELINE_RUN_PREFIX}-{n}",
            executor_factory=remote,
        )
        if not result.ok:
            self.lab.append(K.NOTE, "console", {"text": f"no agent started: {result.cause()}"})
        require_baseline(result)

    def _baseline_broken(self, base_sha: str, cause: str) -> None:
        """Every baseline run of a measurement failed (after a merge, say): no candidate can be judged, so
        the agents pause until a person fixes main and resumes them."""
        with self.lab.locked():
            roles = self.agents.roles() - self.agents.paused_roles
            if not roles:
                return
            self.agents.pause_roles(roles)
            self.baseline_broken = f"the baseline on {base_sha[:12]} no longer measures ({cause})"
            self.lab.append(
                K.NOTE, "console", {"text": f"agents paused: {self.baseline_broken}; fix main, then resume them (B)"}
            )

    def _check_budget(self) -> None:
        self.gate.check_budget()

    def _on_gpu_snapshot(self, snap: GpuSnapshot) -> None:
        if not snap.available or self._stop.is_set() or self.lab.fatal:
            return
        data = self._gpu_events.offer(snap)
        if data is not None:
            self.lab.append(K.GPU_SAMPLE, "console", data)

    def _lease_pool(self) -> GpuLeasePool | None:
        if self.config.resources.gpus_per_run <= 0:
            return None
        from labconsole.gpu.leases import pool_for_machine

        return pool_for_machine(self.config.resources.gpus_per_run)
