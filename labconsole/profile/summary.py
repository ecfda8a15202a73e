"""A short markdown summary of several profiles: what dominates, what is memory-bound,
what RMSNorm and its residual add cost, eager against compiled."""

from __future__ import annotations

import ast
import math
from typing import Any

MEMORY = "memory-bound"


def norm_and_residual(profile: dict[str, Any]) -> dict[str, float]:
    """Time per step in RMSNorm work and in the residual adds that feed the layer norms.

    Eager: ops in any ``*RMSNorm`` module scope, and ``aten::add`` in the decoder-layer scope.
    Compiled: Inductor fuses them, so it is the norm-category kernels (those with an ``add`` in
    their fused name include the residual).
    """
    rows = profile.get("operators", [])
    norm = [r for r in rows if r["category"] == "norm"]
    residual = [r for r in rows if r["name"] in ("aten::add", "aten::add_")
                and any(w in (r.get("scope_type") or "") for w in ("Layer", "Block"))]
    # Every norm kernel has an add (variance + eps); one fused with the residual also reads the
    # residual and writes the sum: three or more hidden-sized tensors instead of two.
    fused_with_add = [r for r in norm if r["name"].startswith(("triton_", "cpp_")) and _hidden_sized_args(r) >= 3]
    step = float(profile["step_time_us"]) or 1.0
    norm_us = sum(r["time_us"] for r in norm)
    residual_us = sum(r["time_us"] for r in residual)
    layer_norm_us = sum(r["time_us"] for r in norm if r["scope"].endswith(("input_layernorm", "post_attention_layernorm")))
    qk_norm_us = sum(r["time_us"] for r in norm if r["scope"].endswith(("q_norm", "k_norm")))
    return {
        "norm_us": norm_us, "norm_share": norm_us / step,
        "layer_norm_us": layer_norm_us, "qk_norm_us": qk_norm_us,
        "residual_add_us": residual_us, "residual_add_share": residual_us / step,
        "norm_kernels_with_add_us": sum(r["time_us"] for r in fused_with_add),
        "norm_launches": sum(r["launches"] for r in norm),
        "together_share": (norm_us + residual_us) / step,
        # Eager only: host wall time inside the norm modules' forwards (profiled, so inflated).
        "norm_host_us": sum(g.get("host_us") or 0.0 for g in profile.get("groups", []) if "norm" in g["name"].lower()),
    }


def floor_us(profile: dict[str, Any]) -> float:
    """Σ roofline-ideal time of the operators: no version of this step, op for op, runs faster."""
    return sum(r.get("ideal_us") or 0.0 for r in profile.get("operators", []))


def _hidden_sized_args(row: dict[str, Any]) -> int:
    """How many of a kernel's activation arguments (2-D or more) have the largest element count.

    1-D arguments are weights: at decode a [4096] weight is as large as a [1, 1, 4096] activation.
    """
    try:
        shapes = ast.literal_eval(row.get("shapes") or "[]")
    except (ValueError, SyntaxError):
        return 0
    sizes = [math.prod(s) for s in shapes if isinstance(s, list) and len(s) >= 2 and all(isinstance(d, int) for d in s)]
    return sum(1 for n in sizes if sizes and n == max(sizes))


def _label(p: dict[str, Any]) -> str:
    t = p["target"]
    return f"{t['spec']} ({'compiled ' + t['compiled'] if t.get('compiled') else 'eager'})"


def summarize(profiles: list[dict[str, Any]], *, top: int = 6, notes: list[str] | None = None) -> str:
    if not profiles:
        return "# Profile summary\n\nNo profile completed.\n"
    first = profiles[0]
    prov = first.get("provenance", {})
    peaks = first["peaks"]
    lines = [
        "# Profile summary",
        "",
        f"- device: {first['device']['name']}; driver {prov.get('driver')}; torch {prov.get('torch')} "
        f"(CUDA {prov.get('cuda')}); transformers {prov.get('transformers')}",
        f"- commit {prov.get('git_sha')}; {prov.get('created_at')}",
        f"- measured peaks: copy {peaks['copy_gbps']:.0f} GB/s (read+write), {peaks['dtype']} matmul "
        f"{peaks['matmul_tflops']:.3g} TFLOP/s, ridge {peaks['ridge_flop_per_byte']:.0f} FLOP/B ({peaks['method']})",
        "- times are µs per step; shares are of the profiled step (device synchronized at its end); "
        "busy = device activity (GPU) or time in ops (CPU); roofline floor = Σ over operators of "
        "max(bytes / copy bandwidth, FLOPs / matmul peak)",
        "",
        "| profile | step µs (profiled) | step µs (no profiler) | busy | idle share | roofline floor | RMSNorm | residual add | RMSNorm + add |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for p in profiles:
        n = norm_and_residual(p)
        lines.append(
            f"| {_label(p)} | {p['step_time_us']:.0f} | {p['step_time_us_unprofiled']:.0f} | {p['busy_us']:.0f} | "
            f"{p['idle_share']:.0%} | {floor_us(p):.0f} | {n['norm_us']:.0f} µs ({n['norm_share']:.1%}) | "
            f"{n['residual_add_us']:.0f} µs ({n['residual_add_share']:.1%}) | {n['together_share']:.1%} |"
        )
    for p in profiles:
        n = norm_and_residual(p)
        lines += ["", f"## {_label(p)}", "", p["target"]["description"], ""]
        lines.append(f"Top operators ({len(p['operators'])} in all):")
        lines.append("")
        lines.append("| # | operator | share | µs/step | calls | GB/s | TFLOP/s | verdict |")
        lines.append("|---|---|---|---|---|---|---|---|")
        for r in p["operators"][:top]:
            where = "" if r["scope"].startswith("(") else f"{r['scope']} › "
            lines.append(f"| {r['rank']} | {where}{r['name']} | {r['share']:.1%} | {r['time_us']:.0f} | {r['calls']} | "
                         f"{r['gbps']:.0f} | {r['tflops']:.1f} | {r['verdict']} |")
        cats = ", ".join(f"{c['name']} {c['share']:.1%} ({c['verdict']})" for c in p["categories"][:6])
        lines += ["", f"By category: {cats}.", ""]
        mem = [r for r in p["operators"] if r["verdict"] == MEMORY][:top]
        if mem:
            lines.append("Memory-bound: " + "; ".join(
                f"{'' if r['scope'].startswith('(') else r['scope'] + ' › '}{r['name']} {r['share']:.1%} at "
                f"{r['gbps']:.0f} GB/s ({r['efficiency']:.0%} of roofline)" for r in mem) + ".")
        verdicts: dict[str, float] = {}
        for r in p["operators"]:
            verdicts[r["verdict"]] = verdicts.get(r["verdict"], 0.0) + r["share"]
        lines.append("Share of the step by verdict: " + ", ".join(
            f"{v} {s:.1%}" for v, s in sorted(verdicts.items(), key=lambda kv: -kv[1])) + ".")
        lines.append(
            f"RMSNorm: {n['norm_us']:.0f} µs ({n['norm_share']:.1%}) in {n['norm_launches']:.0f} launches "
            f"(layer norms {n['layer_norm_us']:.0f} µs, QK-norms {n['qk_norm_us']:.0f} µs); residual adds "
            f"{n['residual_add_us']:.0f} µs ({n['residual_add_share']:.1%})"
            + (f"; of the norm kernels, {n['norm_kernels_with_add_us']:.0f} µs are fused with the residual add "
               "(≥ 3 hidden-sized tensors)" if n["norm_kernels_with_add_us"] else "")
            + (f"; host time inside the norm modules {n['norm_host_us']:.0f} µs a step (under the profiler)"
               if n["norm_host_us"] else "")
            + "."
        )
    if notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"
