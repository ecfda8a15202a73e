"""Picks the executor ``[executor] kind`` names (local, Ray, HF Jobs) for the orchestrator."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from labconsole.core.config import LabConfig
from labconsole.runs.executor import Append, ExecutorContext
from labconsole.runs.preflight import preflight

__all__ = ["build_executor", "preflight"]


def build_executor(
    config: LabConfig, repo: Any, append: Append, put_blob: Callable[[bytes], str], runs_dir: Path, **local_options: Any
) -> Any:
    """The executor for ``config``; call :func:`preflight` first. ``local_options`` go to the local executor
    (tracker, lease pool, GPU owners, sampler)."""
    kind = config.executor.kind
    ctx = ExecutorContext(repo, config, append, put_blob, runs_dir)
    if kind == "ray":
        from labconsole.runs.ray_executor import RayExecutor

        executor: Any = RayExecutor(ctx)
        executor.connect()
        return executor
    if kind == "hf-jobs":
        from labconsole.runs.hf_jobs import HfJobsExecutor

        return HfJobsExecutor(ctx)
    from labconsole.runs.local import LocalExecutor

    return LocalExecutor(ctx, **local_options)
