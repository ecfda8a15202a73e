"""Profile first: where a step's time goes, and what bounds each operator.

``labconsole profile TARGET`` runs a target (see ``targets``) under
``torch.profiler``, groups device time by operator (``runner``), estimates
each operator's bytes and FLOPs from its recorded shapes (``estimates``),
judges it against the device's measured peaks (``roofline``), and writes a
ranked table, a JSON document and a Chrome trace (``report``). ``--propose``
turns the top memory- and overhead-bound operators into hypotheses for a lab
session (``hypotheses``).

Profile JSON, schema ``labconsole.profile/1``
---------------------------------------------
All times are microseconds **per step** (totals over the profiled steps
divided by their number) unless named otherwise; bytes and FLOPs likewise.

``schema``         "labconsole.profile/1"
``target``         {spec, description, device ("cuda"|"cpu"), dtype, shape {..}, compiled (mode|null), config {..}}
``device``         {kind ("cuda"|"cpu"), name}
``peaks``          {device, kind, dtype, copy_gbps (read+write GB/s), matmul_tflops, ridge_flop_per_byte,
                    measured_at, method} — measured once per device name and dtype, cached
``steps``, ``warmup``  profiled steps; unprofiled warm-up steps before them
``step_time_us``   mean wall time of a profiled step (device synchronized at its end); shares are of this
``step_time_us_median``, ``step_time_us_unprofiled``  median profiled / median without profiler and scope hooks
``busy_us``        GPU: union of device activity; CPU: time inside top-level ops
``idle_us``, ``idle_share``, ``idle_means``  step time not covered by ``busy_us``, and what that is
``operators``      ranked by ``time_us``, one per (scope, op):
    ``rank``        1 = most time
    ``name``        aten op or Inductor kernel that launched the kernels (``aten::mm``, ``triton_red_fused_…``)
    ``scope``       innermost module (``model.layers.*.mlp.down_proj``) or annotated function; ``(top)`` outside
                    any module; ``(no op)`` device work no op claimed (e.g. CUDA-graph replays)
    ``scope_type``  that module's class (``Linear``, ``Qwen3RMSNorm``), or ``fn()`` for a function
    ``category``    matmul | attention | norm | softmax | rotary | elementwise | reduction | embedding | copy | view | other
    ``verdict``     memory-bound | compute-bound | overhead-bound | unknown; ``reason`` says why
    ``time_us``     device time (GPU kernels) or self CPU time (CPU)
    ``share``       time_us / step_time_us
    ``calls``       op calls per step; ``launches`` kernels per step (GPU) or calls (CPU)
    ``mean_us``     time per call
    ``bytes``, ``flops``  estimated minimum per step (0: no estimate for this op)
    ``gbps``, ``tflops``  achieved: bytes / time, flops / time
    ``intensity``   flops / bytes (null without a byte estimate)
    ``ideal_us``, ``efficiency``  roofline time max(bytes/peak B/s, flops/peak FLOP/s) and ideal_us / time_us
    ``host_us``     CPU time of the op's calls (GPU targets): dispatch cost
    ``kernel``      the op's most frequent kernel name; ``shapes`` its most frequent input shapes
``groups``         the same sums by module class (``Qwen3RMSNorm``): {name, verdict, reason, time_us, share, launches,
                   invocations (module calls per step), bytes, flops, gbps, tflops, intensity, ideal_us, scopes}
``categories``     the same sums by category
``trace``          Chrome trace path or null
``provenance``     {created_at, host, python, torch, cuda, transformers, driver, gpu, git_sha, labconsole, command}
"""

from __future__ import annotations

from labconsole.profile.api import load_profile, profile_target
from labconsole.profile.hypotheses import hypotheses_from_profile
from labconsole.profile.report import SCHEMA, render_table

__all__ = ["SCHEMA", "hypotheses_from_profile", "load_profile", "profile_target", "render_table"]
