"""GPU-side grouping on synthetic profiler events: kernels to ops, scopes, unclaimed work, busy time.

The CPU end-to-end test cannot reach the CUDA branch; these events have the
shape ``torch.profiler``'s FunctionEvents have on a GPU run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from labconsole.profile import runner


@dataclass
class K:
    name: str
    duration: float


@dataclass
class TR:
    start: float
    end: float


@dataclass
class Ev:
    name: str
    device_type: str = "DeviceType.CPU"
    kernels: list[K] = field(default_factory=list)
    input_shapes: list[Any] = field(default_factory=list)
    input_dtypes: list[str] = field(default_factory=list)
    concrete_inputs: list[Any] = field(default_factory=list)
    cpu_time_total: float = 0.0
    self_cpu_time_total: float = 0.0
    time_range: TR = field(default_factory=lambda: TR(0, 0))
    cpu_parent: Ev | None = None
    cpu_children: list[Ev] = field(default_factory=list)


def _child(parent: Ev, child: Ev) -> Ev:
    child.cpu_parent = parent
    parent.cpu_children.append(child)
    return child


def test_kernels_are_grouped_by_scope_and_op() -> None:
    bf16 = "c10::BFloat16"
    events: list[Ev] = []
    for _layer in range(2):  # two layers' input_layernorm: one scope after folding the index
        scope = Ev("lc:model.layers.*.input_layernorm|Qwen3RMSNorm", cpu_time_total=30.0)
        mul = _child(
            scope,
            Ev(
                "aten::mul",
                kernels=[K("vectorized_elementwise_kernel", 2.0)],
                input_shapes=[[1, 1, 4096], [1, 1, 1]],
                input_dtypes=["float", "float"],
                cpu_time_total=9.0,
            ),
        )
        proj = Ev("lc:model.layers.*.mlp.down_proj|Linear", cpu_time_total=25.0)
        linear = _child(proj, Ev("aten::linear", cpu_time_total=20.0))
        mm = _child(
            linear,
            Ev(
                "aten::mm",
                kernels=[K("sm90_gemm", 40.0)],
                input_shapes=[[1, 12288], [12288, 4096]],
                input_dtypes=[bf16, bf16],
                cpu_time_total=12.0,
            ),
        )
        events += [scope, mul, proj, linear, mm]
    # Device timeline: the four claimed kernels, one graph-replayed kernel nobody claims, and a
    # GPU-side mirror of a scope (an annotation, not work).
    t = 0.0
    for name, dur in [("vectorized_elementwise_kernel", 2.0), ("sm90_gemm", 40.0)] * 2 + [("graph_kernel", 5.0)]:
        events.append(Ev(name, device_type="DeviceType.CUDA", time_range=TR(t, t + dur)))
        t += dur + 1.0
    events.append(
        Ev("lc:model.layers.*.input_layernorm|Qwen3RMSNorm", device_type="DeviceType.CUDA", time_range=TR(0, 1000))
    )
    ops, busy, _, scopes = runner._group(events, on_gpu=True, default_itemsize=2)
    by_key = {(o.scope, o.name): o for o in ops}
    assert set(by_key) == {
        ("model.layers.*.input_layernorm", "aten::mul"),
        ("model.layers.*.mlp.down_proj", "aten::mm"),
        (runner.NO_OP_SCOPE, "graph_kernel"),
    }
    mul = by_key[("model.layers.*.input_layernorm", "aten::mul")]
    assert (mul.time_us, mul.calls, mul.launches, mul.category) == (4.0, 2, 2, "norm")
    assert mul.bytes == 2 * (4096 * 4 + 4 + 4096 * 4)
    mm = by_key[("model.layers.*.mlp.down_proj", "aten::mm")]
    assert mm.time_us == 80.0 and mm.flops == 2 * 2 * 12288 * 4096 and mm.host_us == 24.0
    assert by_key[(runner.NO_OP_SCOPE, "graph_kernel")].time_us == 5.0
    assert busy == 2 * (2.0 + 40.0) + 5.0  # the annotation's 1000 µs span is not device work
    assert scopes == {
        "model.layers.*.input_layernorm": runner.ScopeStats(2, 60.0),
        "model.layers.*.mlp.down_proj": runner.ScopeStats(2, 50.0),
    }


def test_a_scope_host_time_excludes_inner_scopes() -> None:
    outer = Ev("lc:model.layers.*.self_attn|Qwen3Attention", cpu_time_total=100.0)
    op = _child(outer, Ev("aten::view", cpu_time_total=5.0))
    inner = _child(op, Ev("lc:model.layers.*.self_attn.q_proj|Linear", cpu_time_total=40.0))
    _, _, _, scopes = runner._group([outer, op, inner], on_gpu=True, default_itemsize=2)
    assert scopes["model.layers.*.self_attn"].host_us == 60.0


def test_scope_names_fold_layer_indices() -> None:
    assert runner.scope_name("model.layers.17.mlp.down_proj") == "model.layers.*.mlp.down_proj"
    assert runner.scope_name("blocks.3") == "blocks.*"
    assert runner.scope_name("") == runner.TOP_SCOPE
    assert runner.scope_name("layer10norm") == "layer10norm"
