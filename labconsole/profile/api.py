"""One call from a target spec to a profile dict (what the CLI and the TUI use)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from labconsole.errors import LabError
from labconsole.profile import report, roofline, runner, targets


def profile_target(
    spec: str,
    *,
    shape: dict[str, Any] | None = None,
    steps: int = 20,
    warmup: int = 5,
    device: str | None = None,
    compile_mode: str | None = None,
    trace_path: str | Path | None = None,
    peaks_cache: Path | None = None,
    refresh_peaks: bool = False,
    command: str | None = None,
) -> dict[str, Any]:
    """Build ``spec``, profile ``steps`` steps after ``warmup``, and return the profile dict."""
    target = targets.resolve(spec, shape=shape or {}, device=device, compile_mode=compile_mode)
    raw = runner.run_profile(target, steps=steps, warmup=warmup, trace_path=str(trace_path) if trace_path else None)
    peaks = roofline.get_peaks(target.device, target.dtype, cache=peaks_cache, refresh=refresh_peaks)
    return report.build(raw, peaks, command=command)


def load_profile(path: str | Path) -> dict[str, Any]:
    """A profile JSON written earlier (``--json``), checked for its schema."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise LabError(f"cannot read profile {str(path)!r}: {exc}") from exc
    if not isinstance(data, dict) or data.get("schema") != report.SCHEMA:
        raise LabError(f"{str(path)!r} is not a profile (expected schema {report.SCHEMA!r})")
    return data
