"""Finding the approval that lets a commit be published, from session logs alone.

A kernel may be published at commit C only if some session of the lab holds a
human approval of C (or of a candidate merged through the gate as C), signed by
a trusted key (events/signing.py: the chain proves order, not who approved), and the
evidence bound to that approval carries a benchmark report of the harness
(``labconsole.bench/1``) that passed, measured on that very commit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labconsole.errors import GateError
from labconsole.events import kinds as K
from labconsole.events.log import get_blob, read_events
from labconsole.events.signing import TrustStore, check_decision, load_trust
from labconsole.gpu.bench_evidence import bench_reports


@dataclass(frozen=True)
class PublishApproval:
    session_dir: Path
    hyp_id: str
    approved_sha: str  # the commit the person approved
    head_sha: str  # the commit being published (equal, or the gate's merge of it)
    evidence_hash: str
    who: str
    bench: dict[str, Any]  # the passing benchmark report from the evidence
    bench_blob: str


def find_approval(session_dirs: list[Path], head_sha: str, trust: TrustStore | None = None) -> PublishApproval:
    """The newest validly signed approval that covers ``head_sha`` with passing bench evidence, or GateError
    saying what is missing. ``trust``: whose signatures count (default: the user's own and trusted keys)."""
    trust = trust if trust is not None else load_trust()
    problems: list[str] = []
    for session_dir in sorted(session_dirs, reverse=True):
        events = list(read_events(session_dir))
        session_id = str((events[0].data.get("session_id") if events else None) or session_dir.name)
        approvals = {
            e.data["hyp_id"]: e for e in events if e.kind == K.DECISION_APPROVED and e.actor.startswith("human:")
        }
        rejected_after = {e.data["hyp_id"]: e.seq for e in events if e.kind == K.DECISION_REJECTED}
        merged = {e.data["hyp_id"]: e.data.get("merge_sha") for e in events if e.kind == K.MERGE_COMPLETED}
        evidence = {e.data["evidence_hash"]: e.data.get("blob") for e in events if e.kind == K.EVIDENCE_RECORDED}
        for hyp_id, approval in sorted(approvals.items(), key=lambda kv: -kv[1].seq):
            sha = str(approval.data.get("sha") or "")  # an approval without a sha matches no commit
            if sha != head_sha and merged.get(hyp_id) != head_sha:
                continue
            if rejected_after.get(hyp_id, -1) > approval.seq:
                problems.append(f"{session_dir.name}/{hyp_id}: rejected after its approval")
                continue
            error, _ = check_decision(
                session_id, approval.seq, approval.prev, approval.kind, approval.actor, approval.data, trust
            )
            if error is not None:
                problems.append(f"{session_dir.name}/{hyp_id}: the approval does not count ({error})")
                continue
            blob = evidence.get(approval.data.get("evidence_hash"))
            if not blob:
                problems.append(f"{session_dir.name}/{hyp_id}: the approved evidence is not in the log")
                continue
            bundle = json.loads(get_blob(session_dir, blob))
            report, report_blob, why = _passing_bench(session_dir, bundle, sha)
            if report is None:
                problems.append(f"{session_dir.name}/{hyp_id}: {why}")
                continue
            return PublishApproval(
                session_dir,
                hyp_id,
                sha,
                head_sha,
                approval.data["evidence_hash"],
                approval.data.get("who", approval.actor),
                report,
                report_blob,
            )
    detail = f" ({'; '.join(problems)})" if problems else ""
    raise GateError(
        f"no human approval of commit {head_sha[:12]} with passing benchmark evidence in any session"
        f"{detail}: run the kernel lab, review the candidate, `labconsole review approve` it, then publish"
    )


def _passing_bench(session_dir: Path, bundle: dict[str, Any], sha: str) -> tuple[dict[str, Any] | None, str, str]:
    found = False
    for digest, report in bench_reports(bundle, lambda d: get_blob(session_dir, d)):
        found = True
        prov = report.get("provenance") or {}
        commit = prov.get("git_commit") or prov.get("commit") or ""
        if not prov.get("cuda"):
            continue  # a CPU smoke run proves the harness runs, not the kernel's speed
        if report.get("ok") and len(commit) >= 12 and sha.startswith(commit):
            return report, digest, ""
    if not found:
        return None, "", "its evidence has no benchmark report (set [objective] artifacts to the bench JSON)"
    return None, "", f"its benchmark report did not pass on a GPU at commit {sha[:12]}"
