"""Profile JSONs (``labconsole.profile/1``, written by ``labconsole profile --json``) → small records.

Looked for under ``<lab>/profiles/``, ``<lab>/benchmarks/results/`` and the repo's
``benchmarks/results/``. Pure data; the profile screen renders it. The raw dict is
kept because the hypotheses are computed from it (``hypotheses_from_profile``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labconsole.profile.report import SCHEMA  # no torch import behind it

SUBDIRS = ("profiles", "benchmarks/results")
VERDICTS = ("memory-bound", "compute-bound", "overhead-bound", "unknown")


@dataclass
class OperatorRow:
    rank: int
    name: str
    scope: str
    category: str
    verdict: str
    time_us: float
    share: float
    calls: float
    gbps: float
    tflops: float
    intensity: float | None


@dataclass
class ProfileFile:
    path: Path
    target: str
    device: str
    step_time_us: float
    peaks: dict[str, Any]
    operators: list[OperatorRow]
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def label(self) -> str:
        compiled = self.raw.get("target", {}).get("compiled")
        return f"{self.target} ({'compiled ' + compiled if compiled else 'eager'})"


def _num(value: Any, default: float = 0.0) -> float:
    try:
        return float(value) if value is not None else default
    except (TypeError, ValueError):
        return default


def _row(r: dict[str, Any], i: int) -> OperatorRow:
    verdict = str(r.get("verdict") or "unknown")
    return OperatorRow(
        rank=int(r.get("rank") or i + 1),
        name=str(r.get("name", "?")),
        scope=str(r.get("scope", "")),
        category=str(r.get("category", "")),
        verdict=verdict if verdict in VERDICTS else "unknown",
        time_us=_num(r.get("time_us")),
        share=_num(r.get("share")),
        calls=_num(r.get("calls")),
        gbps=_num(r.get("gbps")),
        tflops=_num(r.get("tflops")),
        intensity=None if r.get("intensity") is None else _num(r.get("intensity")),
    )


def from_dict(data: dict[str, Any], path: Path) -> ProfileFile:
    target: dict[str, Any] = data["target"] if isinstance(data.get("target"), dict) else {}
    device: dict[str, Any] = data["device"] if isinstance(data.get("device"), dict) else {}
    ops = [r for r in data.get("operators", []) if isinstance(r, dict)]
    return ProfileFile(
        path=path,
        target=str(target.get("spec", "?")),
        device=str(device.get("name") or device.get("kind") or "?"),
        step_time_us=_num(data.get("step_time_us")),
        peaks=data["peaks"] if isinstance(data.get("peaks"), dict) else {},
        operators=[_row(r, i) for i, r in enumerate(ops)],
        raw=data,
    )


def load(path: Path) -> ProfileFile | None:
    """The profile at ``path``, or None when it is unreadable or another kind of JSON."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        return None
    return from_dict(data, path)


def find_profiles(lab_root: Path | None, repo_root: Path | None) -> list[Path]:
    """Candidate JSONs, lab first, each file once (the lab may be the repo)."""
    dirs: list[Path] = []
    if lab_root is not None:
        dirs += [Path(lab_root) / sub for sub in SUBDIRS]
    if repo_root is not None:
        dirs.append(Path(repo_root) / "benchmarks" / "results")
    seen: set[Path] = set()
    out: list[Path] = []
    for d in dirs:
        for p in sorted(d.glob("*.json")):
            if p.resolve() not in seen:
                seen.add(p.resolve())
                out.append(p)
    return out


def load_all(lab_root: Path | None, repo_root: Path | None) -> list[ProfileFile]:
    """Every profile found; other JSONs (kernel benchmarks, logs) are skipped."""
    return [f for f in (load(p) for p in find_profiles(lab_root, repo_root)) if f is not None]
