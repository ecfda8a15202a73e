"""Builds ``sessions/examples/tui-review``: a fixed, recorded session for the TUI's snapshot tests.

Events go through the real :class:`EventLog` (hash chain, blobs) with a fixed
clock, so the committed session is byte-for-byte reproducible:

    .venv/bin/python tests/tui/make_example_session.py
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from labconsole.events import kinds as K  # noqa: E402
from labconsole.events.log import EventLog  # noqa: E402

SESSION = "tui-review"
OUT = ROOT / "sessions" / "examples" / SESSION
T0 = 1_764_000_000.0  # 2025-11-24 16:00:00 UTC

BASE = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"
MAIN2 = "b2c3d4e5f60718293a4b5c6d7e8f901234567890"

DIFF_LR = """diff --git a/train.py b/train.py
index 3b18e51..a9c02f1 100644
--- a/train.py
+++ b/train.py
@@ -8,11 +8,11 @@ import json
 import math
 import random
 
-LEARNING_RATE = 0.003
+LEARNING_RATE = 0.0075
 BATCH_SIZE = 64
 CONTEXT = 8
-N_EMBD = 16
+N_EMBD = 24
 HIDDEN = 128
 WEIGHT_DECAY = 0.0
 
@@ -41,7 +41,8 @@ def train(model, data):
     for step in range(STEPS):
         xb, yb = batch(data, BATCH_SIZE)
         loss = model.loss(xb, yb)
-        loss.backward()
+        loss.backward()
+        clip_grad_norm(model.parameters(), 1.0)
         opt.step()
         opt.zero_grad()
     return model
"""

DIFF_PROTECTED = """diff --git a/prepare.py b/prepare.py
index 77aa0c1..12bb9e3 100644
--- a/prepare.py
+++ b/prepare.py
@@ -20,7 +20,7 @@ def split(text):
-    cut = int(len(text) * 0.9)
+    cut = int(len(text) * 0.95)
     return text[:cut], text[cut:]
 
 
diff --git a/train.py b/train.py
index 3b18e51..5e1d0aa 100644
--- a/train.py
+++ b/train.py
@@ -12,7 +12,7 @@ import random
 BATCH_SIZE = 64
-CONTEXT = 8
+CONTEXT = 16
 N_EMBD = 16
 HIDDEN = 128
"""

DIFF_MERGED = """diff --git a/train.py b/train.py
index 1111111..3b18e51 100644
--- a/train.py
+++ b/train.py
@@ -13,5 +13,5 @@ BATCH_SIZE = 64
 CONTEXT = 8
 N_EMBD = 16
-HIDDEN = 64
+HIDDEN = 128
 WEIGHT_DECAY = 0.0
"""


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        self.t += 1.5
        return self.t


def build() -> Path:
    if OUT.exists():
        shutil.rmtree(OUT)
    clock = Clock()
    objective = {
        "name": "val_bpb",
        "direction": "minimize",
        "command": "python train.py",
        "repeats": 2,
        "metric": "json:result.json#val_bpb",
        "protected": ["prepare.py", "data/**", "lab.toml"],
    }
    with mock.patch("labconsole.events.log.time.time", clock):
        log = EventLog.open(OUT)
        a = log.append
        a(
            K.SESSION_STARTED,
            "console",
            {
                "session_id": SESSION,
                "lab": "tiny-charlm",
                "lab_root": "/labs/tiny-charlm",
                "baseline_sha": BASE,
                "main_branch": "main",
                "objective": objective,
                "budget": {"usd": 5.0, "tokens": 400000, "gpu_hours": 2.0},
                "pid": 4242,
                "host": "lab-host",
            },
        )
        agents = [
            ("researcher-1", "researcher", "anthropic", "claude-sonnet-4-5"),
            ("planner-1", "planner", "sweep", ""),
            ("worker-1", "worker", "claude-code", "claude-sonnet-4-5"),
            ("worker-2", "worker", "codex", "gpt-5-codex"),
            ("reviewer-1", "reviewer", "rules", ""),
        ]
        for i, (aid, role, backend, model) in enumerate(agents):
            a(
                K.AGENT_STARTED,
                "console",
                {"agent_id": aid, "role": role, "backend": backend, "model": model, "pid": 5000 + i, "attempt": 0},
            )
            a(K.AGENT_HELLO, f"agent:{aid}", {"agent_id": aid, "protocol": 1, "backend": backend, "model": model})
        a(
            K.GPU_SAMPLE,
            "console",
            {
                "gpus": [
                    {
                        "index": 0,
                        "util": 12.0,
                        "mem_used": 2_000_000_000,
                        "mem_total": 80_000_000_000,
                        "power_w": 95.0,
                        "temp_c": 41,
                        "sm_clock": 1980,
                        "procs": [],
                    }
                ]
            },
        )

        hyps = [
            ("h001", "Widen the hidden layer to 128", {"HIDDEN": 128}, 0.9),
            ("h002", "Raise batch size to 256", {"BATCH_SIZE": 256}, 0.5),
            ("h003", "Higher learning rate with gradient clipping", {"LEARNING_RATE": 0.0075, "N_EMBD": 24}, 0.8),
            ("h004", "Longer context window", {"CONTEXT": 16}, 0.7),
            ("h005", "Weight decay 0.1", {"WEIGHT_DECAY": 0.1}, 0.4),
            ("h006", "Bigger batch (256)", {"BATCH_SIZE": 256}, 0.3),
        ]
        for hid, title, params, prio in hyps:
            a(
                K.HYP_PROPOSED,
                "agent:researcher-1",
                {
                    "hyp_id": hid,
                    "title": title,
                    "params": params,
                    "rationale": f"{title}: expected to lower val_bpb.",
                    "source": "sweep space",
                    "proposer": "researcher-1",
                },
            )
            if hid == "h006":
                a(K.HYP_DUPLICATE, "agent:planner-1", {"hyp_id": hid, "of": "h002", "similarity": 0.93})
            else:
                a(K.HYP_QUEUED, "agent:planner-1", {"hyp_id": hid, "priority": prio})
        a(
            K.AGENT_USAGE,
            "agent:researcher-1",
            {
                "agent_id": "researcher-1",
                "role": "researcher",
                "input_tokens": 48211,
                "output_tokens": 6120,
                "cached_tokens": 20000,
                "cost_usd": 0.2366,
                "model": "claude-sonnet-4-5",
            },
        )

        def measure(
            hid: str,
            worker: str,
            diff: str,
            files: list[str],
            adds: int,
            dels: int,
            sha: str,
            cand: list[float],
            base: list[float],
            verdict: str,
            reasons: list[str],
            base_sha: str,
            stale: bool,
            protected: list[str],
        ) -> str:
            a(K.HYP_CLAIMED, f"agent:{worker}", {"hyp_id": hid, "agent_id": worker})
            a(
                K.AGENT_STATUS,
                f"agent:{worker}",
                {"agent_id": worker, "state": "working", "hypothesis": hid, "detail": "editing train.py"},
            )
            a(
                K.WORKTREE_CREATED,
                "console",
                {
                    "hyp_id": hid,
                    "path": f"/labs/tiny-charlm/.labconsole/worktrees/{hid}",
                    "branch": f"lab/{hid}",
                    "base_sha": base_sha,
                },
            )
            blob = log.put_blob(diff)
            a(
                K.HYP_COMMITTED,
                f"agent:{worker}",
                {
                    "hyp_id": hid,
                    "sha": sha,
                    "branch": f"lab/{hid}",
                    "message": f"{hid}: apply params",
                    "diff_blob": blob,
                    "files": files,
                    "additions": adds,
                    "deletions": dels,
                },
            )
            a(
                K.AGENT_USAGE,
                f"agent:{worker}",
                {
                    "agent_id": worker,
                    "role": "worker",
                    "input_tokens": 30500,
                    "output_tokens": 4100,
                    "cached_tokens": 9000,
                    "cost_usd": 0.153,
                    "model": "x",
                },
            )
            runs = []
            for rep in range(2):
                for role, values, commit in (("baseline", base, base_sha), ("candidate", cand, sha)):
                    rid = f"{hid}-{role[0]}{rep}"
                    a(
                        K.RUN_STARTED,
                        "console",
                        {
                            "run_id": rid,
                            "hyp_id": hid,
                            "role": role,
                            "commit": commit,
                            "repeat": rep,
                            "command": "python train.py",
                            "gpus": [0],
                        },
                    )
                    log_blob = log.put_blob(f"step 0 loss 4.2\nstep 100 loss 2.9\nval_bpb: {values[rep]}\n")
                    a(
                        K.RUN_FINISHED,
                        "console",
                        {
                            "run_id": rid,
                            "status": "ok",
                            "metric": values[rep],
                            "returncode": 0,
                            "duration_s": 3.2 + rep / 10,
                            "log_blob": log_blob,
                        },
                    )
                    runs.append(
                        {
                            "run_id": rid,
                            "role": role,
                            "repeat": rep,
                            "status": "ok",
                            "metric": values[rep],
                            "duration_s": 3.2 + rep / 10,
                            "error": "",
                        }
                    )
            cm, bm = sorted(cand)[0] / 2 + sorted(cand)[1] / 2, sorted(base)[0] / 2 + sorted(base)[1] / 2
            summary = {
                "candidate_runs": 2,
                "baseline_runs": 2,
                "candidate_ok": 2,
                "baseline_ok": 2,
                "candidate_median": round(cm, 6),
                "baseline_median": round(bm, 6),
                "candidate_spread": round(max(cand) - min(cand), 6),
                "baseline_spread": round(max(base) - min(base), 6),
                "effect": round((bm - cm) / bm, 6),
                "significant": max(cand) < min(base),
            }
            bundle = {
                "hyp_id": hid,
                "sha": sha,
                "base_sha": base_sha,
                "main_sha": MAIN2 if stale else base_sha,
                "stale": stale,
                "protected_changes": protected,
                "run_tampering": [],
                "runs": runs,
                "objective": objective,
                **summary,
            }
            ev_blob = log.put_blob(json.dumps(bundle, sort_keys=True, indent=1))
            a(
                K.EVIDENCE_RECORDED,
                "console",
                {
                    "hyp_id": hid,
                    "evidence_hash": ev_blob,
                    "blob": ev_blob,
                    "summary": {**summary, "stale": stale, "protected_changes": protected},
                },
            )
            a(
                K.REVIEW_VERDICT,
                "agent:reviewer-1",
                {"hyp_id": hid, "reviewer": "reviewer-1", "verdict": verdict, "reasons": reasons},
            )
            a(K.HYP_AWAITING, "console", {"hyp_id": hid})
            a(K.AGENT_STATUS, f"agent:{worker}", {"agent_id": worker, "state": "idle", "detail": "waiting for work"})
            return ev_blob

        ev1 = measure(
            "h001",
            "worker-1",
            DIFF_MERGED,
            ["train.py"],
            1,
            1,
            "c0ffee0000000000000000000000000000000001",
            [1.912, 1.918],
            [1.990, 1.985],
            "pass",
            ["significant improvement"],
            BASE,
            False,
            [],
        )
        a(
            K.DECISION_APPROVED,
            "human:ada",
            {
                "hyp_id": "h001",
                "sha": "c0ffee0000000000000000000000000000000001",
                "evidence_hash": ev1,
                "who": "ada",
                "reason": "clear win",
                "flags": [],
            },
        )
        a(
            K.MERGE_COMPLETED,
            "human:ada",
            {
                "hyp_id": "h001",
                "sha": "c0ffee0000000000000000000000000000000001",
                "merge_sha": MAIN2,
                "into": "main",
                "evidence_hash": ev1,
            },
        )
        measure(
            "h002",
            "worker-2",
            DIFF_MERGED.replace("HIDDEN = 64", "BATCH_SIZE = 64").replace("HIDDEN = 128", "BATCH_SIZE = 256"),
            ["train.py"],
            1,
            1,
            "c0ffee0000000000000000000000000000000002",
            [1.931, 1.925],
            [1.915, 1.913],
            "flag",
            ["no significant improvement"],
            MAIN2,
            False,
            [],
        )
        a(K.DECISION_REJECTED, "human:ada", {"hyp_id": "h002", "who": "ada", "reason": "worse than baseline"})
        measure(
            "h003",
            "worker-1",
            DIFF_LR,
            ["train.py"],
            4,
            3,
            "c0ffee0000000000000000000000000000000003",
            [1.871, 1.880],
            [1.914, 1.911],
            "pass",
            ["significant improvement (2/2 repeats beat baseline)"],
            MAIN2,
            False,
            [],
        )
        measure(
            "h004",
            "worker-2",
            DIFF_PROTECTED,
            ["prepare.py", "train.py"],
            2,
            2,
            "c0ffee0000000000000000000000000000000004",
            [1.850, 1.902],
            [1.915, 1.912],
            "flag",
            ["protected file changed: prepare.py", "spread overlaps baseline"],
            BASE,
            True,
            ["prepare.py"],
        )
        a(K.HYP_CLAIMED, "agent:worker-1", {"hyp_id": "h005", "agent_id": "worker-1"})
        a(
            K.AGENT_STATUS,
            "agent:worker-1",
            {"agent_id": "worker-1", "state": "working", "hypothesis": "h005", "detail": "running tests"},
        )
        a(
            K.WORKTREE_CREATED,
            "console",
            {
                "hyp_id": "h005",
                "path": "/labs/tiny-charlm/.labconsole/worktrees/h005",
                "branch": "lab/h005",
                "base_sha": MAIN2,
            },
        )
        a(
            K.AGENT_STATUS,
            "agent:researcher-1",
            {"agent_id": "researcher-1", "state": "waiting", "detail": "waiting for input"},
        )
        a(
            K.AGENT_EXITED,
            "console",
            {"agent_id": "worker-2", "reason": "crashed", "returncode": 1, "detail": "codex exited 1"},
        )
        a(K.BUDGET_WARNING, "console", {"scope": "session", "resource": "usd", "used": 0.7, "limit": 5.0})
        for i, util in enumerate((35.0, 61.0, 88.0)):
            a(
                K.GPU_SAMPLE,
                "console",
                {
                    "gpus": [
                        {
                            "index": 0,
                            "util": util,
                            "mem_used": (6 + i) * 1_000_000_000,
                            "mem_total": 80_000_000_000,
                            "power_w": 180.0 + 40 * i,
                            "temp_c": 48 + i,
                            "sm_clock": 1980,
                            "procs": [],
                        }
                    ]
                },
            )
        a(K.NOTE, "console", {"text": "two candidates are waiting for review"})
        log.close()
    agents_dir = OUT / "agents"
    agents_dir.mkdir()
    for aid, *_ in agents:
        lines = [f"[{i:04d}] {aid}: step {i} — {'editing' if i % 3 else 'thinking about'} train.py" for i in range(60)]
        (agents_dir / f"{aid}.log").write_text("\n".join(lines) + "\n")
    (OUT / "lock").unlink(missing_ok=True)
    return OUT


if __name__ == "__main__":
    print(build())
