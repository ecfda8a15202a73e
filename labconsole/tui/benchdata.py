"""Kernel benchmark result files (benchmarks/results/*.json, written by labconsole.gpu's harness) → tables.

A section is a top-level entry mapping shape → {"candidates": {name: {median_us, gb_s, pct_of_copy, …}}}.
Pure data; the screen renders it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Section:
    name: str
    shapes: list[str]
    candidates: list[str]
    cells: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (shape, candidate) → stats


@dataclass
class BenchFile:
    path: Path
    device: str
    sections: list[Section]
    error: str = ""


def _sections(data: dict[str, Any]) -> list[Section]:
    out: list[Section] = []
    for name, value in data.items():
        if not isinstance(value, dict) or not value:
            continue
        rows = {
            shape: entry
            for shape, entry in value.items()
            if isinstance(entry, dict) and isinstance(entry.get("candidates"), dict)
        }
        if not rows:
            continue
        candidates: list[str] = []
        section = Section(name, list(rows), candidates)
        for shape, entry in rows.items():
            for cand, stats in entry["candidates"].items():
                if cand not in candidates:
                    candidates.append(cand)
                if isinstance(stats, dict):
                    section.cells[(shape, cand)] = stats
        out.append(section)
    return out


def load(path: Path) -> BenchFile:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        return BenchFile(path, "", [], f"unreadable: {exc}")
    if not isinstance(data, dict):
        return BenchFile(path, "", [], "not a benchmark result object")
    device = str((data.get("provenance") or {}).get("device", "")) if isinstance(data.get("provenance"), dict) else ""
    return BenchFile(path, device, _sections(data))


def find_results(*roots: Path | None) -> list[Path]:
    seen: list[Path] = []
    for root in roots:
        if root is None:
            continue
        for p in sorted((Path(root) / "benchmarks" / "results").glob("*.json")):
            if p.resolve() not in [s.resolve() for s in seen]:
                seen.append(p)
    return seen


def load_all(*roots: Path | None) -> list[BenchFile]:
    """Result files that hold at least one shape × candidate section."""
    return [f for f in (load(p) for p in find_results(*roots)) if f.sections]
