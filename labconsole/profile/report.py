"""Turn a RawProfile into the profile JSON (schema in ``labconsole.profile``) and a shell table."""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
from collections import defaultdict
from datetime import datetime, UTC
from pathlib import Path
from typing import Any

from labconsole.profile.roofline import Peaks, classify
from labconsole.profile.runner import OperatorStats, RawProfile, median

SCHEMA = "labconsole.profile/1"


def build(raw: RawProfile, peaks: Peaks, *, command: str | None = None) -> dict[str, Any]:
    steps = raw.steps
    step_us = sum(raw.step_times_us) / len(raw.step_times_us)
    operators = [_operator_row(op, steps, step_us, peaks) for op in raw.operators]
    operators.sort(key=lambda r: r["time_us"], reverse=True)
    for rank, row in enumerate(operators, 1):
        row["rank"] = rank
    if raw.device_busy_us is not None:
        busy = raw.device_busy_us / steps
        idle_what = "device idle: launch gaps, host-side Python/dispatch, syncs"
    else:
        busy = raw.host_op_us / steps
        idle_what = "time outside any op: Python and framework code"
    idle = max(step_us - busy, 0.0)
    target = raw.target
    return {
        "schema": SCHEMA,
        "target": {
            "spec": target.spec,
            "description": target.description,
            "device": target.device,
            "dtype": target.dtype,
            "shape": target.shape,
            "compiled": target.compiled,
            "config": target.config,
        },
        "device": {"kind": peaks.kind, "name": peaks.device},
        "peaks": peaks.to_dict(),
        "steps": steps,
        "warmup": raw.warmup,
        "step_time_us": round(step_us, 2),
        "step_time_us_median": round(median(raw.step_times_us), 2),
        "step_time_us_unprofiled": round(median(raw.unprofiled_step_times_us), 2),
        "busy_us": round(busy, 2),
        "idle_us": round(idle, 2),
        "idle_share": round(idle / step_us, 4) if step_us else 0.0,
        "idle_means": idle_what,
        "operators": operators,
        "groups": _rollup(operators, raw, step_us, peaks, key="scope_type"),
        "categories": _rollup(operators, raw, step_us, peaks, key="category"),
        "trace": raw.trace_path,
        "provenance": _provenance(raw, command),
    }


def _operator_row(op: OperatorStats, steps: int, step_us: float, peaks: Peaks) -> dict[str, Any]:
    time_us = op.time_us / steps
    launches = op.launches / steps
    nbytes = op.bytes / steps
    flops = op.flops / steps
    verdict = classify(
        time_us=time_us, launches=launches, nbytes=nbytes, flops=flops, host_us=op.host_us / steps, peaks=peaks
    )
    return {
        "name": op.name,
        "scope": op.scope,
        "scope_type": op.scope_type,
        "category": op.category,
        "verdict": verdict.verdict,
        "reason": verdict.reason,
        **_rates(time_us, nbytes, flops),
        "share": round(time_us / step_us, 4) if step_us else 0.0,
        "calls": _per_step(op.calls, steps),
        "launches": _per_step(op.launches, steps),
        "mean_us": round(op.time_us / op.calls, 3) if op.calls else 0.0,
        "host_us": round(op.host_us / steps, 2),
        "ideal_us": round(verdict.ideal_us, 3),
        "efficiency": round(verdict.efficiency, 4),
        "kernel": op.kernels.most_common(1)[0][0] if op.kernels else None,
        "shapes": op.shapes.most_common(1)[0][0] if op.shapes else None,
    }


def _rates(time_us: float, nbytes: float, flops: float) -> dict[str, Any]:
    return {
        "time_us": round(time_us, 3),
        "bytes": int(nbytes),
        "flops": int(flops),
        "gbps": round(nbytes / time_us / 1e3, 2) if time_us else 0.0,
        "tflops": round(flops / time_us / 1e6, 4) if time_us else 0.0,
        "intensity": round(flops / nbytes, 3) if nbytes else None,
    }


def _per_step(total: float, steps: int) -> float | int:
    value = total / steps
    return int(value) if value == int(value) else round(value, 2)


def _rollup(
    rows: list[dict[str, Any]], raw: RawProfile, step_us: float, peaks: Peaks, *, key: str
) -> list[dict[str, Any]]:
    """Sum operators by module type (``Qwen3RMSNorm``) or by category, with a verdict for the whole."""
    buckets: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        buckets[row[key] or ("(no module)" if key == "scope_type" else "other")].append(row)
    scopes_seen = raw.scopes
    out = []
    for name, members in buckets.items():
        time_us = sum(r["time_us"] for r in members)
        nbytes = sum(r["bytes"] for r in members)
        flops = sum(r["flops"] for r in members)
        launches = sum(r["launches"] for r in members)
        scopes = sorted({r["scope"] for r in members})
        known = [scopes_seen[s] for s in scopes if s in scopes_seen] if key == "scope_type" else []
        if known:
            # The module's own forward wall time (inner modules excluded): its whole host cost, wrappers included.
            host = sum(s.host_us for s in known) / raw.steps
            invocations: float | None = sum(s.calls for s in known) / raw.steps
        else:
            host = sum(r["host_us"] for r in members)
            invocations = None
        verdict = classify(time_us=time_us, launches=launches, nbytes=nbytes, flops=flops, host_us=host, peaks=peaks)
        out.append(
            {
                "name": name,
                "verdict": verdict.verdict,
                "reason": verdict.reason,
                **_rates(time_us, nbytes, flops),
                "share": round(time_us / step_us, 4) if step_us else 0.0,
                "launches": round(launches, 2),
                "invocations": invocations,
                "host_us": round(host, 2),
                "ideal_us": round(verdict.ideal_us, 3),
                "scopes": scopes,
            }
        )
    out.sort(key=lambda r: r["time_us"], reverse=True)
    return out


def _provenance(raw: RawProfile, command: str | None) -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "python": platform.python_version(),
        "torch": raw.torch_version,
        "cuda": raw.cuda_version,
        "command": command,
        "git_sha": _git_sha(),
    }
    try:
        import transformers

        info["transformers"] = transformers.__version__
    except ImportError:
        info["transformers"] = None
    if raw.target.device == "cuda":
        info["driver"] = _nvidia_driver()
        info["gpu"] = torch.cuda.get_device_name()
    from labconsole import __version__

    info["labconsole"] = __version__
    return info


def _git_sha() -> str | None:
    if os.environ.get("LABCONSOLE_GIT_SHA"):  # a copied tree (a leased GPU) has no .git: the caller says
        return os.environ["LABCONSOLE_GIT_SHA"]
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=Path(__file__).resolve().parent
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _nvidia_driver() -> str | None:
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return out.stdout.strip().splitlines()[0] if out.stdout.strip() else None
    except (OSError, subprocess.SubprocessError, IndexError):
        return None


def write_json(profile: dict[str, Any], path: str | Path) -> None:
    Path(path).write_text(json.dumps(profile, indent=2, sort_keys=False) + "\n")


# --- shell table -------------------------------------------------------------------------------

_VERDICT_SHORT = {"memory-bound": "memory", "compute-bound": "compute", "overhead-bound": "overhead", "unknown": "?"}


def render_table(profile: dict[str, Any], top: int = 25, width: int = 140) -> str:
    peaks = profile["peaks"]
    t = profile["target"]
    lines = [
        f"{t['spec']} on {profile['device']['name']} ({t['dtype']}{', compiled ' + t['compiled'] if t['compiled'] else ', eager'}): "
        f"{t['description']}",
        f"step {profile['step_time_us']:.0f} µs profiled, {profile['step_time_us_unprofiled']:.0f} µs unprofiled; "
        f"busy {profile['busy_us']:.0f} µs, idle {profile['idle_us']:.0f} µs ({profile['idle_share']:.0%}: {profile['idle_means']})",
        f"peaks: copy {peaks['copy_gbps']:.0f} GB/s, matmul {peaks['matmul_tflops']:.3g} TFLOP/s, "
        f"ridge {peaks['ridge_flop_per_byte']:.0f} FLOP/B",
        "",
        f"{'#':>3} {'share':>6} {'µs/step':>9} {'calls':>6} {'mean µs':>8} {'GB/s':>8} {'TFLOP/s':>8} {'FLOP/B':>7}  {'verdict':<9} operator",
    ]
    for row in profile["operators"][:top]:
        label = row["name"] if row["scope"] in ("(top)",) else f"{row['scope']} › {row['name']}"
        intensity = f"{row['intensity']:.1f}" if row["intensity"] is not None else "-"
        line = (
            f"{row['rank']:>3} {row['share']:>6.1%} {row['time_us']:>9.1f} {row['calls']!s:>6} {row['mean_us']:>8.2f} "
            f"{row['gbps']:>8.1f} {row['tflops']:>8.2f} {intensity:>7}  {_VERDICT_SHORT[row['verdict']]:<9} {label}"
        )
        lines.append(line[:width])
    hidden = len(profile["operators"]) - top
    if hidden > 0:
        rest = sum(r["share"] for r in profile["operators"][top:])
        lines.append(f"    … {hidden} more operators, {rest:.1%} of the step")
    lines += ["", "by module:"]
    for g in profile["groups"][:8]:
        lines.append(f"    {g['share']:>6.1%} {g['time_us']:>9.1f} µs  {_VERDICT_SHORT[g['verdict']]:<9} {g['name']}")
    lines += ["", "by category:"]
    for g in profile["categories"]:
        lines.append(f"    {g['share']:>6.1%} {g['time_us']:>9.1f} µs  {_VERDICT_SHORT[g['verdict']]:<9} {g['name']}")
    return "\n".join(lines)
