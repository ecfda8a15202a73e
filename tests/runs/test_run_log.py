"""Run output streams back as run.log events while the run is in flight: redacted, cut, rate-limited."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from labconsole.core.config import load_config
from labconsole.core.redact import Redactor
from labconsole.events.kinds import KINDS
from labconsole.lab.reducer import RUN_LOG_TAIL, reduce
from labconsole.lab.gitops import LabRepo
from labconsole.runs.executor import ExecutorContext, RunRequest
from labconsole.runs.local import LocalExecutor
from labconsole.runs.run_log import MAX_LINE_CHARS, RunLogSink
from tests.executors.lab_fixture import make_lab


class Recorder:
    """The Lab's append as the executors see it: every event checked against its declaration, and timed."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any], float]] = []
        self.blobs: dict[str, bytes] = {}

    def append(self, kind: str, actor: str, data: dict[str, Any]) -> None:
        KINDS[kind].check(data)
        self.events.append((kind, data, time.monotonic()))

    def put_blob(self, data: bytes) -> str:
        self.blobs[f"b{len(self.blobs)}"] = data
        return f"b{len(self.blobs) - 1}"

    def of(self, kind: str, run_id: str) -> list[tuple[dict[str, Any], float]]:
        return [(d, t) for k, d, t in self.events if k == kind and d["run_id"] == run_id]


def test_sink_rate_limits_and_counts_what_it_drops() -> None:
    rec = Recorder()
    now = [0.0]
    sink = RunLogSink(rec.append, Redactor(), lines_per_s=10, burst=5, clock=lambda: now[0])
    sink.line("r1", "stdout", "before open")  # no run.started yet: not logged
    sink.open("r1", "h1")
    for i in range(20):
        sink.line("r1", "stdout", f"line {i}\n")
    now[0] = 0.35  # 3.5 lines' worth of refill
    sink.line("r1", "stdout", "x" * (MAX_LINE_CHARS + 10))
    sink.line("r1", "stderr", "key hf_" + "B" * 24)
    sink.line("r1", "stdout", "past the refill")
    sink.line("r1", "stdout", "dropped at the end")
    sink.close("r1")
    logs = [d for d, _ in rec.of("run.log", "r1")]
    assert [d["text"] for d in logs[:5]] == [f"line {i}" for i in range(5)]
    assert logs[5]["dropped"] == 15 and logs[5]["truncated"] and len(logs[5]["text"]) == MAX_LINE_CHARS
    assert logs[6]["stream"] == "stderr" and "hf_B" not in logs[6]["text"] and "[REDACTED]" in logs[6]["text"]
    assert logs[7]["text"] == "past the refill" and "dropped" not in logs[7]
    assert logs[8] == {"run_id": "r1", "hyp_id": "h1", "stream": "console", "text": "", "dropped": 1}
    assert len(logs) == 9


def setup_local(tmp_path: Path) -> tuple[LocalExecutor, dict[str, str], Recorder]:
    lab, shas = make_lab(tmp_path, "")
    rec = Recorder()
    executor = LocalExecutor(
        ExecutorContext(LabRepo(lab), load_config(lab), rec.append, rec.put_blob, tmp_path / "runs")
    )
    return executor, shas, rec


def test_local_lines_arrive_while_the_run_is_in_flight(tmp_path: Path) -> None:
    executor, shas, rec = setup_local(tmp_path)
    done = executor.run(RunRequest("r-stream", "h1", "candidate", shas["stream"], 0, {}))
    assert done.outcome.status == "ok"
    logs = rec.of("run.log", "r-stream")
    ((finished, finished_at),) = rec.of("run.finished", "r-stream")
    early = next((d, t) for d, t in logs if d["text"].startswith("early"))
    assert early[0]["text"] == "early [REDACTED]"  # redacted as the stored log is
    assert finished_at - early[1] > 1.5  # printed 3 s before the run ended: it came then, not at the end
    assert [d["text"] for d, _ in logs][-2:] == ["late", "ran stream r-stream"]
    assert b"[REDACTED]" in rec.blobs[finished["log_blob"]]


def test_a_flood_is_dropped_and_counted_but_the_blob_keeps_it_all(tmp_path: Path) -> None:
    executor, shas, rec = setup_local(tmp_path)
    done = executor.run(RunRequest("r-flood", "h1", "candidate", shas["flood"], 0, {}))
    assert done.outcome.status == "ok"
    logs = [d for d, _ in rec.of("run.log", "r-flood")]
    shown = [d for d in logs if d["text"]]
    assert len(shown) < 1000  # the burst plus what the rate lets through in the run's few seconds
    assert len(shown) + sum(d.get("dropped", 0) for d in logs) == 5001  # every line streamed or counted
    ((finished, _),) = rec.of("run.finished", "r-flood")
    lines = rec.blobs[finished["log_blob"]].splitlines()
    assert sum(line.startswith(b"flood ") for line in lines) == 5000 and lines[-1] == b"ran flood r-flood"


def test_the_reducer_keeps_a_runs_last_lines() -> None:
    class Ev:
        def __init__(self, seq: int, kind: str, data: dict[str, Any]) -> None:
            self.seq, self.ts, self.kind, self.actor, self.data = seq, float(seq), kind, "console", data

    events = [Ev(1, "run.started", {"run_id": "r1", "hyp_id": "h1"})]
    events += [Ev(2 + i, "run.log", {"run_id": "r1", "stream": "stdout", "text": f"l{i}"}) for i in range(80)]
    events.append(Ev(90, "run.log", {"run_id": "r1", "stream": "console", "text": "", "dropped": 7}))
    events.append(Ev(91, "run.log", {"run_id": "ghost", "stream": "stdout", "text": "no such run"}))
    state = reduce(events)
    tail = state.runs["r1"].log_tail
    assert len(tail) == RUN_LOG_TAIL and tail[-2:] == ["l79", "[7 lines dropped]"]
    assert not any(item.kind == "run.log" for item in state.feed)  # high rate: panels, not the feed
