"""Every event kind the session log may hold, with the fields of its ``data``.

The log line is ``{seq, ts, kind, actor, data, prev, hash}``. ``actor`` is
``console``, ``human:<name>``, or ``agent:<agent-id>``. Only the console
writes; ``human:`` actors come from keyboard/CLI decisions.
"""

from __future__ import annotations

# session
SESSION_STARTED = "session.started"      # lab, lab_root, baseline_sha, config (dict), pid, host
SESSION_RESUMED = "session.resumed"      # pid, last_seq
SESSION_STOPPED = "session.stopped"      # reason
LOG_REPAIRED = "log.repaired"            # cut_bytes, offset, reason

# agents
AGENT_STARTED = "agent.started"          # agent_id, role, backend, model, pid, attempt
AGENT_HELLO = "agent.hello"              # agent_id, protocol, backend, model
AGENT_STATUS = "agent.status"            # agent_id, state (working|waiting|idle|paused), hypothesis?, detail?
AGENT_LOG = "agent.log"                  # agent_id, level, text
AGENT_RAW = "agent.raw"                  # agent_id, text, truncated (a non-protocol stdout line)
AGENT_DROPPED = "agent.dropped"          # agent_id, count (log lines dropped under flood)
AGENT_TOOL_CALL = "agent.tool_call"      # agent_id, tool, input, ok, error?
AGENT_USAGE = "agent.usage"              # agent_id, role, input_tokens, output_tokens, cached_tokens, cost_usd, model
AGENT_ERROR = "agent.error"              # agent_id, message, task?
AGENT_EXITED = "agent.exited"            # agent_id, reason (done|crashed|hung|killed), returncode, signal?
AGENT_RESTARTING = "agent.restarting"    # agent_id, attempt, backoff_s
AGENT_MESSAGE = "agent.message"          # agent_id, text (a human's message to an agent)
AGENT_CONTROL = "agent.control"          # agent_id, action (pause|resume|stop|restart)

# hypotheses
HYP_PROPOSED = "hypothesis.proposed"     # hyp_id, title, params, rationale, source, proposer, evidence_blob?
HYP_QUEUED = "hypothesis.queued"         # hyp_id, priority
HYP_DUPLICATE = "hypothesis.duplicate"   # hyp_id, of, similarity
HYP_CLAIMED = "hypothesis.claimed"       # hyp_id, agent_id
WORKTREE_CREATED = "worktree.created"    # hyp_id, path, branch, base_sha
HYP_COMMITTED = "hypothesis.committed"   # hyp_id, sha, branch, message, diff_blob, files, additions, deletions
HYP_FAILED = "hypothesis.failed"         # hyp_id, step, reason, log_blob?
WORKTREE_ARCHIVED = "worktree.archived"  # hyp_id, ref, sha
WORKTREE_REMOVED = "worktree.removed"    # hyp_id, path

# measurement
RUN_STARTED = "run.started"              # run_id, hyp_id?, role (candidate|baseline), commit, repeat, command, gpus, sandbox (bwrap|degraded), env_names (variables passed from the console's environment)
RUN_FINISHED = "run.finished"            # run_id, status (ok|failed|timeout|crashed|invalid), metric?, returncode, duration_s, log_blob, error?, sandbox
SANDBOX_STATUS = "sandbox.status"        # mode (bwrap|degraded), reason, network, env (names the lab passes), read_paths, memory_mb, max_processes
EVIDENCE_RECORDED = "evidence.recorded"  # hyp_id, evidence_hash, blob, summary{...}
REVIEW_VERDICT = "review.verdict"        # hyp_id, reviewer, verdict (pass|flag|reject), reasons
HYP_AWAITING = "hypothesis.awaiting_human"  # hyp_id

# decisions (actor = human:<name>)
DECISION_APPROVED = "decision.approved"  # hyp_id, sha, evidence_hash, who, reason
DECISION_REJECTED = "decision.rejected"  # hyp_id, who, reason
MERGE_COMPLETED = "merge.completed"      # hyp_id, sha, merge_sha, into, evidence_hash
MERGE_REFUSED = "merge.refused"          # hyp_id, reason
BASELINE_MOVED = "baseline.moved"        # sha, reason
PUBLISH_COMPLETED = "publish.completed"  # path, sha, evidence_hash, destination

# budget, gpu, reports
BUDGET_WARNING = "budget.warning"        # scope (session|role), role?, resource (tokens|usd|gpu_hours), used, limit
BUDGET_EXHAUSTED = "budget.exhausted"    # scope, role?, resource, used, limit (agents are paused)
BUDGET_RESUMED = "budget.resumed"        # who (a person let paused agents go on)
GPU_SAMPLE = "gpu.sample"                # gpus: [{index, util, mem_used, mem_total, power_w, ...}]
REPORT_WRITTEN = "report.written"        # path, sha256
NOTE = "note"                            # text (free-form console note)

# Decisions are fsynced immediately (DESIGN.md §2).
DURABLE_KINDS = frozenset({
    DECISION_APPROVED, DECISION_REJECTED, MERGE_COMPLETED, PUBLISH_COMPLETED,
    SESSION_STARTED, SESSION_STOPPED, LOG_REPAIRED,
})

# Decision points, used by replay's {/} jumps.
DECISION_KINDS = frozenset({
    DECISION_APPROVED, DECISION_REJECTED, MERGE_COMPLETED, MERGE_REFUSED,
    PUBLISH_COMPLETED, REVIEW_VERDICT, HYP_AWAITING,
})
