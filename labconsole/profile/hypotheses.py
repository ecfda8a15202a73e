"""From a profile to researcher hypotheses, and the hand-off into a lab session.

``hypotheses_from_profile`` is pure: profile dict in, hypothesis dicts out.
Three kinds, each with a saving estimated from the profile's own numbers:

- ``fuse``: a module whose ops are memory- or overhead-bound and launch more
  than one kernel per call (RMSNorm: ~8 eager kernels) — one kernel per call.
  If the module is an RMSNorm fed by a residual add in its parent scope (the
  decoder layer), the add joins the fusion. Expected time after fusion:
  ``max(invocations × median small-kernel time, Σ roofline-ideal µs)``, both
  taken from this profile.
- ``kernel``: a single memory-bound op below 60% of the roofline — a better
  kernel could reach ~80% of measured copy bandwidth.
- ``eliminate``: a memory-bound copy already near bandwidth (a materialised
  tensor such as ``repeat_kv``'s GQA expansion) — only not copying saves it.
- ``graph``: the device sits idle for a large share of the step (launch gaps,
  Python) — CUDA graphs / ``torch.compile(mode="reduce-overhead")``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


MEMORY, OVERHEAD = "memory-bound", "overhead-bound"
KERNEL_TARGET_EFFICIENCY = 0.8  # a good hand-written memory-bound kernel reaches ~80% of copy bandwidth
KERNEL_CANDIDATE_BELOW = 0.6  # ...so ops already above 60% leave little to win
IDLE_WORTH_A_GRAPH = 0.2  # idle share of the step above which launch overhead is the first problem
MIN_SAVING_SHARE = 0.005  # below half a percent of the step a hypothesis is noise


def hypotheses_from_profile(profile: dict[str, Any], top: int = 5) -> list[dict[str, Any]]:
    """The ``top`` most valuable hypotheses, best first.

    Each is ``{title, params, rationale, source, priority, evidence}``;
    ``params`` holds ``operator``, ``scope``, ``kind`` (fuse|kernel|eliminate|graph),
    ``target``, ``expected_saving_us`` and ``expected_saving_share``;
    ``priority`` is the expected saving as a share of the step (higher first).
    """
    # Savings are judged against the undisturbed step: the profiler and scope hooks inflate host time.
    step = float(profile.get("step_time_us_unprofiled") or profile.get("step_time_us") or 0.0)
    if step <= 0:
        return []
    candidates = _fusions(profile) + _kernels(profile) + _graph(profile)
    candidates = [c for c in candidates if c["saving_us"] / step >= MIN_SAVING_SHARE]
    candidates.sort(key=lambda c: c["saving_us"], reverse=True)
    seen: set[tuple[str, str]] = set()
    out: list[dict[str, Any]] = []
    for c in candidates:
        key = (c["scope"], c["operator"])
        if key in seen:
            continue
        seen.add(key)
        out.append(_as_hypothesis(profile, c, step))
        if len(out) >= top:
            break
    return out


def _target_label(profile: dict[str, Any]) -> str:
    t = profile.get("target", {})
    spec = t.get("spec", "?")
    return f"{spec} ({'compiled ' + t['compiled'] if t.get('compiled') else 'eager'})"


def _small_kernel_us(profile: dict[str, Any]) -> float:
    """What one small kernel costs on this device: the median launch among overhead-bound ops.

    A fused kernel per call costs at least this; taken from the profile itself, not a constant.
    """
    per_launch = sorted(
        r["time_us"] / r["launches"]
        for r in profile.get("operators", [])
        if r.get("verdict") == OVERHEAD and r.get("launches") and r.get("time_us")
    )
    return per_launch[len(per_launch) // 2] if per_launch else 0.0


def _fusions(profile: dict[str, Any]) -> list[dict[str, Any]]:
    rows = profile.get("operators", [])
    floor = _small_kernel_us(profile)
    by_scope: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        if r["scope"].startswith("(") or r["category"] in ("matmul", "attention"):
            continue  # no module to fuse, or already one big library call
        if _is_big_copy(r):
            continue  # its own hypothesis: remove it, not fuse it
        by_scope.setdefault(r["scope"], []).append(r)
    invocations = {s: g.get("invocations") for g in profile.get("groups", []) for s in g.get("scopes", [])}
    out = []
    for scope, members in by_scope.items():
        if not any(m["verdict"] in (MEMORY, OVERHEAD) for m in members):
            continue
        calls = _scope_calls(scope, members, profile)
        launches = sum(m["launches"] for m in members)
        if calls <= 0 or launches / calls <= 1.05:
            continue  # already about one kernel per call
        scope_type = members[0]["scope_type"]
        fused = list(members)
        is_norm = "norm" in scope_type.lower()
        parts = [scope_type if is_norm else f"the small ops of {scope_type or scope}"]
        residual = _residual_adds(rows, scope) if is_norm else []
        if residual:
            fused += residual
            parts.insert(0, "residual add")
        time_us = sum(m["time_us"] for m in fused)
        after = max(calls * floor, sum(m["ideal_us"] for m in fused))
        saving = time_us - after
        if saving <= 0:
            continue
        out.append(
            {
                "kind": "fuse",
                "scope": scope,
                "operator": " + ".join(parts),
                "saving_us": saving,
                "time_us": time_us,
                "after_us": after,
                "rows": fused,
                "calls": calls,
                "launches": launches,
                "floor_us": floor,
                "invocations": invocations.get(scope),
            }
        )
    return _merge_same_type(out)


def _scope_calls(scope: str, members: list[dict[str, Any]], profile: dict[str, Any]) -> float:
    for g in profile.get("groups", []):
        if scope in g.get("scopes", []) and g.get("invocations"):
            # Invocations of this module type, split evenly over its scopes.
            return g["invocations"] / max(len(g["scopes"]), 1)
    return max((m["calls"] for m in members), default=0)


def _residual_adds(rows: list[dict[str, Any]], norm_scope: str) -> list[dict[str, Any]]:
    """The ``aten::add`` ops in the norm's parent scope: the residual adds that feed the layer's norms."""
    parent = norm_scope.rsplit(".", 1)[0] if "." in norm_scope else ""
    # Only a layer/block adds residuals (QK-norms sit in the attention module, whose adds are not residual).
    return [
        r
        for r in rows
        if r["scope"] == parent
        and r["name"] in ("aten::add", "aten::add_")
        and any(word in r["scope_type"] for word in ("Layer", "Block"))
    ]


def _merge_same_type(fusions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """input_layernorm and post_attention_layernorm are one hypothesis: one kernel serves both.

    The residual adds are shared by the norms of one parent scope; count them once.
    """
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for f in fusions:
        scope_type = f["rows"][0]["scope_type"]
        parent = f["scope"].rsplit(".", 1)[0]
        key = (scope_type, parent)
        if key not in merged:
            merged[key] = {**f, "scopes": [f["scope"]]}
            continue
        m = merged[key]
        ids = {id(r) for r in m["rows"]}
        extra = [r for r in f["rows"] if id(r) not in ids]
        m["rows"] = m["rows"] + extra
        m["scopes"].append(f["scope"])
        m["calls"] += f["calls"]
        m["launches"] += f["launches"]
        m["time_us"] = sum(r["time_us"] for r in m["rows"])
        m["after_us"] = max(m["calls"] * m["floor_us"], sum(r["ideal_us"] for r in m["rows"]))
        m["saving_us"] = m["time_us"] - m["after_us"]
        if "residual add" in f["operator"] and "residual add" not in m["operator"]:
            m["operator"] = f["operator"]
    for m in merged.values():
        scopes = sorted(m.get("scopes", []))
        if len(scopes) > 1:
            m["scope"] = ", ".join(scopes)
        leaves = ", ".join(s.rsplit(".", 1)[-1] for s in scopes)
        m["operator"] = f"{m['operator']} ({leaves})"
    return [m for m in merged.values() if m["saving_us"] > 0]


def _is_big_copy(r: dict[str, Any]) -> bool:
    """A memory-bound copy that runs near bandwidth: a materialised tensor (e.g. repeat_kv for GQA)."""
    return r["category"] == "copy" and r["verdict"] == MEMORY and r.get("efficiency", 0) >= KERNEL_CANDIDATE_BELOW


def _kernels(profile: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for r in profile.get("operators", []):
        if _is_big_copy(r):
            # Already at bandwidth: a faster copy wins little; not copying wins all of it.
            out.append(
                {
                    "kind": "eliminate",
                    "scope": r["scope"],
                    "operator": r["name"],
                    "saving_us": r["time_us"],
                    "time_us": r["time_us"],
                    "after_us": 0.0,
                    "rows": [r],
                }
            )
            continue
        if r["verdict"] != MEMORY or r["efficiency"] >= KERNEL_CANDIDATE_BELOW or not r["ideal_us"]:
            continue
        after = r["ideal_us"] / KERNEL_TARGET_EFFICIENCY
        saving = r["time_us"] - after
        if saving > 0:
            out.append(
                {
                    "kind": "kernel",
                    "scope": r["scope"],
                    "operator": r["name"],
                    "saving_us": saving,
                    "time_us": r["time_us"],
                    "after_us": after,
                    "rows": [r],
                }
            )
    return out


def _graph(profile: dict[str, Any]) -> list[dict[str, Any]]:
    t = profile.get("target", {})
    if profile.get("device", {}).get("kind") != "cuda" or t.get("compiled") in ("reduce-overhead",):
        return []
    if float(profile.get("idle_share") or 0) < IDLE_WORTH_A_GRAPH:
        return []
    # The profiler and scope hooks inflate host time; the device's busy time they barely touch.
    # So the idle a graph would remove is the *unprofiled* step minus the busy time.
    unprofiled = float(profile.get("step_time_us_unprofiled") or profile["step_time_us"])
    idle = (
        max(unprofiled - float(profile.get("busy_us") or 0.0), 0.0)
        if "busy_us" in profile
        else float(profile["idle_us"])
    )
    return [
        {
            "kind": "graph",
            "scope": "(step)",
            "operator": "whole step",
            "saving_us": idle,
            "time_us": idle,
            "after_us": 0.0,
            "rows": [],
        }
    ]


def _as_hypothesis(profile: dict[str, Any], c: dict[str, Any], step: float) -> dict[str, Any]:
    label = _target_label(profile)
    saving, share = c["saving_us"], c["saving_us"] / step
    tail = f"expected saving {saving:.0f} µs a step, {share:.1%} of the step"
    device = profile.get("device", {}).get("name", "?")
    r = c["rows"][0] if c["rows"] else {}  # the one row an eliminate or kernel candidate is about
    if c["kind"] == "fuse":
        title = f"fuse {c['operator']} for {label}; {tail}"
        rationale = (
            f"{c['operator']} ({c['scope']}) takes {c['time_us']:.0f} µs of a {step:.0f} µs step "
            f"in {c['launches']:.0f} kernel launches for {c['calls']:.0f} calls; verdicts "
            f"{_verdicts(c['rows'])}. One fused kernel per call costs at least "
            f"max({c['calls']:.0f} × {c['floor_us']:.1f} µs per small kernel, {sum(r['ideal_us'] for r in c['rows']):.1f} µs "
            f"roofline) = {c['after_us']:.0f} µs."
        )
    elif c["kind"] == "eliminate":
        title = f"remove the {r['name']} in {r['scope']} for {label} (let its consumer read the source); {tail}"
        rationale = (
            f"{r['name']} ({r['scope']}) moves {r['bytes'] / 1e9:.2f} GB a step at {r['gbps']:.0f} GB/s, "
            f"{r['efficiency']:.0%} of the roofline, in {r['calls']} calls ({r.get('shapes') or 'shapes not recorded'}): "
            "already near bandwidth, so only not copying (e.g. GQA-aware attention instead of repeat_kv) saves it."
        )
    elif c["kind"] == "kernel":
        title = f"faster kernel for {r['name']} in {r['scope']} for {label}; {tail}"
        rationale = (
            f"{r['name']} ({r['scope']}) is memory-bound at {r['gbps']:.0f} GB/s, "
            f"{r['efficiency']:.0%} of the roofline ({r['ideal_us']:.1f} µs ideal vs {r['time_us']:.1f} µs); "
            f"at {KERNEL_TARGET_EFFICIENCY:.0%} of measured copy bandwidth it would take {c['after_us']:.1f} µs."
        )
    else:
        title = f"capture {label} in a CUDA graph (torch.compile mode=reduce-overhead); {tail}"
        rationale = (
            f"the GPU is busy {profile.get('busy_us', step - profile['idle_us']):.0f} µs of a "
            f"{profile.get('step_time_us_unprofiled', step):.0f} µs step (unprofiled); the rest, {saving:.0f} µs, "
            "is launch gaps and host-side work, which a graph replay removes."
        )
    rationale = f"On {device}, {rationale}"
    evidence = {
        "profile_schema": profile.get("schema"),
        "target": profile.get("target", {}).get("spec"),
        "device": device,
        "step_time_us": step,
        "peaks": profile.get("peaks"),
        "operators": [
            {
                k: r.get(k)
                for k in (
                    "rank",
                    "name",
                    "scope",
                    "category",
                    "verdict",
                    "time_us",
                    "share",
                    "calls",
                    "launches",
                    "mean_us",
                    "bytes",
                    "flops",
                    "gbps",
                    "ideal_us",
                )
            }
            for r in c["rows"]
        ],
        "profile_sha256": profile_digest(profile),
    }
    return {
        "title": title,
        "params": {
            "operator": c["operator"],
            "scope": c["scope"],
            "kind": c["kind"],
            "target": profile.get("target", {}).get("spec"),
            "compiled": profile.get("target", {}).get("compiled"),
            "expected_saving_us": round(saving, 1),
            "expected_saving_share": round(share, 4),
        },
        "rationale": rationale,
        "source": f"profile:{profile.get('target', {}).get('spec')}@{device}",
        "priority": round(share, 4),
        "evidence": evidence,
    }


def _verdicts(rows: list[dict[str, Any]]) -> str:
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
    return ", ".join(f"{n}× {v}" for v, n in sorted(counts.items(), key=lambda kv: -kv[1]))


def profile_bytes(profile: dict[str, Any]) -> bytes:
    return json.dumps(profile, sort_keys=True, separators=(",", ":")).encode()


def profile_digest(profile: dict[str, Any]) -> str:
    return hashlib.sha256(profile_bytes(profile)).hexdigest()
