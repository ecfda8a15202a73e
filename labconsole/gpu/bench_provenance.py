"""Where a benchmark ran: versions, commit, device and clocks at start; and the check that a CUDA GPU is there."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from labconsole.errors import LabError


def _git(cwd: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def provenance(kernel_dir: Path, cpu_smoke: bool, kernel_note: str = "") -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "kernel_dir": str(kernel_dir),
        "kernel_load": kernel_note,
        # A copied tree (the device machine's) has no .git: the caller may pass the commit in.
        "git_commit": _git(kernel_dir, "rev-parse", "HEAD") or os.environ.get("LABCONSOLE_GIT_COMMIT"),
        "git_dirty": None,
        "argv": sys.argv,
    }
    status = _git(kernel_dir, "status", "--porcelain", "--", ".")
    info["git_dirty"] = None if status is None else bool(status)
    try:
        import triton  # type: ignore[import-not-found]

        info["triton"] = triton.__version__
    except Exception:
        info["triton"] = None
    if cpu_smoke:
        info.update(device="cpu (smoke)", driver=None)
        return info
    props = torch.cuda.get_device_properties(0)
    info.update(
        device=torch.cuda.get_device_name(0),
        device_capability=".".join(map(str, torch.cuda.get_device_capability(0))),
        sm_count=props.multi_processor_count,
        l2_bytes=getattr(props, "L2_cache_size", None),
        device_mem_bytes=props.total_memory,
        cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
    )
    from labconsole.gpu.telemetry import GpuTelemetry

    tel = GpuTelemetry()
    snap = tel.snapshot()
    tel.close()
    info["driver"] = snap.driver_version
    if snap.available and snap.gpus:
        g = snap.gpus[0]
        info["clocks_at_start"] = {
            "sm_mhz": g.sm_clock_mhz,
            "mem_mhz": g.mem_clock_mhz,
            "power_limit_w": g.power_limit_w,
            "temp_c": g.temperature_c,
        }
    return info


def require_cuda() -> None:
    try:
        import torch
    except ImportError as exc:
        raise LabError("labconsole bench needs PyTorch with CUDA: torch is not installed") from exc
    if not torch.cuda.is_available():
        raise LabError(
            f"labconsole bench needs a CUDA GPU: torch {torch.__version__} sees none "
            "(use --cpu-smoke to check a benchmark file's logic on CPU; its numbers mean nothing)"
        )
