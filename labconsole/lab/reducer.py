"""The reducer: session-log events → LabState.

``apply(state, event)`` folds one event into a state owned by the caller;
``reduce(events)`` builds a fresh state from a whole log. State depends only on
the log, so live sessions and replays run the same code. Unknown kinds are
ignored (forward compatible) but still show in the feed.
"""

from __future__ import annotations

from typing import Any
from collections.abc import Callable, Iterable

from labconsole.events import kinds as K
from labconsole.lab import state as S
from labconsole.lab.evidence import baseline_groups_of_rows
from labconsole.core.usage import Usage
from labconsole.lab.feed_text import describe
from labconsole.lab.state import (
    AgentState,
    Decision,
    FeedItem,
    HypothesisState,
    LabState,
    Review,
    RunState,
    SandboxInfo,
)

FEED_MAX = 300
GPU_HISTORY_MAX = 120
RUN_LOG_TAIL = 50  # a run's last lines kept in state; the whole output is its log blob

Handler = Callable[[LabState, Any, dict[str, Any]], None]
_HANDLERS: dict[str, Handler] = {}


def _on(kind: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        _HANDLERS[kind] = fn
        return fn

    return register


def apply(state: LabState, event: Any) -> None:
    """Fold ``event`` (anything with seq, ts, kind, actor, data) into ``state``."""
    state.last_seq = event.seq
    state.last_ts = event.ts
    handler = _HANDLERS.get(event.kind)
    if handler is not None:
        handler(state, event, event.data)
    if event.kind not in _QUIET:
        state.feed.append(FeedItem(event.seq, event.ts, event.kind, event.actor, describe(event)))
        if len(state.feed) > FEED_MAX:
            del state.feed[: len(state.feed) - FEED_MAX]


def reduce(events: Iterable[Any], state: LabState | None = None) -> LabState:
    state = state or LabState()
    for event in events:
        apply(state, event)
    return state


# High-rate kinds stay out of the feed (their effect shows in the panels).
# Seal checkpoints are bookkeeping for the audit (every 1000 events, 30 s and at close), not news for the person.
_QUIET = frozenset({K.GPU_SAMPLE, K.AGENT_USAGE, K.AGENT_RAW, K.AGENT_LOG, K.AGENT_HELLO, K.SEAL_CHECKPOINT, K.RUN_LOG})


# --- session ----------------------------------------------------------------------------------------


@_on(K.SESSION_STARTED)
def _session_started(s: LabState, e: Any, d: dict[str, Any]) -> None:
    s.session_id = d.get("session_id", s.session_id)
    s.lab_name = d.get("lab", "")
    s.lab_root = d.get("lab_root", "")
    s.baseline_sha = d.get("baseline_sha")
    s.hyp_offset = int(d.get("hyp_offset", 0))
    s.started_ts = e.ts
    s.objective = dict(d.get("objective", {}))
    changed = d.get("rules_changed") or {}
    s.rules_changed, s.rules_changed_since = list(changed.get("changes") or []), str(changed.get("since_session") or "")
    budget = d.get("budget", {})
    s.budget.limits = {k: float(v) for k, v in budget.items() if k != "roles" and v}
    s.budget.role_limits = {r: {k: float(v) for k, v in lim.items() if v} for r, lim in budget.get("roles", {}).items()}
    s.stopped = False


@_on(K.SESSION_RESUMED)
def _session_resumed(s: LabState, e: Any, d: dict[str, Any]) -> None:
    s.stopped = False


@_on(K.SESSION_STOPPED)
def _session_stopped(s: LabState, e: Any, d: dict[str, Any]) -> None:
    s.stopped = True
    for agent in s.agents.values():
        if agent.state not in ("crashed",):
            agent.state = "stopped"


@_on(K.LOG_REPAIRED)
def _log_repaired(s: LabState, e: Any, d: dict[str, Any]) -> None:
    s.repairs += 1


@_on(K.BASELINE_MOVED)
def _baseline_moved(s: LabState, e: Any, d: dict[str, Any]) -> None:
    s.baseline_sha = d["sha"]


# --- agents -----------------------------------------------------------------------------------------


def _agent(s: LabState, d: dict[str, Any]) -> AgentState:
    agent_id = d["agent_id"]
    agent = s.agents.get(agent_id)
    if agent is None:
        agent = s.agents[agent_id] = AgentState(agent_id, d.get("role", agent_id.split("-")[0]), d.get("backend", ""))
    return agent


@_on(K.AGENT_STARTED)
def _agent_started(s: LabState, e: Any, d: dict[str, Any]) -> None:
    a = _agent(s, d)
    a.role, a.backend, a.model = d.get("role", a.role), d.get("backend", a.backend), d.get("model", a.model)
    a.pid = d.get("pid")
    a.state = "starting"
    a.last_seen = e.ts
    if d.get("attempt", 0) > 0:
        a.restarts = d["attempt"]


@_on(K.AGENT_HELLO)
def _agent_hello(s: LabState, e: Any, d: dict[str, Any]) -> None:
    a = _agent(s, d)
    a.state = "idle"
    a.model = d.get("model") or a.model
    a.last_seen = e.ts


@_on(K.AGENT_STATUS)
def _agent_status(s: LabState, e: Any, d: dict[str, Any]) -> None:
    a = _agent(s, d)
    a.state = d.get("state", a.state)
    a.hypothesis = d.get("hypothesis") or (a.hypothesis if a.state == "working" else None)
    a.detail = d.get("detail", "") or ""
    a.last_seen = e.ts


@_on(K.AGENT_LOG)
def _agent_log(s: LabState, e: Any, d: dict[str, Any]) -> None:
    a = _agent(s, d)
    a.log_lines += 1
    a.last_seen = e.ts
    if d.get("level") == "error":
        a.last_error = str(d.get("text", ""))[:200]


@_on(K.AGENT_RAW)
def _agent_raw(s: LabState, e: Any, d: dict[str, Any]) -> None:
    a = _agent(s, d)
    a.raw_lines += 1
    a.last_seen = e.ts


@_on(K.AGENT_DROPPED)
def _agent_dropped(s: LabState, e: Any, d: dict[str, Any]) -> None:
    _agent(s, d).dropped_lines += int(d.get("count", 0))


@_on(K.AGENT_TOOL_CALL)
def _agent_tool_call(s: LabState, e: Any, d: dict[str, Any]) -> None:
    _agent(s, d).usage.tool_calls += 1


@_on(K.AGENT_USAGE)
def _agent_usage(s: LabState, e: Any, d: dict[str, Any]) -> None:
    u: Usage = _agent(s, d).usage
    u.input_tokens += int(d.get("input_tokens", 0))
    u.output_tokens += int(d.get("output_tokens", 0))
    u.cached_tokens += int(d.get("cached_tokens", 0))
    u.cost_usd += float(d.get("cost_usd", 0.0))
    u.repair_attempts += int(d.get("repair_attempts", 0))
    tokens = int(d.get("input_tokens", 0)) + int(d.get("output_tokens", 0))
    cost = float(d.get("cost_usd", 0.0))
    s.budget.used["tokens"] += tokens
    s.budget.used["usd"] += cost
    role = d.get("role") or s.agents[d["agent_id"]].role
    per_role = s.budget.role_used.setdefault(role, {"tokens": 0.0, "usd": 0.0, "gpu_hours": 0.0})
    per_role["tokens"] += tokens
    per_role["usd"] += cost


@_on(K.AGENT_ERROR)
def _agent_error(s: LabState, e: Any, d: dict[str, Any]) -> None:
    _agent(s, d).last_error = str(d.get("message", ""))[:200]


@_on(K.AGENT_EXITED)
def _agent_exited(s: LabState, e: Any, d: dict[str, Any]) -> None:
    a = _agent(s, d)
    reason = d.get("reason", "crashed")
    a.state = {"hung": "hung", "crashed": "crashed"}.get(reason, "stopped")
    a.pid = None
    a.last_seen = e.ts
    if reason in ("crashed", "hung"):
        a.last_error = d.get("detail", reason)


@_on(K.AGENT_RESTARTING)
def _agent_restarting(s: LabState, e: Any, d: dict[str, Any]) -> None:
    a = _agent(s, d)
    a.state = "restarting"
    a.restarts = int(d.get("attempt", a.restarts + 1))


@_on(K.AGENT_CONTROL)
def _agent_control(s: LabState, e: Any, d: dict[str, Any]) -> None:
    a = _agent(s, d)
    if d.get("action") == "pause":
        a.state = "paused"


# --- hypotheses -------------------------------------------------------------------------------------


def _hyp(s: LabState, d: dict[str, Any], ts: float) -> HypothesisState:
    h = s.hypotheses[d["hyp_id"]]
    h.updated_ts = ts
    return h


@_on(K.HYP_PROPOSED)
def _hyp_proposed(s: LabState, e: Any, d: dict[str, Any]) -> None:
    s.hypotheses[d["hyp_id"]] = HypothesisState(
        hyp_id=d["hyp_id"],
        title=d.get("title", ""),
        params=dict(d.get("params", {})),
        rationale=d.get("rationale", ""),
        source=d.get("source", ""),
        proposer=d.get("proposer", e.actor),
        priority=float(d.get("priority") or 0.0),
        proposed_ts=e.ts,
        updated_ts=e.ts,
        evidence_blob=d.get("evidence_blob"),
    )


@_on(K.HYP_QUEUED)
def _hyp_queued(s: LabState, e: Any, d: dict[str, Any]) -> None:
    h = _hyp(s, d, e.ts)
    h.status = S.QUEUED
    h.priority = float(d.get("priority") or h.priority)


@_on(K.HYP_DUPLICATE)
def _hyp_duplicate(s: LabState, e: Any, d: dict[str, Any]) -> None:
    h = _hyp(s, d, e.ts)
    h.status, h.duplicate_of, h.similarity = S.DUPLICATE, d.get("of"), d.get("similarity")


@_on(K.HYP_CLAIMED)
def _hyp_claimed(s: LabState, e: Any, d: dict[str, Any]) -> None:
    h = _hyp(s, d, e.ts)
    h.status, h.agent_id = S.CLAIMED, d.get("agent_id")


@_on(K.WORKTREE_CREATED)
def _worktree_created(s: LabState, e: Any, d: dict[str, Any]) -> None:
    h = _hyp(s, d, e.ts)
    h.status, h.worktree, h.branch, h.base_sha = S.IMPLEMENTING, d.get("path"), d.get("branch"), d.get("base_sha")


@_on(K.HYP_COMMITTED)
def _hyp_committed(s: LabState, e: Any, d: dict[str, Any]) -> None:
    h = _hyp(s, d, e.ts)
    h.status = S.MEASURING
    h.sha, h.diff_blob = d.get("sha"), d.get("diff_blob")
    h.files = list(d.get("files", []))
    h.additions, h.deletions = int(d.get("additions", 0)), int(d.get("deletions", 0))
    h.branch = d.get("branch", h.branch)
    h.base_sha = d.get("base_sha") or h.base_sha


@_on(K.HYP_FAILED)
def _hyp_failed(s: LabState, e: Any, d: dict[str, Any]) -> None:
    h = _hyp(s, d, e.ts)
    h.status, h.failure = S.FAILED, f"{d.get('step', '')}: {d.get('reason', '')}".strip(": ")


@_on(K.WORKTREE_ARCHIVED)
def _worktree_archived(s: LabState, e: Any, d: dict[str, Any]) -> None:
    if d.get("hyp_id") in s.hypotheses:
        _hyp(s, d, e.ts).archived_ref = d.get("ref")


@_on(K.WORKTREE_REMOVED)
def _worktree_removed(s: LabState, e: Any, d: dict[str, Any]) -> None:
    if d.get("hyp_id") in s.hypotheses:
        _hyp(s, d, e.ts).worktree = None


# --- runs and evidence ------------------------------------------------------------------------------


@_on(K.RUN_STARTED)
def _run_started(s: LabState, e: Any, d: dict[str, Any]) -> None:
    run = RunState(
        d["run_id"],
        d.get("hyp_id"),
        d.get("role", "candidate"),
        d.get("commit", ""),
        int(d.get("repeat", 0)),
        d.get("command", ""),
        e.ts,
        gpus=list(d.get("gpus", [])),
        gpu_wait_s=float(d.get("gpu_wait_s", 0.0)),
        gpu_idle_before_s=float(d.get("gpu_idle_before_s", 0.0)),
        sandbox=str(d.get("sandbox") or ""),
        env_names=[str(n) for n in d.get("env_names") or []],
        executor=d.get("executor") or "local",
    )
    s.runs[run.run_id] = run
    if run.hyp_id in s.hypotheses:
        h = s.hypotheses[run.hyp_id]
        h.run_ids.append(run.run_id)
        if h.status in (S.IMPLEMENTING, S.CLAIMED):
            h.status = S.MEASURING


@_on(K.RUN_FINISHED)
def _run_finished(s: LabState, e: Any, d: dict[str, Any]) -> None:
    run = s.runs.get(d["run_id"])
    if run is None:
        return
    run.status = d.get("status", "failed")
    run.metric = d.get("metric")
    run.returncode = d.get("returncode")
    run.duration_s = d.get("duration_s")
    run.log_blob = d.get("log_blob")
    run.error = d.get("error", "") or ""
    run.sandbox = str(d.get("sandbox") or run.sandbox)
    run.where = d.get("where") or ""
    if run.duration_s and run.gpus:
        s.budget.used["gpu_hours"] += run.duration_s * len(run.gpus) / 3600.0


@_on(K.RUN_LOG)
def _run_log(s: LabState, e: Any, d: dict[str, Any]) -> None:
    run = s.runs.get(d["run_id"])
    if run is None:
        return
    if d.get("dropped"):
        run.log_tail.append(f"[{d['dropped']} lines dropped]")
    if d.get("text") or d.get("stream") != "console":
        run.log_tail.append(str(d.get("text") or ""))
    del run.log_tail[:-RUN_LOG_TAIL]


@_on(K.SANDBOX_STATUS)
def _sandbox_status(s: LabState, e: Any, d: dict[str, Any]) -> None:
    # Logged at every session start (and resume): the newest says how the runs from here on are contained.
    s.sandbox = SandboxInfo.of_event(d)


@_on(K.EVIDENCE_RECORDED)
def _evidence(s: LabState, e: Any, d: dict[str, Any]) -> None:
    h = _hyp(s, d, e.ts)
    h.evidence_hash, h.evidence_blob = d.get("evidence_hash"), d.get("blob")
    h.evidence = dict(d.get("summary", {}))
    for group in baseline_groups_of_rows(h.evidence.get("metrics", [])):
        s.noise_floor.add(group)
    if s.baseline_metric is None and h.evidence.get("baseline_median") is not None:
        s.baseline_metric = h.evidence["baseline_median"]
        s.best_history.append((e.ts, s.baseline_metric))
    median = h.evidence.get("candidate_median")
    # A flagged change is never the best so far: its number is not one the measurement can vouch for.
    if median is not None and s.best_history and not h.evidence.get("flags"):
        best = s.best_history[-1][1]
        minimize = s.objective.get("direction", "minimize") == "minimize"
        if (median < best) if minimize else (median > best):
            s.best_history.append((e.ts, median))
    if h.status == S.MEASURING:
        h.status = S.AUTO_REVIEWED


@_on(K.EVIDENCE_CONFIRMED)
def _confirmed(s: LabState, e: Any, d: dict[str, Any]) -> None:
    h = _hyp(s, d, e.ts)
    h.confirmation = dict(d)
    # The re-measure's baseline repeats are as good a view of the noise as any measurement's.
    for group in baseline_groups_of_rows((d.get("summary") or {}).get("metrics", [])):
        s.noise_floor.add(group)


@_on(K.REVIEW_VERDICT)
def _review(s: LabState, e: Any, d: dict[str, Any]) -> None:
    h = _hyp(s, d, e.ts)
    h.reviews.append(Review(d.get("reviewer", e.actor), d.get("verdict", "flag"), list(d.get("reasons", [])), e.ts))
    if h.status in (S.MEASURING, S.IMPLEMENTING):
        h.status = S.AUTO_REVIEWED


@_on(K.HYP_AWAITING)
def _awaiting(s: LabState, e: Any, d: dict[str, Any]) -> None:
    _hyp(s, d, e.ts).status = S.AWAITING_HUMAN


@_on(K.DECISION_APPROVED)
def _approved(s: LabState, e: Any, d: dict[str, Any]) -> None:
    h = _hyp(s, d, e.ts)
    h.decisions.append(
        Decision(
            "approved",
            d.get("who", e.actor),
            d.get("reason", ""),
            e.ts,
            d.get("sha"),
            d.get("evidence_hash"),
            e.seq,
            [str(o.get("flag")) for o in d.get("overrides") or [] if isinstance(o, dict)],
        )
    )
    h.status = S.APPROVED


@_on(K.DECISION_REJECTED)
def _rejected(s: LabState, e: Any, d: dict[str, Any]) -> None:
    h = _hyp(s, d, e.ts)
    h.decisions.append(Decision("rejected", d.get("who", e.actor), d.get("reason", ""), e.ts, seq=e.seq))
    h.status = S.REJECTED


@_on(K.MERGE_COMPLETED)
def _merged(s: LabState, e: Any, d: dict[str, Any]) -> None:
    h = _hyp(s, d, e.ts)
    h.status, h.merge_sha = S.MERGED, d.get("merge_sha")
    s.baseline_sha = d.get("merge_sha") or s.baseline_sha
    median = h.evidence.get("candidate_median")
    if median is not None:
        s.baseline_metric = median


@_on(K.PUBLISH_COMPLETED)
def _published(s: LabState, e: Any, d: dict[str, Any]) -> None:
    if d.get("hyp_id") in s.hypotheses:
        _hyp(s, d, e.ts).status = S.PUBLISHED


# --- budget, gpu, reports ---------------------------------------------------------------------------


@_on(K.BUDGET_WARNING)
def _budget_warning(s: LabState, e: Any, d: dict[str, Any]) -> None:
    s.budget.signalled.add((d.get("scope", "session"), d.get("role"), d.get("resource", ""), "warning"))


@_on(K.BUDGET_EXHAUSTED)
def _budget_exhausted(s: LabState, e: Any, d: dict[str, Any]) -> None:
    s.budget.signalled.add((d.get("scope", "session"), d.get("role"), d.get("resource", ""), "exhausted"))
    s.budget.paused = True


@_on(K.BUDGET_RESUMED)
def _budget_resumed(s: LabState, e: Any, d: dict[str, Any]) -> None:
    s.budget.paused = False


@_on(K.GPU_SAMPLE)
def _gpu_sample(s: LabState, e: Any, d: dict[str, Any]) -> None:
    s.gpu_samples.append({"ts": e.ts, **d})
    if len(s.gpu_samples) > GPU_HISTORY_MAX:
        del s.gpu_samples[0]


@_on(K.REPORT_WRITTEN)
def _report(s: LabState, e: Any, d: dict[str, Any]) -> None:
    s.reports.append(d.get("path", ""))
    s.report_ts = e.ts
