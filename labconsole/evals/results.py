"""Eval results as a session log: ``<out>/events.jsonl`` (hash-chained, append-only) plus blobs.

Each attempt appends ``eval.attempt.started`` and then ``eval.attempt`` with
the whole record; transcripts are files under ``<out>/transcripts/`` and also
blobs referenced by hash. A rerun with ``--resume`` skips every attempt that
already has an ``eval.attempt`` event; a started-but-unfinished attempt (the
runner was killed) is marked ``eval.attempt.interrupted`` and run again.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from typing import Any

from labconsole.events import kinds as K
from labconsole.events.log import LOG_NAME, EventLog, read_events
from labconsole.events.schema import EVAL_LOG
from labconsole.evals.summary import AttemptRecord, CaseRow, ModelSummary, case_rows, summarize

# The kinds are declared in labconsole/events/kinds.py; these names are kept for readers of this module.
EVAL_STARTED = K.EVAL_STARTED
ATTEMPT_STARTED = K.EVAL_ATTEMPT_STARTED
ATTEMPT_FINISHED = K.EVAL_ATTEMPT
ATTEMPT_INTERRUPTED = K.EVAL_ATTEMPT_INTERRUPTED
ATTEMPT_TRACKED = K.EVAL_ATTEMPT_TRACKED
EVAL_FINISHED = K.EVAL_FINISHED
ACTOR = "console"


@dataclass
class EvalResults:
    """Everything the TUI's eval screen renders, read from a results folder."""

    out_dir: Path
    skill: str = ""
    models: list[str] = field(default_factory=list)
    cases: list[str] = field(default_factory=list)
    records: list[AttemptRecord] = field(default_factory=list)
    summaries: list[ModelSummary] = field(default_factory=list)
    case_rows: list[CaseRow] = field(default_factory=list)
    in_progress: list[str] = field(default_factory=list)  # attempt ids started but not finished
    tracked: set[str] = field(default_factory=set)  # attempt ids whose Trackio run is written
    finished: bool = False


def load_results(out_dir: Path | str) -> EvalResults:
    """Read ``<out_dir>/events.jsonl`` (safe while a runner is still writing)."""
    out_dir = Path(out_dir)
    res = EvalResults(out_dir=out_dir)
    if not (out_dir / LOG_NAME).exists():
        return res
    started: dict[str, bool] = {}
    by_id: dict[str, AttemptRecord] = {}
    for ev in read_events(out_dir):
        if ev.kind == EVAL_STARTED:
            res.skill = ev.data.get("skill", res.skill)
            res.models = list(dict.fromkeys([*res.models, *ev.data.get("models", [])]))
            res.cases = list(dict.fromkeys([*res.cases, *ev.data.get("cases", [])]))
            res.finished = False
        elif ev.kind == ATTEMPT_STARTED:
            started[ev.data["attempt_id"]] = True
        elif ev.kind == ATTEMPT_INTERRUPTED:
            started.pop(ev.data["attempt_id"], None)
        elif ev.kind == ATTEMPT_FINISHED:
            rec = AttemptRecord.from_dict(ev.data)
            by_id[rec.attempt_id] = rec
            started.pop(rec.attempt_id, None)
        elif ev.kind == ATTEMPT_TRACKED:
            res.tracked.add(ev.data["attempt_id"])
        elif ev.kind == EVAL_FINISHED:
            res.finished = True
    res.records = list(by_id.values())
    res.in_progress = list(started)
    res.summaries = summarize(res.records)
    res.case_rows = case_rows(res.records)
    return res


class ResultStore:
    """The one writer of an eval's results log: thread-safe appends, eval kinds only (events/kinds.py)."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        prior = load_results(self.out_dir)
        self.prior = prior
        self.done: set[str] = {r.attempt_id for r in prior.records}
        self.unfinished: list[str] = prior.in_progress
        # Holds the session lock: one runner per folder. Only eval kinds may go in.
        self.log = EventLog.open(self.out_dir, log=EVAL_LOG)
        self._lock = threading.Lock()

    def append(self, kind: str, data: dict[str, Any]) -> None:
        with self._lock:
            self.log.append(kind, ACTOR, data)

    def put_blob(self, data: bytes) -> str:
        return self.log.put_blob(data)

    def close(self) -> None:
        self.log.close()


def list_eval_runs(root: Path | str) -> list[Path]:
    """Result folders under ``root`` (e.g. ``sessions/``): those whose log starts with ``eval.started``."""
    found = []
    for d in sorted(Path(root).iterdir()) if Path(root).is_dir() else []:
        log = d / LOG_NAME
        if log.is_file():
            with open(log, "rb") as f:
                first = f.readline()
            if b'"kind":"eval.started"' in first.replace(b" ", b""):
                found.append(d)
    return found
