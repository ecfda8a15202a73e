"""Every event kind a log may hold, declared once: its ``data`` fields with their types, and its version.

The log line is ``{seq, ts, kind, actor, data, prev, hash}``. ``actor`` is
``console``, ``human:<name>``, or ``agent:<agent-id>``. Only the console
writes; ``human:`` actors come from keyboard/CLI decisions.

Each kind is a frozen dataclass (fields without a default are required, those
defaulting to ``None`` optional: old logs lack them) registered in :data:`KINDS`
with :func:`~labconsole.events.schema.KindTable.declare`, which returns the kind
string kept as the module constant (``K.HYP_PROPOSED``). ``open=True`` marks kinds
whose data carries an agent's protocol message as it came, so extra keys are
allowed there. To add a kind: declare it here; the writer refuses anything else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from labconsole.events.agent_fields import (
    AgentStarted,
    AgentHello,
    AgentStatus,
    AgentLog,
    AgentRaw,
    AgentDropped,
    AgentToolCall,
    AgentUsage,
    AgentError,
    AgentExited,
    AgentStalled,
    AgentRestarting,
    AgentMessage,
    AgentControl,
)
from labconsole.events.eval_fields import (
    EvalAttempt,
    EvalAttemptInterrupted,
    EvalAttemptStarted,
    EvalAttemptTracked,
    EvalFinished,
    EvalStarted,
)
from labconsole.events.schema import EVAL_LOG, SESSION_LOG, KindSpec, KindTable, check_event, data_of

KINDS = KindTable()
_declare = KINDS.declare

# --------------------------------------------------------------------------- session


@dataclass(frozen=True)
class SessionStarted:
    session_id: str | None = None
    lab: str | None = None
    lab_root: str | None = None
    baseline_sha: str | None = None
    main_branch: str | None = None
    config_sha256: str | None = None
    config: dict[str, Any] | None = None
    objective: dict[str, Any] | None = None
    budget: dict[str, Any] | None = None
    pid: int | None = None
    host: str | None = None
    hyp_offset: int | None = None
    signing_key: str | None = None  # the starting person's ed25519 public key (hex): the session is sealed
    warnings: list[str] | None = None  # lab.toml patterns that match no file in main
    # {since_session, previous_sha256, changes: ["metric val_loss → train_loss", …]} when lab.toml changed
    rules_changed: dict[str, Any] | None = None
    # {path, commit, sha256, bytes}: the workers' instructions ([lab] instructions) read at baseline_sha; the
    # text is the session blob named by sha256
    instructions: dict[str, Any] | None = None


@dataclass(frozen=True)
class SessionResumed:
    pid: int | None = None
    last_seq: int | None = None
    config_sha256: str | None = None


@dataclass(frozen=True)
class SessionStopped:
    reason: str | None = None


@dataclass(frozen=True)
class LogRepaired:
    cut_bytes: int | None = None
    offset: int | None = None
    reason: str | None = None


SESSION_STARTED = _declare("session.started", SessionStarted, durable=True)
SESSION_RESUMED = _declare("session.resumed", SessionResumed)
SESSION_STOPPED = _declare("session.stopped", SessionStopped, durable=True)
# The writer itself logs a repair, in whichever log it repaired.
LOG_REPAIRED = _declare("log.repaired", LogRepaired, durable=True, logs=(SESSION_LOG, EVAL_LOG))

# --------------------------------------------------------------------------- agents


AGENT_STARTED = _declare("agent.started", AgentStarted)
AGENT_HELLO = _declare("agent.hello", AgentHello, open=True)
AGENT_STATUS = _declare("agent.status", AgentStatus, open=True)
AGENT_LOG = _declare("agent.log", AgentLog, open=True)
AGENT_RAW = _declare("agent.raw", AgentRaw)
AGENT_DROPPED = _declare("agent.dropped", AgentDropped)
AGENT_TOOL_CALL = _declare("agent.tool_call", AgentToolCall, open=True)
AGENT_USAGE = _declare("agent.usage", AgentUsage, open=True)
AGENT_ERROR = _declare("agent.error", AgentError, open=True)
AGENT_EXITED = _declare("agent.exited", AgentExited)
AGENT_RESTARTING = _declare("agent.restarting", AgentRestarting)
AGENT_STALLED = _declare("agent.stalled", AgentStalled)
AGENT_MESSAGE = _declare("agent.message", AgentMessage)
AGENT_CONTROL = _declare("agent.control", AgentControl)

# --------------------------------------------------------------------------- hypotheses


@dataclass(frozen=True)
class _HypFields:
    """What every kind about one hypothesis carries first (the kinds that inherit it)."""

    hyp_id: str


@dataclass(frozen=True)
class HypProposed(_HypFields):
    title: str | None = None
    params: dict[str, Any] | None = None
    rationale: str | None = None
    source: str | None = None
    proposer: str | None = None
    priority: float | None = None
    evidence: Any = None
    evidence_blob: str | None = None


@dataclass(frozen=True)
class HypQueued(_HypFields):
    priority: float | None = None


@dataclass(frozen=True)
class HypDuplicate(_HypFields):
    of: str | None = None
    similarity: float | None = None


@dataclass(frozen=True)
class HypClaimed(_HypFields):
    agent_id: str | None = None


@dataclass(frozen=True)
class WorktreeCreated(_HypFields):
    path: str | None = None
    branch: str | None = None
    base_sha: str | None = None


@dataclass(frozen=True)
class HypCommitted(_HypFields):
    sha: str | None = None
    branch: str | None = None
    base_sha: str | None = None
    message: str | None = None
    diff_blob: str | None = None
    files: list[str] | None = None
    additions: int | None = None
    deletions: int | None = None


@dataclass(frozen=True)
class HypFailed(_HypFields):
    step: str | None = None
    reason: str | None = None
    log_blob: str | None = None


@dataclass(frozen=True)
class WorktreeArchived(_HypFields):
    ref: str | None = None
    sha: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class WorktreeRemoved(_HypFields):
    path: str | None = None


HYP_PROPOSED = _declare("hypothesis.proposed", HypProposed)
HYP_QUEUED = _declare("hypothesis.queued", HypQueued)
HYP_DUPLICATE = _declare("hypothesis.duplicate", HypDuplicate)
HYP_CLAIMED = _declare("hypothesis.claimed", HypClaimed)
WORKTREE_CREATED = _declare("worktree.created", WorktreeCreated)
HYP_COMMITTED = _declare("hypothesis.committed", HypCommitted)
HYP_FAILED = _declare("hypothesis.failed", HypFailed)
WORKTREE_ARCHIVED = _declare("worktree.archived", WorktreeArchived)
WORKTREE_REMOVED = _declare("worktree.removed", WorktreeRemoved)

# --------------------------------------------------------------------------- measurement


@dataclass(frozen=True)
class _RunFields:
    """What every run.* kind carries first: the run, and the hypothesis it measures (None: a baseline's)."""

    run_id: str
    hyp_id: str | None = None


@dataclass(frozen=True)
class RunStarted(_RunFields):
    role: str | None = None  # candidate | baseline
    commit: str | None = None
    repeat: int | None = None
    command: str | None = None
    gpus: list[int] | None = None
    gpu_wait_s: float | None = None
    gpu_idle_before_s: float | None = None
    sandbox: str | None = None  # bwrap | degraded (ran without a sandbox)
    env_names: list[str] | None = None  # variables the run got from the console's environment, by name
    executor: str | None = None  # local (absent in older logs) | ray | hf-jobs
    requeue_of: str | None = None  # the run whose node was lost; re-queued once under this run id


@dataclass(frozen=True)
class RunFinished(_RunFields):
    status: str | None = None  # ok | failed | timeout | crashed | invalid
    metric: float | None = None
    returncode: int | None = None
    duration_s: float | None = None
    log_blob: str | None = None
    error: str | None = None
    artifacts: dict[str, str] | None = None  # file name -> blob
    sandbox: str | None = None  # bwrap | degraded
    where: str | None = None  # a remote run's node ("ray:10.0.0.5/ab12…") or job ("hf-jobs:<id>")
    peak_gpu_mem_mb: float | None = None  # the most GPU memory the run used (MiB), None: not measured
    peak_gpu_mem_from: str | None = None  # telemetry (the console's samples) | output (its peak_vram_mb: line)


@dataclass(frozen=True)
class RunLog(_RunFields):
    """A line a run printed while in flight (runs/run_log.py: redacted, cut, rate-limited; the blob has all)."""

    stream: str | None = None  # stdout | stderr | console (a closing count of dropped lines)
    text: str | None = None
    truncated: bool | None = None
    dropped: int | None = None  # lines of this run dropped under a flood just before this one


@dataclass(frozen=True)
class SandboxStatus:
    """Whether this session's runs are sandboxed (logged at session start), and what the lab let in by name."""

    mode: str  # bwrap | degraded
    reason: str | None = None  # why degraded, in one line
    network: bool | None = None
    env: list[str] | None = None  # [objective] env: names passed, secret-looking ones included
    read_paths: list[str] | None = None
    memory_mb: int | None = None
    max_processes: int | None = None


@dataclass(frozen=True)
class EvidenceRecorded(_HypFields):
    evidence_hash: str | None = None
    blob: str | None = None
    summary: dict[str, Any] | None = None


@dataclass(frozen=True)
class EvidenceConfirmed(_HypFields):
    """The fresh re-measure of a candidate about to be shown as the session's best, against the current main.

    Picking the best of many inflates its measured effect; this independent measurement decides its label
    (core/stats.py ``confirm``). Its runs are ordinary run.started/run.finished of the same hypothesis.
    """

    sha: str | None = None  # the candidate commit re-measured
    main_sha: str | None = None  # the baseline it ran against: main's head when the re-measure began
    evidence_hash: str | None = None  # the evidence whose decision this confirms
    label: str | None = None  # improved | no evidence | worse | inconclusive
    summary: dict[str, Any] | None = None  # the fresh measurement's gate fields and its metric rows


@dataclass(frozen=True)
class ReviewVerdict(_HypFields):
    reviewer: str | None = None
    verdict: str | None = None  # pass | flag | reject
    reasons: list[str] | None = None


@dataclass(frozen=True)
class HypAwaiting(_HypFields):
    """The hypothesis waits for the person's decision."""


RUN_STARTED = _declare("run.started", RunStarted)
RUN_FINISHED = _declare("run.finished", RunFinished)
RUN_LOG = _declare("run.log", RunLog)
SANDBOX_STATUS = _declare("sandbox.status", SandboxStatus)
EVIDENCE_RECORDED = _declare("evidence.recorded", EvidenceRecorded)
EVIDENCE_CONFIRMED = _declare("evidence.confirmed", EvidenceConfirmed, decision=True)
REVIEW_VERDICT = _declare("review.verdict", ReviewVerdict, decision=True)
HYP_AWAITING = _declare("hypothesis.awaiting_human", HypAwaiting, decision=True)

# --------------------------------------------------------------------------- decisions (actor = human:<name>)


@dataclass(frozen=True, kw_only=True)
class SignedFields:
    """A person's decision: their ed25519 signature over it (events/signing.py); keyword-only like UsageFields."""

    signature: dict[str, Any] | None = None


@dataclass(frozen=True)
class DecisionApproved(_HypFields, SignedFields):
    sha: str | None = None
    evidence_hash: str | None = None
    who: str | None = None
    reason: str | None = None
    flags: list[str] | None = None  # review flags the person confirmed
    overrides: list[dict[str, Any]] | None = None  # flagged changes ({flag, paths}) approved over, with reason


@dataclass(frozen=True)
class DecisionRejected(_HypFields, SignedFields):
    who: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class MergeCompleted(_HypFields, SignedFields):
    sha: str | None = None
    merge_sha: str | None = None
    into: str | None = None
    evidence_hash: str | None = None
    rules_change: list[str] | None = None  # the lab's rules change the person confirmed


@dataclass(frozen=True)
class MergeRefused(_HypFields):
    reason: str | None = None


@dataclass(frozen=True)
class BaselineMoved:
    sha: str
    reason: str | None = None


@dataclass(frozen=True)
class PublishCompleted(SignedFields):
    sha: str  # the approved commit (the audit binds it to the approval)
    evidence_hash: str
    hyp_id: str | None = None
    published_sha: str | None = None  # the commit published: the approved one or the gate's merge of it
    destination: str | None = None  # the Hub repository URL, or the local folder when not uploaded
    load_check: bool | None = None
    path: str | None = None  # the kernel folder (older logs)


DECISION_APPROVED = _declare("decision.approved", DecisionApproved, durable=True, decision=True)
DECISION_REJECTED = _declare("decision.rejected", DecisionRejected, durable=True, decision=True)
MERGE_COMPLETED = _declare("merge.completed", MergeCompleted, durable=True, decision=True)
MERGE_REFUSED = _declare("merge.refused", MergeRefused, decision=True)
BASELINE_MOVED = _declare("baseline.moved", BaselineMoved)
PUBLISH_COMPLETED = _declare("publish.completed", PublishCompleted, durable=True, decision=True)

# --------------------------------------------------------------------------- budget, gpu, reports


@dataclass(frozen=True)
class BudgetSignal:
    scope: str  # session | role
    resource: str  # tokens | usd | gpu_hours
    used: float
    limit: float
    role: str | None = None


@dataclass(frozen=True)
class BudgetExhausted(BudgetSignal):
    """Same fields as the warning; agents are paused."""


@dataclass(frozen=True)
class BudgetResumed(SignedFields):
    who: str | None = None  # a person let paused agents go on


@dataclass(frozen=True)
class GpuSample:
    """Telemetry's own shape (labconsole/gpu): per-GPU dicts, and more keys as the sampler grows."""

    gpus: list[dict[str, Any]]
    available: bool | None = None
    reason: str | None = None
    window: dict[str, Any] | None = None
    node: str | None = None  # the cluster node sampled (a Ray node id); absent: the console's own machine


@dataclass(frozen=True)
class ReportWritten:
    path: str | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class Note:
    text: str  # a free-form console note


@dataclass(frozen=True)
class SealCheckpoint:
    """A signed checkpoint of the chain: event ``seq`` has hash ``head`` (events/seal.py)."""

    seq: int
    head: str
    signature: dict[str, Any]
    reason: str | None = None  # decision | periodic | close


BUDGET_WARNING = _declare("budget.warning", BudgetSignal)
BUDGET_EXHAUSTED = _declare("budget.exhausted", BudgetExhausted)
BUDGET_RESUMED = _declare("budget.resumed", BudgetResumed)
GPU_SAMPLE = _declare("gpu.sample", GpuSample, open=True)
REPORT_WRITTEN = _declare("report.written", ReportWritten)
NOTE = _declare("note", Note)
SEAL_CHECKPOINT = _declare("seal.checkpoint", SealCheckpoint, durable=True)

# --------------------------------------------------------------------------- eval results (<out>/events.jsonl)

# Their fields live in eval_fields.py (this module stays short); the declarations are these lines.
EVAL_STARTED = _declare("eval.started", EvalStarted, logs=(EVAL_LOG,))
EVAL_ATTEMPT_STARTED = _declare("eval.attempt.started", EvalAttemptStarted, logs=(EVAL_LOG,))
EVAL_ATTEMPT = _declare("eval.attempt", EvalAttempt, logs=(EVAL_LOG,))
EVAL_ATTEMPT_INTERRUPTED = _declare("eval.attempt.interrupted", EvalAttemptInterrupted, logs=(EVAL_LOG,))
EVAL_ATTEMPT_TRACKED = _declare("eval.attempt.tracked", EvalAttemptTracked, logs=(EVAL_LOG,))
EVAL_FINISHED = _declare("eval.finished", EvalFinished, logs=(EVAL_LOG,))

# --------------------------------------------------------------------------- derived sets

SESSION_KINDS = KINDS.for_log(SESSION_LOG)
EVAL_KINDS = KINDS.for_log(EVAL_LOG)

# Decisions are fsynced immediately (docs/DESIGN.md §2).
DURABLE_KINDS = frozenset(k for k, s in KINDS.items() if s.durable)

# Decision points, used by replay's {/} jumps.
DECISION_KINDS = frozenset(k for k, s in KINDS.items() if s.decision)


def validate(kind: str, data: dict[str, Any], *, log: str | None = None) -> None:
    """Raise :class:`~labconsole.events.schema.EventSchemaError` unless ``kind`` is declared (for ``log``, if
    given) and ``data`` fits its declaration."""
    check_event(KINDS, kind, data, log=log)


def event(decl: object) -> tuple[str, dict[str, Any]]:
    """``(kind, data)`` from a typed declaration: ``kind, data = event(Note(text="hi"))``, then ``append(kind, actor, data)``."""
    spec: KindSpec = KINDS.spec_of(decl)
    return spec.kind, data_of(decl)
