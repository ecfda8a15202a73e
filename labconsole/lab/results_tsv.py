"""autoresearch's ``results.tsv``, both ways: a session's decisions written in its columns (so the analysis
notebooks people already have read LabConsole sessions), and an existing file read in as history the
planner's dedupe sees.

The file is tab-separated with the header ``commit  val_bpb  memory_gb  status  description``; status is
``keep`` (merged), ``discard`` (rejected) or ``crash`` (no candidate run succeeded). The metric column is
named after the lab's objective (``val_bpb`` for autoresearch). ``memory_gb`` is the highest peak GPU memory
of the row's runs (candidate runs; baseline runs for the baseline row) as ``run.finished`` recorded it, in
GB (MiB / 1024) with one decimal as autoresearch writes it; 0.0 when nothing was measured.
"""

from __future__ import annotations

import ast
import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labconsole.errors import LabError
from labconsole.events import kinds as K
from labconsole.events.log import Event
from labconsole.lab import state as S
from labconsole.lab.state import LabState

STATUSES = ("keep", "discard", "crash")
_SET_PARAM = re.compile(r"^Set (?P<name>[A-Za-z_][A-Za-z0-9_]*) to (?P<value>\S+)")


@dataclass(frozen=True)
class ResultRow:
    commit: str
    metric: float
    memory_gb: float
    status: str  # keep | discard | crash
    description: str


def columns(metric_name: str) -> list[str]:
    return ["commit", metric_name, "memory_gb", "status", "description"]


def session_rows(state: LabState, events: Iterable[Event]) -> list[ResultRow]:
    """The baseline, then every decided hypothesis in id order: merged → keep, rejected → discard, and a
    failed measurement → crash. Undecided ones (awaiting a person) are not results yet."""
    peak_mb = _peak_mb_by_run(events)

    def memory_gb(run_ids: Iterable[str], role: str) -> float:
        """The most any of these runs (of ``role``) used, in GB with one decimal; 0.0 when none was measured."""
        used = [peak_mb.get(r, 0.0) for r in run_ids if r in state.runs and state.runs[r].role == role]
        return round(max(used, default=0.0) / 1024, 1)

    rows: list[ResultRow] = []
    if state.baseline_sha and state.baseline_metric is not None:
        base_runs = [r.run_id for r in state.runs.values() if r.commit == state.baseline_sha]
        rows.append(
            ResultRow(
                state.baseline_sha[:7], state.baseline_metric, memory_gb(base_runs, "baseline"), "keep", "baseline"
            )
        )
    for h in sorted(state.hypotheses.values(), key=lambda h: h.hyp_id):
        status = {S.MERGED: "keep", S.PUBLISHED: "keep", S.REJECTED: "discard"}.get(h.status)
        if h.status == S.FAILED and h.sha:
            status = "crash"
        if status is None or not h.sha:
            continue
        metric = h.evidence.get("candidate_median")
        rows.append(
            ResultRow(
                h.sha[:7],
                float(metric) if metric is not None and status != "crash" else 0.0,
                memory_gb(h.run_ids, "candidate"),
                status,
                h.title,
            )
        )
    return rows


def _peak_mb_by_run(events: Iterable[Event]) -> dict[str, float]:
    """Each run's peak GPU memory (MiB) as ``run.finished`` recorded it (labconsole/runs/gpu_memory.py); for
    logs written before it did, the most its processes held in any logged ``gpu.sample``."""
    peak: dict[str, float] = {}
    sampled: dict[str, float] = {}
    for event in events:
        if event.kind == K.RUN_FINISHED:
            mb = event.data.get("peak_gpu_mem_mb")
            if isinstance(mb, int | float) and not isinstance(mb, bool) and mb >= 0:
                peak[str(event.data.get("run_id"))] = float(mb)
        elif event.kind == K.GPU_SAMPLE:
            for gpu in event.data.get("gpus") or []:
                for proc in gpu.get("procs") or []:
                    owner, mem = proc.get("owner"), proc.get("mem")
                    if isinstance(owner, str) and owner.startswith("run:") and isinstance(mem, int):
                        sampled[owner[4:]] = max(sampled.get(owner[4:], 0.0), mem / 2**20)
    return {**sampled, **peak}


def write_tsv(rows: Iterable[ResultRow], metric_name: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter="\t", lineterminator="\n")
    writer.writerow(columns(metric_name))
    for r in rows:
        # A tab or newline in a title would break the columns: the description is one line.
        writer.writerow([r.commit, f"{r.metric:.6f}", f"{r.memory_gb:.1f}", r.status, " ".join(r.description.split())])
    return out.getvalue()


def read_tsv(path: Path) -> list[ResultRow]:
    """Rows of an autoresearch results.tsv. A malformed file fails on its first bad line, named."""
    text = Path(path).read_text(encoding="utf-8")
    lines = text.splitlines()
    if not lines:
        raise LabError(
            f"{path}: empty; expected a header 'commit<TAB>val_bpb<TAB>memory_gb<TAB>status<TAB>description'"
        )
    header = lines[0].split("\t")
    if len(header) < 5 or header[0] != "commit" or header[3] != "status":
        raise LabError(
            f"{path}:1: header is {lines[0]!r}; expected 'commit<TAB><metric><TAB>memory_gb<TAB>status"
            f"<TAB>description' (tab-separated)"
        )
    rows = []
    for n, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cells = line.split("\t")
        if len(cells) < 5:
            raise LabError(f"{path}:{n}: {len(cells)} columns; expected 5, tab-separated")
        commit, metric, memory, status, description = cells[0], cells[1], cells[2], cells[3], "\t".join(cells[4:])
        if status not in STATUSES:
            raise LabError(f"{path}:{n}: status {status!r}; allowed: {', '.join(STATUSES)}")
        try:
            rows.append(ResultRow(commit, float(metric), float(memory or 0), status, description.strip()))
        except ValueError:
            raise LabError(f"{path}:{n}: {metric!r} / {memory!r} is not a number") from None
    return rows


def params_of(description: str) -> dict[str, Any]:
    """``Set NAME to VALUE`` (the sweep's titles, and a common way people write them) as a param change."""
    match = _SET_PARAM.match(description)
    if not match:
        return {}
    try:
        return {match.group("name"): ast.literal_eval(match.group("value"))}
    except (ValueError, SyntaxError):
        return {}
