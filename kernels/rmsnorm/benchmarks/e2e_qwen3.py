#!/usr/bin/env python3
"""End to end: a Qwen3-8B-shaped model (random bf16 weights, built on the GPU) with and
without the rmsnorm kernel swapped in through kernels' kernelize, eager and compiled.

- prefill: one forward of 1 x 2048 tokens (use_cache=False), CUDA-event timed, median.
- decode: one forward of 1 token against a DynamicCache holding 2048 tokens (each timed
  step appends one position, negligible growth), median.
- compiled: regional compilation (each decoder layer compiled; identical layers share the
  compiled code), prefill only unless --compile-decode; bounded by --budget-s.

    python e2e_qwen3.py --kernel-dir kernels/rmsnorm --out e2e.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

QWEN3_8B = dict(
    vocab_size=151936, hidden_size=4096, intermediate_size=12288, num_hidden_layers=36,
    num_attention_heads=32, num_key_value_heads=8, head_dim=128, rms_norm_eps=1e-6,
    tie_word_embeddings=False, max_position_embeddings=40960, attention_bias=False, hidden_act="silu",
)


def ensure_qwen3_norm_extensible() -> bool:
    """Apply kernels' layer decorator to Qwen3RMSNorm if transformers left a no-op one
    (transformers gates its kernels integration on the kernels version). True if applied."""
    from kernels import use_kernel_forward_from_hub
    from transformers.models.qwen3.modeling_qwen3 import Qwen3RMSNorm

    if getattr(Qwen3RMSNorm, "kernel_layer_name", None) == "RMSNorm":
        return False
    use_kernel_forward_from_hub("RMSNorm")(Qwen3RMSNorm)
    return True


def gpu_warmup(seconds: float = 3.0) -> None:
    """Bring clocks up from idle before anything is timed."""
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    t = time.time()
    while time.time() - t < seconds:
        a @ a
        torch.cuda.synchronize()


def build_model(layers: int):
    from transformers import Qwen3Config, Qwen3ForCausalLM

    cfg = dict(QWEN3_8B, num_hidden_layers=layers)
    try:
        config = Qwen3Config(**cfg, rope_parameters={"rope_type": "default", "rope_theta": 1e6})
    except TypeError:
        config = Qwen3Config(**cfg, rope_theta=1e6)
    config._attn_implementation = "sdpa"
    torch.set_default_dtype(torch.bfloat16)
    with torch.device("cuda"):
        model = Qwen3ForCausalLM(config)
    torch.set_default_dtype(torch.float32)
    return model.eval(), config


def time_us(fn, reps: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        ts.append(a.elapsed_time(b) * 1e3)
    return statistics.median(ts)


def measure(model, config, compiled: bool, do_decode: bool, reps: int) -> dict:
    from transformers import DynamicCache

    gen = torch.Generator(device="cuda").manual_seed(0)
    ids = torch.randint(0, config.vocab_size, (1, 2048), device="cuda", generator=gen)
    out: dict = {}
    t0 = time.time()
    out["prefill_1x2048_us"] = round(time_us(lambda: model(input_ids=ids, use_cache=False), reps), 1)
    out["prefill_first_call_s"] = round(time.time() - t0, 1)  # includes compilation
    if do_decode:
        cache = DynamicCache(config=config)
        model(input_ids=ids, past_key_values=cache, use_cache=True)
        tok = ids[:, -1:]
        out["decode_1tok_ctx2048_us"] = round(
            time_us(lambda: model(input_ids=tok, past_key_values=cache, use_cache=True), reps), 1)
    logits = model(input_ids=ids[:, :256], use_cache=False).logits.float()
    out["_logits"] = logits
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernel-dir", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--layers", type=int, default=36)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--budget-s", type=float, default=240)
    ap.add_argument("--compile-decode", action="store_true")
    args = ap.parse_args()
    t_start = time.time()

    from kernels import LocalLayerRepository, Mode, kernelize, use_kernel_mapping

    torch._dynamo.config.cache_size_limit = 64
    patched = ensure_qwen3_norm_extensible()
    model, config = build_model(args.layers)
    gpu_warmup()
    res: dict = {"config": {k: v for k, v in QWEN3_8B.items()}, "layers": args.layers,
                 "params_b": round(sum(p.numel() for p in model.parameters()) / 1e9, 3),
                 "device": torch.cuda.get_device_name(0), "torch": torch.__version__,
                 "qwen3_norm_decorator_applied_by_us": patched, "runs": {}}
    mapping = {"RMSNorm": {"cuda": LocalLayerRepository(repo_path=args.kernel_dir, layer_name="RMSNorm")}}
    ref_logits = None

    def run(name: str, kernels_on: bool, compiled: bool) -> None:
        nonlocal ref_logits
        if time.time() - t_start > args.budget_s:
            res["runs"][name] = {"skipped": f"time budget {args.budget_s}s spent"}
            return
        try:
            torch._dynamo.reset()
            for layer in model.model.layers:
                if compiled:
                    layer.compile(dynamic=False)
                else:
                    layer._compiled_call_impl = None
            with torch.inference_mode():
                r = measure(model, config, compiled, do_decode=not compiled or args.compile_decode, reps=args.reps)
            logits = r.pop("_logits")
            if ref_logits is None:
                ref_logits = logits
            r["logits_rel_err_vs_eager_baseline"] = ((logits - ref_logits).norm() / ref_logits.norm()).item()
            res["runs"][name] = r
        except Exception as e:  # report, keep going
            res["runs"][name] = {"error": f"{type(e).__name__}: {e}"[:2000]}
        print(name, res["runs"][name], flush=True)

    run("eager_baseline", False, False)
    run("compiled_baseline", False, True)
    with use_kernel_mapping(mapping):
        kernelize(model, mode=Mode.INFERENCE | Mode.TORCH_COMPILE, device="cuda")
    norms = [m for m in model.modules() if type(m).__name__ == "Qwen3RMSNorm"]
    res["norm_modules"] = len(norms)
    res["norm_modules_swapped"] = sum(m.forward.__qualname__ == "RMSNorm.forward" for m in norms)
    run("eager_kernels", True, False)
    run("compiled_kernels", True, True)
    for m in norms:  # back to transformers' forward: is the baseline stable over the run?
        m.__dict__.pop("forward", None)
    run("eager_baseline_repeat", False, False)
    res["elapsed_s"] = round(time.time() - t_start, 1)
    args.out.write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
