"""The ``rules`` reviewer: checks an evidence bundle and gives a verdict (never a decision)."""

from __future__ import annotations

from typing import Any

from labconsole.agents.backends.base import AgentContext, Task
from labconsole.agents.emitter import Emitter

# A relative improvement this large on a tuned objective is more often a bug or a game than a win.
IMPLAUSIBLE_EFFECT = 0.5


def review(evidence: dict[str, Any]) -> tuple[str, list[str]]:
    """(verdict, reasons): ``reject`` for gamed or invalid results, ``flag`` for doubtful ones, else ``pass``."""
    reject: list[str] = []
    flag: list[str] = []
    change_flags = [f for f in evidence.get("flags") or [] if isinstance(f, dict) and f.get("flag")]
    # A flagged change is never recommended, however good its numbers: the measurement cannot vouch for it.
    for f in change_flags:
        reject.append(
            f"flagged {f['flag']}: {', '.join(str(p) for p in f.get('paths') or [])}"
            + (f" ({f['why']})" if f.get("why") else "")
        )
    if evidence.get("rules_diff"):
        reject.append("would change the lab's rules: " + "; ".join(str(x) for x in evidence["rules_diff"]))
    if evidence.get("measured") is False:
        reject.append("not measured: it changes files outside [objective] editable")
    if not change_flags and evidence.get("protected_changes"):  # evidence from before the change checks
        reject.append("edits protected files: " + ", ".join(evidence["protected_changes"]))
    if not change_flags and evidence.get("run_tampering"):
        reject.append("a run modified protected files: " + ", ".join(evidence["run_tampering"]))
    cand_ok, cand_all = evidence.get("candidate_ok", 0), evidence.get("candidate_runs", 0)
    base_ok = evidence.get("baseline_ok", 0)
    if cand_ok == 0 and evidence.get("measured") is not False:
        reject.append(f"no successful candidate run ({cand_all} attempted)")
    elif cand_ok < cand_all:
        flag.append(f"{cand_all - cand_ok} of {cand_all} candidate runs failed")
    if base_ok == 0 and evidence.get("measured") is not False:
        reject.append("no successful baseline run in the same measurement")
    if evidence.get("stale"):
        flag.append(f"stale baseline: main moved since {str(evidence.get('base_sha', ''))[:8]}")
    effect = evidence.get("effect")
    if effect is not None and cand_ok and base_ok:
        # The gate's decision (labconsole.core.stats); bundles older than it carry only "significant".
        decision = evidence.get("decision") or ("improved" if evidence.get("significant") else "inconclusive")
        if effect <= 0 or decision == "worse":
            reject.append(f"not better than baseline (effect {effect:+.2%}, {decision})")
        elif decision == "no evidence":
            flag.append(
                f"improvement {effect:+.2%} is below the threshold {evidence.get('threshold') or 0:.2%} "
                f"that matters (no evidence)"
            )
        elif decision != "improved":
            flag.append(
                f"improvement {effect:+.2%} is within run-to-run noise ({decision}, "
                f"{evidence.get('repeats_used', cand_ok)} repeats)"
            )
        if effect >= IMPLAUSIBLE_EFFECT:
            flag.append(f"implausibly large improvement ({effect:+.1%}): check for metric gaming")
    if reject:
        return "reject", reject + flag
    if flag:
        return "flag", flag
    return "pass", [f"better by {effect:+.2%}, outside noise over {cand_ok} repeats" if effect is not None else "ok"]


class RulesReviewer:
    def __init__(self, ctx: AgentContext) -> None:
        self.ctx = ctx

    def handle(self, task: Task, emit: Emitter) -> None:
        if task.kind != "review":
            raise ValueError(f"the rules reviewer only reviews (got {task.kind!r})")
        evidence = task.payload["evidence"]
        verdict, reasons = review(evidence)
        emit.tool_call("rules", f"{len(reasons)} finding(s)")
        emit.verdict(task.payload["hypothesis"]["id"], verdict, reasons)
