"""LabState: everything the views show, derived purely from the session log.

The reducer (``labconsole.lab.reducer.reduce``) is the only code that builds
these objects. Views read them and never mutate them; decisions go back as Lab
commands that append events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from labconsole.core import datacodec
from labconsole.core.redact import SECRET_NAME
from labconsole.core.sandbox import BASE_ENV_NAMES, LOCALE_PREFIX
from labconsole.core.stats import NoiseFloor
from labconsole.core.usage import Usage
from labconsole.runs.run_sandbox import SANDBOX_DEGRADED

# Hypothesis statuses, in lifecycle order (docs/DESIGN.md §3).
PROPOSED = "proposed"
QUEUED = "queued"
DUPLICATE = "duplicate"
CLAIMED = "claimed"
IMPLEMENTING = "implementing"
MEASURING = "measuring"
AUTO_REVIEWED = "auto-reviewed"
AWAITING_HUMAN = "awaiting-human"
APPROVED = "approved"
REJECTED = "rejected"
MERGED = "merged"
PUBLISHED = "published"
FAILED = "failed"

# Work the lab can still do without a person; open = not yet final (a person may still act on it).
ACTIVE_STATUSES = frozenset({PROPOSED, QUEUED, CLAIMED, IMPLEMENTING, MEASURING, AUTO_REVIEWED})
OPEN_STATUSES = ACTIVE_STATUSES | {AWAITING_HUMAN, APPROVED}


@dataclass
class AgentState:
    agent_id: str
    role: str
    backend: str
    model: str = ""
    pid: int | None = None
    # starting | working | waiting | idle | paused | crashed | hung | stopped
    state: str = "starting"
    hypothesis: str | None = None
    detail: str = ""
    restarts: int = 0
    last_seen: float = 0.0
    usage: Usage = field(default_factory=Usage)
    log_lines: int = 0
    raw_lines: int = 0
    dropped_lines: int = 0
    last_error: str = ""


@dataclass
class RunState:
    run_id: str
    hyp_id: str | None
    role: str  # candidate | baseline
    commit: str
    repeat: int
    command: str = ""
    started: float = 0.0
    status: str = "running"  # running | ok | failed | timeout | crashed | invalid
    metric: float | None = None
    returncode: int | None = None
    duration_s: float | None = None
    log_blob: str | None = None
    error: str = ""
    gpus: list[int] = field(default_factory=list)
    gpu_wait_s: float = 0.0  # queued for a GPU lease
    gpu_idle_before_s: float = 0.0  # the leased GPUs sat idle this long before this run
    sandbox: str = ""  # bwrap | degraded (ran without a sandbox) | "" (logged before runs were sandboxed)
    env_names: list[str] = field(default_factory=list)  # variables it got from the console's environment
    executor: str = "local"  # local | ray | hf-jobs
    where: str = ""  # a remote run's node or job ("ray:10.0.0.5/ab12…", "hf-jobs:<id>")
    log_tail: list[str] = field(default_factory=list)  # its last run.log lines while it streams

    @property
    def degraded(self) -> bool:
        return self.sandbox == SANDBOX_DEGRADED

    @property
    def lab_env(self) -> list[str]:
        """The names the run got only because the lab named them (``[objective] env``): the rest is the
        allow-list every run gets."""
        return [n for n in self.env_names if n not in BASE_ENV_NAMES and not n.startswith(LOCALE_PREFIX)]


@dataclass
class SandboxInfo:
    """The session's ``sandbox.status``: whether its runs are contained, and what the lab let in by name."""

    mode: str  # bwrap | degraded
    reason: str = ""
    network: bool = False
    env: list[str] = field(default_factory=list)
    read_paths: list[str] = field(default_factory=list)
    memory_mb: int = 0
    max_processes: int = 0

    @classmethod
    def of_event(cls, d: dict[str, Any]) -> SandboxInfo:
        """From a ``sandbox.status`` event's data (an older log may lack any field)."""
        return cls(
            str(d.get("mode", "")),
            str(d.get("reason") or ""),
            bool(d.get("network")),
            [str(n) for n in d.get("env") or []],
            [str(p) for p in d.get("read_paths") or []],
            int(d.get("memory_mb") or 0),
            int(d.get("max_processes") or 0),
        )

    @property
    def degraded(self) -> bool:
        return self.mode == SANDBOX_DEGRADED

    def line(self) -> str:
        """The one line a person reads at session start, in review and in the report."""
        if self.degraded:
            return f"sandbox: degraded — runs and agent commands are not contained: {self.reason or 'no reason logged'}"
        # What the lab opened on purpose is spelled out: network and secret-looking names above all.
        env = [f"{n} (secret-looking)" if SECRET_NAME.search(n) else n for n in self.env]
        parts = [
            "network ON (network = true)" if self.network else "no network",
            f"env by name: {', '.join(env)}" if env else "no env beyond the allow-list",
        ]
        if self.read_paths:
            parts.append(f"read-only: {', '.join(self.read_paths)}")
        if self.memory_mb:
            parts.append(f"memory {self.memory_mb} MB")
        if self.max_processes:
            parts.append(f"at most {self.max_processes} processes")
        return f"sandbox: {self.mode} ({'; '.join(parts)})"


@dataclass
class Review:
    reviewer: str
    verdict: str  # pass | flag | reject
    reasons: list[str] = field(default_factory=list)
    ts: float = 0.0


@dataclass
class Decision:
    kind: str  # approved | rejected
    who: str
    reason: str
    ts: float
    sha: str | None = None
    evidence_hash: str | None = None
    seq: int = 0
    overrides: list[str] = field(default_factory=list)  # flagged changes the person approved over


@dataclass
class HypothesisState:
    hyp_id: str
    title: str
    params: dict[str, Any]
    rationale: str = ""
    source: str = ""
    proposer: str = ""
    status: str = PROPOSED
    priority: float = 0.0
    duplicate_of: str | None = None
    similarity: float | None = None
    agent_id: str | None = None
    branch: str | None = None
    worktree: str | None = None
    base_sha: str | None = None
    sha: str | None = None
    diff_blob: str | None = None
    files: list[str] = field(default_factory=list)
    additions: int = 0
    deletions: int = 0
    run_ids: list[str] = field(default_factory=list)
    evidence_hash: str | None = None
    evidence_blob: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)  # the evidence summary
    # The last evidence.confirmed: a fresh re-measure against main before it is labelled the session's best.
    confirmation: dict[str, Any] = field(default_factory=dict)
    reviews: list[Review] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    merge_sha: str | None = None
    failure: str = ""
    proposed_ts: float = 0.0
    updated_ts: float = 0.0
    archived_ref: str | None = None

    @property
    def approval(self) -> Decision | None:
        for d in reversed(self.decisions):
            if d.kind == "approved":
                return d
        return None


@dataclass
class BudgetState:
    limits: dict[str, float] = field(default_factory=dict)  # session: tokens / usd / gpu_hours
    role_limits: dict[str, dict[str, float]] = field(default_factory=dict)
    used: dict[str, float] = field(default_factory=lambda: {"tokens": 0.0, "usd": 0.0, "gpu_hours": 0.0})
    role_used: dict[str, dict[str, float]] = field(default_factory=dict)
    # Signals already logged, as (scope, role, resource, level) — labconsole.agents.budget's keys.
    signalled: set[tuple[str, str | None, str, str]] = field(default_factory=set)
    paused: bool = False  # agents paused for budget until a person resumes them

    def _labels(self, level: str) -> set[str]:
        # "session:usd" or "role worker:tokens": short names for the views
        return {
            f"{f'role {role}' if role else scope}:{resource}"
            for scope, role, resource, lvl in self.signalled
            if lvl == level
        }

    @property
    def warned(self) -> set[str]:
        return self._labels("warning")

    @property
    def exhausted(self) -> set[str]:
        return self._labels("exhausted")

    def limits_for_check(self) -> dict[str, Any]:
        return {**self.limits, "roles": self.role_limits}

    def used_for_check(self) -> dict[str, Any]:
        return {**self.used, "roles": self.role_used}

    def fraction(self, resource: str) -> float | None:
        limit = self.limits.get(resource)
        if not limit:
            return None
        return self.used.get(resource, 0.0) / limit


@dataclass
class FeedItem:
    seq: int
    ts: float
    kind: str
    actor: str
    text: str


@dataclass
class LabState:
    session_id: str = ""
    lab_name: str = ""
    lab_root: str = ""
    objective: dict[str, Any] = field(default_factory=dict)  # name, direction, ...
    baseline_sha: str | None = None
    hyp_offset: int = 0  # hypotheses numbered in earlier sessions of the lab
    started_ts: float = 0.0
    stopped: bool = False
    last_seq: int = -1
    last_ts: float = 0.0
    agents: dict[str, AgentState] = field(default_factory=dict)
    hypotheses: dict[str, HypothesisState] = field(default_factory=dict)
    runs: dict[str, RunState] = field(default_factory=dict)
    budget: BudgetState = field(default_factory=BudgetState)
    # (ts, best metric so far) each time the best improved: the overview's sparkline.
    best_history: list[tuple[float, float]] = field(default_factory=list)
    baseline_metric: float | None = None
    # Run-to-run noise from every measurement's baseline repeats, in log order (rebuilt on resume by replay).
    noise_floor: NoiseFloor = field(default_factory=NoiseFloor)
    gpu_samples: list[dict[str, Any]] = field(default_factory=list)  # last N gpu.sample payloads
    feed: list[FeedItem] = field(default_factory=list)  # the last FEED_MAX events, rendered
    repairs: int = 0
    reports: list[str] = field(default_factory=list)
    report_ts: float | None = None  # when the newest report was written
    # What changed in lab.toml since the lab's previous session (empty: the same rules, or the first session).
    rules_changed: list[str] = field(default_factory=list)
    rules_changed_since: str = ""
    sandbox: SandboxInfo | None = None  # None: the log has no sandbox.status (a session from before them)

    def runs_without_sandbox(self, run_ids: list[str] | None = None) -> list[RunState]:
        """Runs (of ``run_ids``, else all) that ran without a sandbox: their numbers are not contained."""
        runs = self.runs.values() if run_ids is None else [self.runs[r] for r in run_ids if r in self.runs]
        return [r for r in runs if r.degraded]

    def to_data(self) -> dict[str, Any]:
        """Plain JSON data (replay snapshots): every field, typed by its declaration."""
        data: dict[str, Any] = datacodec.to_data(self)
        return data

    @classmethod
    def from_data(cls, data: Any) -> LabState:
        """The state ``to_data`` wrote; raises ``datacodec.DataError`` on anything else (it is never code)."""
        return datacodec.from_data(cls, data)

    def awaiting_review(self) -> list[HypothesisState]:
        return [h for h in self.hypotheses.values() if h.status == AWAITING_HUMAN]

    def report_is_current(self) -> bool:
        """A report exists and no hypothesis changed after it."""
        if self.report_ts is None:
            return False
        return all(h.updated_ts <= self.report_ts for h in self.hypotheses.values())

    def gpu_idle_seconds(self) -> float:
        """GPU time lost between leased runs (the scheduler's gaps), summed over runs."""
        return sum(r.gpu_idle_before_s for r in self.runs.values())

    def awaiting_review_ids(self) -> list[str]:
        return [h.hyp_id for h in self.awaiting_review()]

    def leaderboard(self) -> list[HypothesisState]:
        """Hypotheses with a measured median, best first for the objective's direction."""
        measured = [h for h in self.hypotheses.values() if h.evidence.get("candidate_median") is not None]
        reverse = self.objective.get("direction") == "maximize"
        return sorted(measured, key=lambda h: h.evidence["candidate_median"], reverse=reverse)


def next_hyp_id(state: LabState) -> str:
    # Numbered after every hypothesis of earlier sessions of this lab, so branch lab/<id> is never reused.
    return f"h{state.hyp_offset + len(state.hypotheses) + 1:03d}"
