"""Every event kind a log may hold, declared once: its ``data`` fields with their types, and its version.

The log line is ``{seq, ts, kind, actor, data, prev, hash}``. ``actor`` is
``console``, ``human:<name>``, or ``agent:<agent-id>``. Only the console
writes; ``human:`` actors come from keyboard/CLI decisions.

Each kind's ``data`` is a JSON object, declared as a TypedDict: a key is required
unless marked ``NotRequired`` (old logs lack those; :func:`event` leaves one out when
given None). The TypedDict is registered in :data:`KINDS` with
:func:`~labconsole.events.schema.KindTable.declare`, which returns the kind string kept
as the module constant (``K.HYP_PROPOSED``). Field groups (``_HypFields``,
``SignedFields`` …) are TypedDicts a kind inherits: the wire has their keys by name.
``open=True`` marks kinds whose data carries an agent's protocol message as it came, so
extra keys are allowed there. To add a kind: declare it here; the writer refuses anything else.
"""

# Annotations stay evaluated (no __future__ import), as in agent_fields.py: TypedDict needs them to see NotRequired.
from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict

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
from labconsole.events.schema import EVAL_LOG, SESSION_LOG, KindTable, check_event, data_of

KINDS = KindTable()
_declare = KINDS.declare

# --------------------------------------------------------------------------- session


class SessionStarted(TypedDict):
    session_id: NotRequired[str]
    lab: NotRequired[str]
    lab_root: NotRequired[str]
    baseline_sha: NotRequired[str]
    main_branch: NotRequired[str]
    config_sha256: NotRequired[str]
    config: NotRequired[dict[str, Any]]
    objective: NotRequired[dict[str, Any]]
    budget: NotRequired[dict[str, Any]]
    pid: NotRequired[int]
    host: NotRequired[str]
    hyp_offset: NotRequired[int]
    signing_key: NotRequired[str]  # the starting person's ed25519 public key (hex): the session is sealed
    warnings: NotRequired[list[str]]  # lab.toml patterns that match no file in main
    # {since_session, previous_sha256, changes: ["metric val_loss → train_loss", …]} when lab.toml changed
    rules_changed: NotRequired[dict[str, Any]]
    # {path, commit, sha256, bytes}: the workers' instructions ([lab] instructions) read at baseline_sha; the
    # text is the session blob named by sha256
    instructions: NotRequired[dict[str, Any]]


class SessionResumed(TypedDict):
    pid: NotRequired[int]
    last_seq: NotRequired[int]
    config_sha256: NotRequired[str]


class SessionStopped(TypedDict):
    reason: NotRequired[str]


class LogRepaired(TypedDict):
    cut_bytes: NotRequired[int]
    offset: NotRequired[int]
    reason: NotRequired[str]


# --------------------------------------------------------------------------- agents

# Their fields live in agent_fields.py (this module stays short); declared in the table below.


# --------------------------------------------------------------------------- hypotheses


class _HypFields(TypedDict):
    """What every kind about one hypothesis carries first (the kinds that inherit it)."""

    hyp_id: str


class HypProposed(_HypFields):
    title: NotRequired[str]
    params: NotRequired[dict[str, Any]]
    rationale: NotRequired[str]
    source: NotRequired[str]
    proposer: NotRequired[str]
    priority: NotRequired[float]
    evidence: NotRequired[Any]
    evidence_blob: NotRequired[str]


class HypQueued(_HypFields):
    priority: NotRequired[float]


class HypDuplicate(_HypFields):
    of: NotRequired[str]
    similarity: NotRequired[float]


class HypClaimed(_HypFields):
    agent_id: NotRequired[str]


class WorktreeCreated(_HypFields):
    path: NotRequired[str]
    branch: NotRequired[str]
    base_sha: NotRequired[str]


class HypCommitted(_HypFields):
    sha: NotRequired[str]
    branch: NotRequired[str]
    base_sha: NotRequired[str]
    message: NotRequired[str]
    diff_blob: NotRequired[str]
    files: NotRequired[list[str]]
    additions: NotRequired[int]
    deletions: NotRequired[int]


class HypFailed(_HypFields):
    step: NotRequired[str]
    reason: NotRequired[str]
    log_blob: NotRequired[str]


class WorktreeArchived(_HypFields):
    ref: NotRequired[str]
    sha: NotRequired[str]
    reason: NotRequired[str]


class WorktreeRemoved(_HypFields):
    path: NotRequired[str]


# --------------------------------------------------------------------------- measurement


class _RunFields(TypedDict):
    """What every run.* kind carries first: the run, and the hypothesis it measures (None: a baseline's)."""

    run_id: str
    hyp_id: NotRequired[str]


class RunStarted(_RunFields):
    role: NotRequired[str]  # candidate | baseline
    commit: NotRequired[str]
    repeat: NotRequired[int]
    command: NotRequired[str]
    gpus: NotRequired[list[int]]
    gpu_wait_s: NotRequired[float]
    gpu_idle_before_s: NotRequired[float]
    sandbox: NotRequired[str]  # bwrap | degraded (ran without a sandbox)
    env_names: NotRequired[list[str]]  # variables the run got from the console's environment, by name
    executor: NotRequired[str]  # local (absent in older logs) | ray | hf-jobs
    requeue_of: NotRequired[str]  # the run whose node was lost; re-queued once under this run id


class RunFinished(_RunFields):
    status: NotRequired[str]  # ok | failed | timeout | crashed | invalid
    metric: NotRequired[float]
    returncode: NotRequired[int]
    duration_s: NotRequired[float]
    log_blob: NotRequired[str]
    error: NotRequired[str]
    artifacts: NotRequired[dict[str, str]]  # file name -> blob
    sandbox: NotRequired[str]  # bwrap | degraded
    where: NotRequired[str]  # a remote run's node ("ray:10.0.0.5/ab12…") or job ("hf-jobs:<id>")
    peak_gpu_mem_mb: NotRequired[float]  # the most GPU memory the run used (MiB), None: not measured
    peak_gpu_mem_from: NotRequired[str]  # telemetry (the console's samples) | output (its peak_vram_mb: line)


class RunLog(_RunFields):
    """A line a run printed while in flight (runs/run_log.py: redacted, cut, rate-limited; the blob has all)."""

    stream: NotRequired[str]  # stdout | stderr | console (a closing count of dropped lines)
    text: NotRequired[str]
    truncated: NotRequired[bool]
    dropped: NotRequired[int]  # lines of this run dropped under a flood just before this one


class SandboxStatus(TypedDict):
    """Whether this session's runs are sandboxed (logged at session start), and what the lab let in by name."""

    mode: str  # bwrap | degraded
    reason: NotRequired[str]  # why degraded, in one line
    network: NotRequired[bool]
    env: NotRequired[list[str]]  # [objective] env: names passed, secret-looking ones included
    read_paths: NotRequired[list[str]]
    memory_mb: NotRequired[int]
    max_processes: NotRequired[int]


class EvidenceRecorded(_HypFields):
    evidence_hash: NotRequired[str]
    blob: NotRequired[str]
    summary: NotRequired[dict[str, Any]]


class EvidenceConfirmed(_HypFields):
    """The fresh re-measure of a candidate about to be shown as the session's best, against the current main.

    Picking the best of many inflates its measured effect; this independent measurement decides its label
    (core/stats.py ``confirm``). Its runs are ordinary run.started/run.finished of the same hypothesis.
    """

    sha: NotRequired[str]  # the candidate commit re-measured
    main_sha: NotRequired[str]  # the baseline it ran against: main's head when the re-measure began
    evidence_hash: NotRequired[str]  # the evidence whose decision this confirms
    label: NotRequired[str]  # improved | no evidence | worse | inconclusive
    summary: NotRequired[dict[str, Any]]  # the fresh measurement's gate fields and its metric rows


class ReviewVerdict(_HypFields):
    reviewer: NotRequired[str]
    verdict: NotRequired[str]  # pass | flag | reject
    reasons: NotRequired[list[str]]


class HypAwaiting(_HypFields):
    """The hypothesis waits for the person's decision."""


# --------------------------------------------------------------------------- decisions (actor = human:<name>)


class SignedFields(TypedDict):
    """A person's decision: their ed25519 signature over it (events/signing.py); a field group like UsageFields."""

    signature: NotRequired[dict[str, Any]]


class DecisionApproved(_HypFields, SignedFields):
    sha: NotRequired[str]
    evidence_hash: NotRequired[str]
    who: NotRequired[str]
    reason: NotRequired[str]
    flags: NotRequired[list[str]]  # review flags the person confirmed
    overrides: NotRequired[list[dict[str, Any]]]  # flagged changes ({flag, paths}) approved over, with reason


class DecisionRejected(_HypFields, SignedFields):
    who: NotRequired[str]
    reason: NotRequired[str]


class MergeCompleted(_HypFields, SignedFields):
    sha: NotRequired[str]
    merge_sha: NotRequired[str]
    into: NotRequired[str]
    evidence_hash: NotRequired[str]
    rules_change: NotRequired[list[str]]  # the lab's rules change the person confirmed


class MergeRefused(_HypFields):
    reason: NotRequired[str]


class BaselineMoved(TypedDict):
    sha: str
    reason: NotRequired[str]


class PublishCompleted(SignedFields):
    sha: str  # the approved commit (the audit binds it to the approval)
    evidence_hash: str
    hyp_id: NotRequired[str]
    published_sha: NotRequired[str]  # the commit published: the approved one or the gate's merge of it
    destination: NotRequired[str]  # the Hub repository URL, or the local folder when not uploaded
    load_check: NotRequired[bool]
    path: NotRequired[str]  # the kernel folder (older logs)


# --------------------------------------------------------------------------- budget, gpu, reports


class BudgetSignal(TypedDict):
    scope: str  # session | role
    resource: str  # tokens | usd | gpu_hours
    used: float
    limit: float
    role: NotRequired[str]


class BudgetExhausted(BudgetSignal):
    """Same fields as the warning; agents are paused."""


class BudgetResumed(SignedFields):
    who: NotRequired[str]  # a person let paused agents go on


class GpuSample(TypedDict):
    """Telemetry's own shape (labconsole/gpu): per-GPU dicts, and more keys as the sampler grows."""

    gpus: list[dict[str, Any]]
    available: NotRequired[bool]
    reason: NotRequired[str]
    window: NotRequired[dict[str, Any]]
    node: NotRequired[str]  # the cluster node sampled (a Ray node id); absent: the console's own machine


class ReportWritten(TypedDict):
    path: NotRequired[str]
    sha256: NotRequired[str]


class Note(TypedDict):
    text: str  # a free-form console note


class SealCheckpoint(TypedDict):
    """A signed checkpoint of the chain: event ``seq`` has hash ``head`` (events/seal.py)."""

    seq: int
    head: str
    signature: dict[str, Any]
    reason: NotRequired[str]  # decision | periodic | close


# --------------------------------------------------------------------------- eval results (<out>/events.jsonl)

# Their fields live in eval_fields.py (this module stays short); declared in the table below.


# --------------------------------------------------------------------------- the table
# Every kind: its string (kept as the module constant), its fields, and the flags that are not the default.

# session
SESSION_STARTED = _declare("session.started", SessionStarted, durable=True)
SESSION_RESUMED = _declare("session.resumed", SessionResumed)
SESSION_STOPPED = _declare("session.stopped", SessionStopped, durable=True)
# The writer itself logs a repair, in whichever log it repaired.
LOG_REPAIRED = _declare("log.repaired", LogRepaired, durable=True, logs=(SESSION_LOG, EVAL_LOG))

# agents
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

# hypotheses
HYP_PROPOSED = _declare("hypothesis.proposed", HypProposed)
HYP_QUEUED = _declare("hypothesis.queued", HypQueued)
HYP_DUPLICATE = _declare("hypothesis.duplicate", HypDuplicate)
HYP_CLAIMED = _declare("hypothesis.claimed", HypClaimed)
WORKTREE_CREATED = _declare("worktree.created", WorktreeCreated)
HYP_COMMITTED = _declare("hypothesis.committed", HypCommitted)
HYP_FAILED = _declare("hypothesis.failed", HypFailed)
WORKTREE_ARCHIVED = _declare("worktree.archived", WorktreeArchived)
WORKTREE_REMOVED = _declare("worktree.removed", WorktreeRemoved)

# measurement
RUN_STARTED = _declare("run.started", RunStarted)
RUN_FINISHED = _declare("run.finished", RunFinished)
RUN_LOG = _declare("run.log", RunLog)
SANDBOX_STATUS = _declare("sandbox.status", SandboxStatus)
EVIDENCE_RECORDED = _declare("evidence.recorded", EvidenceRecorded)
EVIDENCE_CONFIRMED = _declare("evidence.confirmed", EvidenceConfirmed, decision=True)
REVIEW_VERDICT = _declare("review.verdict", ReviewVerdict, decision=True)
HYP_AWAITING = _declare("hypothesis.awaiting_human", HypAwaiting, decision=True)

# decisions (actor = human:<name>)
DECISION_APPROVED = _declare("decision.approved", DecisionApproved, durable=True, decision=True)
DECISION_REJECTED = _declare("decision.rejected", DecisionRejected, durable=True, decision=True)
MERGE_COMPLETED = _declare("merge.completed", MergeCompleted, durable=True, decision=True)
MERGE_REFUSED = _declare("merge.refused", MergeRefused, decision=True)
BASELINE_MOVED = _declare("baseline.moved", BaselineMoved)
PUBLISH_COMPLETED = _declare("publish.completed", PublishCompleted, durable=True, decision=True)

# budget, gpu, reports
BUDGET_WARNING = _declare("budget.warning", BudgetSignal)
BUDGET_EXHAUSTED = _declare("budget.exhausted", BudgetExhausted)
BUDGET_RESUMED = _declare("budget.resumed", BudgetResumed)
GPU_SAMPLE = _declare("gpu.sample", GpuSample, open=True)
REPORT_WRITTEN = _declare("report.written", ReportWritten)
NOTE = _declare("note", Note)
SEAL_CHECKPOINT = _declare("seal.checkpoint", SealCheckpoint, durable=True)

# eval results (the eval log)
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


def event(kind: str, fields: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """``(kind, data)`` from a kind's typed fields, checked now: ``kind, data = event(NOTE, Note(text="hi"))``, then
    ``append(kind, actor, data)``. Optional keys given as None are left out, as old writers did."""
    check_event(KINDS, kind, fields, log=None)
    return kind, data_of(KINDS[kind], fields)
