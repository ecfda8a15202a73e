"""What one measurement run produced: the executor's result, read by the gate's evidence."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    role: str  # candidate | baseline
    repeat: int
    status: str
    metric: float | None
    duration_s: float
    error: str = ""
    artifacts: dict[str, str] = field(default_factory=dict)  # file the run wrote -> blob sha256
    sandbox: str = ""  # "bwrap" | "degraded" (ran without a sandbox: review and report say so)
    # Where a remote executor ran it (a Ray node, an HF job): the evidence says which machine measured what.
    where: str = ""
