"""Run a target under ``torch.profiler`` and group the measured time by operator.

An *operator* is one (scope, op) pair: the op is the aten op (or Inductor
kernel) that launched the device kernels — or, on a CPU, that spent the time —
and the scope is the innermost ``nn.Module`` (qualified name with layer indices
folded to ``*``) or annotated function it ran in. Scopes come from
``record_function`` ranges pushed by forward hooks, so
``model.layers.*.input_layernorm`` and ``model.layers.*.mlp.down_proj`` stay
apart even though both run ``aten::mul`` / ``aten::mm``.

Time per operator:

- GPU: the summed duration of the kernels the op launched (CUPTI), so host
  time is not counted as work. Kernels that no op claims (e.g. CUDA-graph
  replays) are kept under their kernel name in scope ``(no op)``.
- CPU: the op's self CPU time.

Warm-up steps run before the profiler's active window (``schedule``), so
compilation, autotuning and allocator growth stay out of the numbers. After the
profile, the same number of steps is timed without the profiler (and without
scope hooks) to give the undisturbed step time.
"""

from __future__ import annotations

import re
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Callable

from labconsole.errors import LabError
from labconsole.profile import estimates
from labconsole.profile.targets import ProfileTarget

SCOPE_PREFIX = "lc:"
NO_OP_SCOPE = "(no op)"
TOP_SCOPE = "(top)"


@dataclass
class OperatorStats:
    """Totals over all active steps for one (scope, op)."""

    name: str
    scope: str
    scope_type: str
    category: str
    time_us: float = 0.0  # device (GPU) or self CPU time
    host_us: float = 0.0  # CPU time spent in the op (GPU targets)
    calls: int = 0
    launches: int = 0  # kernels launched (GPU); calls (CPU)
    bytes: float = 0.0
    flops: float = 0.0
    kernels: Counter = field(default_factory=Counter)
    shapes: Counter = field(default_factory=Counter)


@dataclass
class ScopeStats:
    """One module (or annotated function) scope, over all active steps."""

    calls: int
    host_us: float  # host wall time in the module's own forward, inner modules' excluded (profiler overhead included)


@dataclass
class RawProfile:
    target: ProfileTarget
    steps: int
    warmup: int
    step_times_us: list[float]  # profiled steps, wall clock with a device sync
    unprofiled_step_times_us: list[float]
    device_busy_us: float | None  # union of device activity over the active steps (GPU)
    host_op_us: float  # summed CPU time of top-level ops (CPU targets)
    operators: list[OperatorStats]
    scopes: dict[str, ScopeStats]  # module/function scope -> calls and host time, all active steps
    trace_path: str | None
    torch_version: str
    cuda_version: str | None


def run_profile(target: ProfileTarget, *, steps: int, warmup: int, trace_path: str | None = None) -> RawProfile:
    import torch
    from torch.profiler import ProfilerActivity, profile, schedule

    if steps < 1 or warmup < 0:
        raise LabError("--steps must be ≥ 1 and --warmup ≥ 0")
    on_gpu = target.device == "cuda"
    sync = torch.cuda.synchronize if on_gpu else (lambda: None)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if on_gpu else [])
    captured: dict[str, Any] = {}

    def on_ready(prof) -> None:
        captured["events"] = prof.events()
        if trace_path:
            prof.export_chrome_trace(trace_path)

    # wait=warmup: steps run unprofiled (compile, autotune); warmup=1: the profiler's own start-up step.
    sched = schedule(wait=warmup, warmup=1, active=steps, repeat=1)
    step_times: list[float] = []
    handles = _install_scopes(target)
    try:
        with (
            torch.inference_mode(),
            profile(
                activities=activities,
                schedule=sched,
                record_shapes=True,
                on_trace_ready=on_ready,
            ) as prof,
        ):
            for i in range(warmup + 1 + steps):
                t0 = time.perf_counter()
                _run_step(target, sync)
                elapsed = (time.perf_counter() - t0) * 1e6
                if i >= warmup + 1:
                    step_times.append(elapsed)
                prof.step()
    finally:
        for remove in handles:
            remove()
    unprofiled: list[float] = []
    with torch.inference_mode():
        for _ in range(steps):
            t0 = time.perf_counter()
            _run_step(target, sync)
            unprofiled.append((time.perf_counter() - t0) * 1e6)
    events = captured.get("events")
    if events is None:
        raise LabError("the profiler returned no events (did the step run?)")
    operators, busy, host_ops, scopes = _group(events, on_gpu=on_gpu, default_itemsize=_itemsize(target.dtype))
    return RawProfile(
        target=target,
        steps=steps,
        warmup=warmup,
        step_times_us=step_times,
        unprofiled_step_times_us=unprofiled,
        device_busy_us=busy,
        host_op_us=host_ops,
        operators=operators,
        scopes=scopes,
        trace_path=trace_path,
        torch_version=torch.__version__,
        cuda_version=torch.version.cuda,
    )


def _run_step(target: ProfileTarget, sync: Callable[[], None]) -> None:
    import torch

    try:
        target.step()
        sync()
    except torch.cuda.OutOfMemoryError as exc:
        raise LabError(f"out of GPU memory while running {target.spec!r}: try a smaller --shape") from exc
    except LabError:
        raise
    except Exception as exc:
        raise LabError(f"target {target.spec!r} failed in a step: {type(exc).__name__}: {exc}") from exc


def _itemsize(dtype: str) -> int:
    return {"float64": 8, "float32": 4, "bfloat16": 2, "float16": 2}.get(dtype, 4)


# --- scopes ------------------------------------------------------------------------------------


def scope_name(qualname: str) -> str:
    """``model.layers.17.mlp`` -> ``model.layers.*.mlp``: the 36 layers are one scope."""
    return re.sub(r"(?<=\.)\d+(?=\.|$)", "*", qualname) or TOP_SCOPE


def _install_scopes(target: ProfileTarget) -> list[Callable[[], None]]:
    """Forward hooks that wrap each submodule's call in a ``record_function`` range."""
    import torch

    removers: list[Callable[[], None]] = []
    stack: list[Any] = []
    model = target.model
    if isinstance(model, torch.nn.Module):
        for qualname, module in model.named_modules():
            label = f"{SCOPE_PREFIX}{scope_name(qualname)}|{type(module).__name__}"

            def pre(_mod, _args, label=label):
                rf = torch.profiler.record_function(label)
                rf.__enter__()
                stack.append(rf)

            def post(_mod, _args, _out):
                if stack:
                    stack.pop().__exit__(None, None, None)

            removers.append(module.register_forward_pre_hook(pre).remove)
            removers.append(module.register_forward_hook(post).remove)
    for owner, attr, label in target.annotate:
        original = getattr(owner, attr)
        removers.append(_wrap_function(owner, attr, original, f"{SCOPE_PREFIX}{label}|{label}()"))
    return removers


def _wrap_function(owner: Any, attr: str, original: Callable[..., Any], label: str) -> Callable[[], None]:
    import torch

    def wrapped(*args, **kwargs):
        with torch.profiler.record_function(label):
            return original(*args, **kwargs)

    setattr(owner, attr, wrapped)
    return lambda: setattr(owner, attr, original)


# --- grouping ----------------------------------------------------------------------------------


def _is_cpu(evt) -> bool:
    return str(getattr(evt, "device_type", "")).endswith("CPU")


def _scope_of(evt) -> tuple[str, str]:
    parent = evt.cpu_parent
    while parent is not None:
        if parent.name.startswith(SCOPE_PREFIX):
            scope, _, kind = parent.name[len(SCOPE_PREFIX) :].partition("|")
            return scope, kind
        parent = parent.cpu_parent
    return TOP_SCOPE, ""


def _is_op(evt) -> bool:
    """An operator event: an aten op, an Inductor kernel launch; not our scopes or step markers."""
    name = evt.name
    if name.startswith((SCOPE_PREFIX, "ProfilerStep")):
        return False
    if name.startswith(("cuda", "cudnn", "cublas")) and "::" not in name:
        return False  # runtime API calls (cudaLaunchKernel, ...) are host work inside an op
    return True


def _work_category(evt) -> str | None:
    """The category of work this event does itself, or None (views, allocations, annotations)."""
    if not _is_op(evt) or "::" not in evt.name:
        return None
    category = estimates.category_of(evt.name)
    return None if category == estimates.VIEW else category


def _descendant_work(evt, memo: dict[int, frozenset]) -> frozenset:
    """Categories of work done anywhere below this event."""
    key = id(evt)
    if key not in memo:
        found: set[str] = set()
        for child in evt.cpu_children:
            own = _work_category(child)
            if own:
                found.add(own)
            found |= _descendant_work(child, memo)
        memo[key] = frozenset(found)
    return memo[key]


def _owns_estimate(evt, memo: dict[int, frozenset]) -> bool:
    """Count an op's bytes/FLOPs once, at the innermost op of its kind.

    linear -> matmul -> mm: only mm; to -> _to_copy -> copy_: only copy_; but addmm, whose
    only working child is the bias copy_, keeps its matmul estimate.
    """
    own = _work_category(evt)
    return own is not None and own not in _descendant_work(evt, memo)


def _group(
    events, *, on_gpu: bool, default_itemsize: int
) -> tuple[list[OperatorStats], float | None, float, dict[str, ScopeStats]]:
    ops: dict[tuple[str, str], OperatorStats] = {}
    memo: dict[int, frozenset] = {}
    claimed: Counter = Counter()
    scope_calls: Counter = Counter()
    scope_host: Counter = Counter()
    device_events = []
    host_ops = 0.0
    for evt in events:
        if not _is_cpu(evt):
            if not _is_annotation(evt):
                device_events.append(evt)
            continue
        if evt.name.startswith(SCOPE_PREFIX):
            scope = evt.name[len(SCOPE_PREFIX) :].partition("|")[0]
            scope_calls[scope] += 1
            scope_host[scope] += float(evt.cpu_time_total) - sum(c.cpu_time_total for c in _inner_scopes(evt))
            continue
        if not _is_op(evt):
            continue
        if not on_gpu and _is_top_level_op(evt):
            host_ops += evt.cpu_time_total
        if on_gpu:
            if not evt.kernels:
                continue
            time_us = float(sum(k.duration for k in evt.kernels))
            launches = len(evt.kernels)
            with_estimate = True
        else:
            time_us = float(evt.self_cpu_time_total)
            launches = 1
            # Attribute bytes/FLOPs once: to the innermost op that does work (mm, not linear/matmul).
            with_estimate = _owns_estimate(evt, memo)
        scope, scope_type = _scope_of(evt)
        key = (scope, evt.name)
        stats = ops.get(key)
        if stats is None:
            stats = ops[key] = OperatorStats(evt.name, scope, scope_type, _category(evt.name, scope, scope_type))
        stats.time_us += time_us
        stats.calls += 1
        stats.launches += launches
        stats.host_us += float(evt.cpu_time_total) if on_gpu else 0.0
        shapes = [s for s in (evt.input_shapes or []) if s]
        stats.shapes[str(shapes)[:400]] += 1
        for k in getattr(evt, "kernels", []) or []:
            stats.kernels[k.name] += 1
            claimed[k.name] += 1
        if with_estimate:
            cost = estimates.estimate(
                evt.name,
                evt.input_shapes or [],
                getattr(evt, "input_dtypes", None),
                getattr(evt, "concrete_inputs", None),
                default_itemsize,
            )
            stats.bytes += cost.bytes
            stats.flops += cost.flops
    busy = None
    if on_gpu:
        busy = _union_us(device_events)
        _add_unclaimed(ops, device_events, claimed)
    scopes = {name: ScopeStats(scope_calls[name], scope_host[name]) for name in scope_calls}
    return [s for s in ops.values() if s.time_us > 0], busy, host_ops, scopes


def _inner_scopes(evt) -> list:
    """The nearest scope events below this one (a Linear inside an attention module)."""
    found = []
    for child in evt.cpu_children:
        if child.name.startswith(SCOPE_PREFIX):
            found.append(child)
        else:
            found.extend(_inner_scopes(child))
    return found


def _is_annotation(evt) -> bool:
    """A range on the GPU timeline mirroring a record_function (ours, steps, compiled regions), not work."""
    if getattr(evt, "is_user_annotation", False):
        return True
    name = evt.name
    return name.startswith((SCOPE_PREFIX, "ProfilerStep", "##")) or "Compiled" in name or "Torch-Compiled" in name


def _is_top_level_op(evt) -> bool:
    parent = evt.cpu_parent
    while parent is not None:
        if _is_op(parent):
            return False
        parent = parent.cpu_parent
    return True


def _category(name: str, scope: str, scope_type: str) -> str:
    """The op's category, refined by its scope: every op inside an RMSNorm is norm work."""
    lowered = f"{scope_type} {scope}".lower()
    if "norm" in scope_type.lower():
        return estimates.NORM
    if "rotary" in lowered:
        return estimates.ROTARY
    return estimates.category_of(name)


def _add_unclaimed(ops: dict[tuple[str, str], OperatorStats], device_events, claimed: Counter) -> None:
    """Device work no op claimed (graph replays, memcpys from the runtime) keeps its kernel name."""
    remaining = Counter(claimed)
    for evt in device_events:
        name = evt.name
        if remaining[name] > 0:
            remaining[name] -= 1
            continue
        duration = evt.time_range.end - evt.time_range.start
        key = (NO_OP_SCOPE, name)
        stats = ops.get(key)
        if stats is None:
            stats = ops[key] = OperatorStats(name, NO_OP_SCOPE, "", estimates.category_of(name))
        stats.time_us += duration
        stats.calls += 1
        stats.launches += 1
        stats.kernels[name] += 1


def _union_us(device_events) -> float:
    spans = sorted((e.time_range.start, e.time_range.end) for e in device_events)
    total = 0.0
    cur_start = cur_end = None
    for start, end in spans:
        if cur_end is None or start > cur_end:
            if cur_end is not None:
                total += cur_end - cur_start
            cur_start, cur_end = start, end
        else:
            cur_end = max(cur_end, end)
    if cur_end is not None:
        total += cur_end - cur_start
    return total


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0
