"""How fixture/session/events.jsonl was made: a real hash-chained LabConsole session log (run once)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from labconsole.events import kinds as k  # noqa: E402
from labconsole.events.log import EventLog  # noqa: E402

HYPS = {"h-1": "Raise lr to 0.02", "h-2": "Warmup 500 steps", "h-3": "Batch 128", "h-4": "Weight decay 0.1"}


def main() -> None:
    out = Path(__file__).parent / "fixture" / "session"
    shutil.rmtree(out, ignore_errors=True)
    log = EventLog.open(out)
    a = log.append
    a(
        k.SESSION_STARTED,
        "console",
        {
            "lab": "tiny-lm",
            "lab_root": "/labs/tiny-lm",
            "baseline_sha": "9a1c0de",
            "config": {"objective": "val_bpb", "direction": "minimize"},
            "pid": 4242,
            "host": "lab-1",
        },
    )
    for hid, title in HYPS.items():
        a(
            k.HYP_PROPOSED,
            "agent:researcher-1",
            {
                "hyp_id": hid,
                "title": title,
                "params": {},
                "rationale": "",
                "source": "history",
                "proposer": "researcher-1",
            },
        )
    run = 0

    def runs(hyp: str | None, role: str, commit: str, results: list[tuple[str, float | None]]) -> None:
        nonlocal run
        for rep, (status, metric) in enumerate(results):
            run += 1
            rid = f"r-{run}"
            a(
                k.RUN_STARTED,
                "console",
                {
                    "run_id": rid,
                    "hyp_id": hyp,
                    "role": role,
                    "commit": commit,
                    "repeat": rep,
                    "command": "python train.py",
                    "gpus": [0],
                },
            )
            data = {
                "run_id": rid,
                "status": status,
                "returncode": 0 if status == "ok" else 1,
                "duration_s": 61.0,
                "log_blob": "",
            }
            if metric is not None:
                data["metric"] = metric
            if status != "ok":
                data["error"] = {"crashed": "CUDA out of memory", "timeout": "exceeded 300 s"}[status]
            a(k.RUN_FINISHED, "console", data)

    runs(None, "baseline", "9a1c0de", [("ok", 1.412), ("ok", 1.409), ("ok", 1.415)])
    a(k.HYP_COMMITTED, "agent:worker-1", {"hyp_id": "h-1", "sha": "b1", "branch": "lab/h-1", "message": "h-1"})
    runs("h-1", "candidate", "b1", [("ok", 1.455), ("ok", 1.449), ("ok", 1.461)])
    a(
        k.REVIEW_VERDICT,
        "agent:reviewer",
        {"hyp_id": "h-1", "reviewer": "rules", "verdict": "reject", "reasons": ["worse than baseline"]},
    )
    a(k.DECISION_REJECTED, "human:ana", {"hyp_id": "h-1", "who": "ana", "reason": "worse"})
    a(k.HYP_COMMITTED, "agent:worker-2", {"hyp_id": "h-2", "sha": "b2", "branch": "lab/h-2", "message": "h-2"})
    runs("h-2", "candidate", "b2", [("ok", 1.398), ("ok", 1.401), ("ok", 1.395)])
    a(k.REVIEW_VERDICT, "agent:reviewer", {"hyp_id": "h-2", "reviewer": "rules", "verdict": "pass", "reasons": []})
    a(
        k.DECISION_APPROVED,
        "human:ana",
        {"hyp_id": "h-2", "sha": "b2", "evidence_hash": "e2", "who": "ana", "reason": "clear win"},
    )
    a(
        k.MERGE_COMPLETED,
        "console",
        {"hyp_id": "h-2", "sha": "b2", "merge_sha": "m2", "into": "main", "evidence_hash": "e2"},
    )
    a(k.HYP_COMMITTED, "agent:worker-1", {"hyp_id": "h-3", "sha": "b3", "branch": "lab/h-3", "message": "h-3"})
    runs("h-3", "candidate", "b3", [("crashed", None)])
    a(k.HYP_FAILED, "console", {"hyp_id": "h-3", "step": "measuring", "reason": "run r-10 crashed"})
    a(k.HYP_COMMITTED, "agent:worker-2", {"hyp_id": "h-4", "sha": "b4", "branch": "lab/h-4", "message": "h-4"})
    runs("h-4", "candidate", "b4", [("ok", 1.404), ("timeout", None), ("ok", 1.399)])
    a(
        k.REVIEW_VERDICT,
        "agent:reviewer",
        {"hyp_id": "h-4", "reviewer": "rules", "verdict": "flag", "reasons": ["one of three runs timed out"]},
    )
    a(k.HYP_AWAITING, "console", {"hyp_id": "h-4"})
    log.close()
    for extra in out.iterdir():  # keep only the log itself in the fixture
        if extra.name != "events.jsonl":
            shutil.rmtree(extra) if extra.is_dir() else extra.unlink()


if __name__ == "__main__":
    main()
