"""A short markdown summary of several profiles: what dominates, what is memory-bound,
what RMSNorm and its residual add cost, eager against compiled."""

from __future__ import annotations

import ast
import math
from typing import Any

from labconsole.profile import estimates
from labconsole.profile.hypotheses import hypotheses_from_profile
from labconsole.profile.roofline import Peaks, classify

MEMORY = "memory-bound"


def norm_and_residual(profile: dict[str, Any]) -> dict[str, float]:
    """Time per step in RMSNorm work and in the residual adds that feed the layer norms.

    Eager: ops in any ``*RMSNorm`` module scope, and ``aten::add`` in the decoder-layer scope.
    Compiled: Inductor fuses them, so it is the norm-category kernels (those with an ``add`` in
    their fused name include the residual).
    """
    rows = profile.get("operators", [])
    norm = [r for r in rows if r["category"] == "norm" and (not _is_fused(r) or _has_weight_vector(r))]
    residual = [
        r
        for r in rows
        if r["name"] in ("aten::add", "aten::add_")
        and any(w in (r.get("scope_type") or "") for w in ("Layer", "Block"))
    ]
    # Every norm kernel has an add (variance + eps); one fused with the residual also reads the
    # residual and writes the sum: three or more hidden-sized tensors instead of two.
    fused_with_add = [r for r in norm if _is_fused(r) and _hidden_sized_args(r) >= 3]
    step = float(profile["step_time_us"]) or 1.0
    norm_us = sum(r["time_us"] for r in norm)
    residual_us = sum(r["time_us"] for r in residual)
    layer_norm_us = sum(
        r["time_us"] for r in norm if r["scope"].endswith(("input_layernorm", "post_attention_layernorm"))
    )
    qk_norm_us = sum(r["time_us"] for r in norm if r["scope"].endswith(("q_norm", "k_norm")))
    return {
        "norm_us": norm_us,
        "norm_share": norm_us / step,
        "layer_norm_us": layer_norm_us,
        "qk_norm_us": qk_norm_us,
        "residual_add_us": residual_us,
        "residual_add_share": residual_us / step,
        "norm_kernels_with_add_us": sum(r["time_us"] for r in fused_with_add),
        "norm_launches": sum(r["launches"] for r in norm),
        "together_share": (norm_us + residual_us) / step,
        # Eager only: host wall time inside the norm modules' forwards (profiled, so inflated).
        "norm_host_us": sum(g.get("host_us") or 0.0 for g in profile.get("groups", []) if "norm" in g["name"].lower()),
    }


def floor_us(profile: dict[str, Any]) -> float:
    """Σ roofline-ideal time of the operators: no version of this step, op for op, runs faster."""
    return sum(r.get("ideal_us") or 0.0 for r in profile.get("operators", []))


def _missing_attention(profile: dict[str, Any]) -> list[str]:
    """Attention rows a run could not estimate (an op the estimator learnt later): estimated here from
    the row's most common recorded shapes and the target dtype, and said to be so."""
    out = []
    itemsize = {"bfloat16": 2, "float16": 2, "float32": 4}.get(profile["target"].get("dtype"), 2)
    peaks = profile["peaks"]
    for r in profile.get("operators", []):
        if (
            estimates.category_of(r["name"]) != estimates.ATTENTION
            or r["bytes"]
            or not r.get("shapes")
            or r["share"] < 0.001
        ):
            continue
        try:
            shapes = ast.literal_eval(r["shapes"])
        except (ValueError, SyntaxError):
            continue
        # The run kept no is_causal flag in the row; transformers passes is_causal=True exactly
        # when it gives no mask (three tensors) on a square prefill.
        causal = len(shapes) == 3 and len(shapes[0]) == 4 and shapes[0][-2] == shapes[1][-2] > 1
        concrete = [True] * 10 if causal else None
        cost = estimates.estimate(r["name"], shapes, None, concrete, itemsize)
        if not cost.bytes:
            continue
        nbytes, flops = cost.bytes * r["calls"], cost.flops * r["calls"]
        v = classify(
            time_us=r["time_us"],
            launches=r["launches"],
            nbytes=nbytes,
            flops=flops,
            host_us=0.0,
            peaks=Peaks.from_dict(peaks),
        )
        out.append(
            f"{r['name']} ({r['time_us']:.0f} µs, {r['share']:.1%}) had no byte estimate in this run; from its "
            f"recorded shapes {r['shapes']}: {cost.bytes / 1e6:.1f} MB and {cost.flops / 1e6:.0f} MFLOP a call, "
            f"{nbytes / r['time_us'] / 1e3:.0f} GB/s, {flops / r['time_us'] / 1e6:.0f} TFLOP/s, {v.efficiency:.0%} of the "
            f"roofline: {v.verdict}{' (causal: half the score tiles)' if causal else ''} (estimated afterwards)."
        )
    return out


def _is_fused(row: dict[str, Any]) -> bool:
    return row["name"].startswith(("triton_", "cpp_"))


def _has_weight_vector(row: dict[str, Any]) -> bool:
    """An RMSNorm kernel reads its weight, a 1-D tensor. Inductor's kernel names list every op its
    nodes came from, so ``rsqrt``/``mean`` in a name alone (e.g. a KV-expansion kernel) is not enough."""
    try:
        shapes = ast.literal_eval(row.get("shapes") or "[]")
    except (ValueError, SyntaxError):
        return False
    return any(isinstance(s, list) and len(s) == 1 for s in shapes)


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
        "| profile | step µs (profiled) | step µs (no profiler) | busy | idle share | roofline floor | RMSNorm | residual add | RMSNorm + add, of busy |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for p in profiles:
        n = norm_and_residual(p)
        lines.append(
            f"| {_label(p)} | {p['step_time_us']:.0f} | {p['step_time_us_unprofiled']:.0f} | {p['busy_us']:.0f} | "
            f"{p['idle_share']:.0%} | {floor_us(p):.0f} | {n['norm_us']:.0f} µs ({n['norm_share']:.1%}) | "
            f"{n['residual_add_us']:.0f} µs ({n['residual_add_share']:.1%}) | "
            f"{(n['norm_us'] + n['residual_add_us']) / max(p['busy_us'], 1e-9):.1%} |"
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
            lines.append(
                f"| {r['rank']} | {where}{r['name']} | {r['share']:.1%} | {r['time_us']:.0f} | {r['calls']} | "
                f"{r['gbps']:.0f} | {r['tflops']:.1f} | {r['verdict']} |"
            )
        cats = ", ".join(f"{c['name']} {c['share']:.1%} ({c['verdict']})" for c in p["categories"][:6])
        lines += ["", f"By category: {cats}.", ""]
        mem = [r for r in p["operators"] if r["verdict"] == MEMORY][:top]
        if mem:
            lines.append(
                "Memory-bound: "
                + "; ".join(
                    f"{'' if r['scope'].startswith('(') else r['scope'] + ' › '}{r['name']} {r['share']:.1%} at "
                    f"{r['gbps']:.0f} GB/s ({r['efficiency']:.0%} of roofline)"
                    for r in mem
                )
                + "."
            )
        for r in _missing_attention(p):
            lines.append(r)
        over = [r for r in p["operators"] if r.get("efficiency", 0) > 1.05 and r["share"] >= 0.001]
        if over:
            lines.append(
                f"{len(over)} operator(s) show more than 100% of the roofline (bytes over-counted, or "
                "reads served from L2): their GB/s is an upper bound, not a measurement."
            )
        verdicts: dict[str, float] = {}
        for r in p["operators"]:
            verdicts[r["verdict"]] = verdicts.get(r["verdict"], 0.0) + r["share"]
        lines.append(
            "Share of the step by verdict: "
            + ", ".join(f"{v} {s:.1%}" for v, s in sorted(verdicts.items(), key=lambda kv: -kv[1]))
            + "."
        )
        lines.append(
            f"RMSNorm: {n['norm_us']:.0f} µs ({n['norm_share']:.1%}) in {n['norm_launches']:.0f} launches "
            + (
                f"(layer norms {n['layer_norm_us']:.0f} µs, QK-norms {n['qk_norm_us']:.0f} µs)"
                if n["layer_norm_us"] or n["qk_norm_us"]
                else "(no module scopes in compiled code)"
            )
            + "; residual adds "
            f"{n['residual_add_us']:.0f} µs ({n['residual_add_share']:.1%})"
            + (
                f"; of the norm kernels, {n['norm_kernels_with_add_us']:.0f} µs are fused with the residual add "
                "(≥ 3 hidden-sized tensors)"
                if n["norm_kernels_with_add_us"]
                else ""
            )
            + (
                f"; host time inside the norm modules {n['norm_host_us']:.0f} µs a step (under the profiler)"
                if n["norm_host_us"]
                else ""
            )
            + "."
        )
        hyps = hypotheses_from_profile(p, top=3)
        if hyps:
            lines += ["", "What `labconsole profile --load … --propose` would hand to a session:", ""]
            lines += [f"- {h['title']}" for h in hyps]
    if notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """``python -m labconsole.profile.summary PROFILE.json …``: the summary of saved profiles, on stdout."""
    import argparse
    import json
    from pathlib import Path

    parser = argparse.ArgumentParser(prog="python -m labconsole.profile.summary")
    parser.add_argument("profiles", nargs="+", type=Path)
    args = parser.parse_args(argv)
    print(summarize([json.loads(p.read_text()) for p in args.profiles]), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
