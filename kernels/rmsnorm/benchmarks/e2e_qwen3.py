#!/usr/bin/env python3
"""End to end: a Qwen3-8B-shaped model (random bf16 weights, built on the GPU) with and
without the rmsnorm kernel swapped in through kernels' kernelize, eager and compiled.

- prefill: one forward of 1 x 2048 tokens (use_cache=False), CUDA-event timed, median.
- decode: one forward of 1 token against a DynamicCache holding 2048 tokens (each timed
  step appends one position, negligible growth), median.
- eager: baseline and kernels alternate rep by rep in one process (the norms' forward is
  swapped back and forth), CUDA events around each forward, median of --reps.
- compiled prefill: regional compilation (each decoder layer compiled; identical layers share
  the compiled code). Compiled decode: whole-model torch.compile of one step against a
  StaticCache of 2048 tokens (fixed shapes: one graph per setup), in the default mode and in
  mode="reduce-overhead" (CUDA graphs). Bounded by --budget-s.

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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_device import gpu_warmup  # noqa: E402  (sibling script, one warm-up for both)

QWEN3_8B = dict(
    vocab_size=151936,
    hidden_size=4096,
    intermediate_size=12288,
    num_hidden_layers=36,
    num_attention_heads=32,
    num_key_value_heads=8,
    head_dim=128,
    rms_norm_eps=1e-6,
    tie_word_embeddings=False,
    max_position_embeddings=40960,
    attention_bias=False,
    hidden_act="silu",
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


def kernelize_norms(model, kernel_dir: str):
    """Swap the model's Qwen3RMSNorm forwards for the kernel's; returns the norms and a switch between
    the kernel's forward (True) and transformers' own (False), so one model serves both arms of the A/B."""
    from kernels import LocalLayerRepository, Mode, kernelize, use_kernel_mapping

    mapping = {"RMSNorm": {"cuda": LocalLayerRepository(repo_path=kernel_dir, layer_name="RMSNorm")}}
    norms = [m for m in model.modules() if type(m).__name__ == "Qwen3RMSNorm"]
    with use_kernel_mapping(mapping):
        kernelize(model, mode=Mode.INFERENCE | Mode.TORCH_COMPILE, device="cuda")
    kernel_fwd = {m: m.forward for m in norms}

    def use_kernels(on: bool) -> None:
        for m in norms:
            if on:
                m.forward = kernel_fwd[m]
            else:
                m.__dict__.pop("forward", None)  # transformers' own forward

    return norms, use_kernels


def timed_us(fn) -> float:
    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    a.record()
    fn()
    b.record()
    b.synchronize()
    return a.elapsed_time(b) * 1e3


def ab_us(fn, setups: dict, reps: int, warmup: int = 2) -> dict[str, float]:
    """Median time of fn under each setup, the setups alternating rep by rep."""
    times: dict[str, list[float]] = {k: [] for k in setups}
    for i in range(warmup + reps):
        for k, setup in setups.items():
            setup()
            t = timed_us(fn)
            if i >= warmup:
                times[k].append(t)
    return {k: round(statistics.median(v), 1) for k, v in times.items()}


def compiled_decode(
    model, config, ids: torch.Tensor, setups: dict, reps: int, res: dict, mode: str | None = None
) -> dict[str, float]:
    """Whole-model torch.compile of one decode step against a StaticCache (fixed shapes, so one
    graph per setup and no recompiles while it runs); A/B alternating like the eager runs.

    Where the model takes `cache_position`, every step rewrites slot `ctx` (identical steps);
    later transformers track the position in the cache, which then gets a slot per step."""
    import inspect

    from transformers import StaticCache

    ctx = ids.shape[1]
    takes_position = "cache_position" in inspect.signature(type(model.model).forward).parameters
    steps = (reps + 4) * len(setups) + 4
    cache = StaticCache(config=config, max_cache_len=ctx + (1 if takes_position else steps))
    model(input_ids=ids, past_key_values=cache, use_cache=True, logits_to_keep=1)
    extra = {"cache_position": torch.tensor([ctx], device=ids.device)} if takes_position else {}
    tok = ids[:, -1:]
    torch._dynamo.reset()
    fwd = torch.compile(model.forward, dynamic=False, mode=mode)
    tag = mode or "default"

    def step():
        return fwd(input_ids=tok, past_key_values=cache, use_cache=True, logits_to_keep=1, **extra)

    for k, setup in setups.items():  # compile both graphs before anything is timed
        setup()
        t0 = time.time()
        for _ in range(3 if mode else 1):  # reduce-overhead records its CUDA graph on a later call
            step()
        torch.cuda.synchronize()
        res[f"compile_decode_{tag}_first_calls_s_{k}"] = round(time.time() - t0, 1)
    return ab_us(step, setups, reps)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernel-dir", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--layers", type=int, default=36)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--budget-s", type=float, default=240)
    # The A/B order decides which graph dynamo caches second (and checks guards for second):
    # run both orders to tell an order effect from a real difference.
    ap.add_argument("--kernels-first", action="store_true")
    args = ap.parse_args()
    t_start = time.time()
    torch._dynamo.config.cache_size_limit = 64  # baseline + kernels graphs, per compiled code

    from transformers import DynamicCache

    patched = ensure_qwen3_norm_extensible()
    model, config = build_model(args.layers)
    gpu_warmup()
    res: dict = {
        "method": __doc__,
        "config": dict(QWEN3_8B, num_hidden_layers=args.layers),
        "params_b": round(sum(p.numel() for p in model.parameters()) / 1e9, 3),
        "device": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "qwen3_norm_decorator_applied_by_us": patched,
    }
    norms, use_kernels = kernelize_norms(model, args.kernel_dir)
    res["norm_modules"] = len(norms)
    res["norm_modules_swapped"] = sum(m.forward.__qualname__ == "RMSNorm.forward" for m in norms)

    setups = {"baseline": lambda: use_kernels(False), "kernels": lambda: use_kernels(True)}
    if args.kernels_first:
        setups = dict(reversed(setups.items()))
    res["order"] = list(setups)
    gen = torch.Generator(device="cuda").manual_seed(0)
    ids = torch.randint(0, config.vocab_size, (1, 2048), device="cuda", generator=gen)
    with torch.inference_mode():
        logits = {}
        for k, setup in setups.items():
            setup()
            logits[k] = model(input_ids=ids[:, :256], use_cache=False).logits.float()
        res["logits_rel_err_kernels_vs_baseline"] = (
            (logits["kernels"] - logits["baseline"]).norm() / logits["baseline"].norm()
        ).item()
        del logits
        # Eager: A/B alternating rep by rep, so drift hits both alike.
        res["eager_prefill_1x2048_us"] = ab_us(lambda: model(input_ids=ids, use_cache=False), setups, args.reps)
        cache = DynamicCache(config=config)
        model(input_ids=ids, past_key_values=cache, use_cache=True)
        tok = ids[:, -1:]
        res["eager_decode_1tok_ctx2048_us"] = ab_us(
            lambda: model(input_ids=tok, past_key_values=cache, use_cache=True),  # noqa: F821 (timed before the del)
            setups,
            args.reps,
        )
        del cache
        print(res, flush=True)
        # Compiled: regional compilation (one compiled decoder layer shared by all 36), prefill.
        res["compiled_prefill_1x2048_us"] = {}
        for k, setup in setups.items():
            if time.time() - t_start > args.budget_s:
                res["compiled_prefill_1x2048_us"][k] = f"skipped: time budget {args.budget_s}s spent"
                continue
            try:
                setup()
                torch._dynamo.reset()
                for layer in model.model.layers:
                    layer.compile(dynamic=False)
                t0 = time.time()
                model(input_ids=ids, use_cache=False)
                res[f"compile_first_call_s_{k}"] = round(time.time() - t0, 1)
                ts = [timed_us(lambda: model(input_ids=ids, use_cache=False)) for _ in range(args.reps + 2)][2:]
                res["compiled_prefill_1x2048_us"][k] = round(statistics.median(ts), 1)
            except Exception as e:  # report, keep going
                res["compiled_prefill_1x2048_us"][k] = f"error: {type(e).__name__}: {e}"[:1000]
            print(k, res["compiled_prefill_1x2048_us"][k], flush=True)
        for layer in model.model.layers:
            layer._compiled_call_impl = None
        # default: inductor kernels launched from Python (host-bound at batch 1);
        # reduce-overhead: the same step replayed as a CUDA graph (host overhead gone).
        for mode, key in (
            (None, "compiled_decode_1tok_ctx2048_us"),
            ("reduce-overhead", "compiled_cudagraphs_decode_1tok_ctx2048_us"),
        ):
            if time.time() - t_start > args.budget_s:
                res[key] = f"skipped: time budget {args.budget_s}s spent"
                continue
            try:
                res[key] = compiled_decode(model, config, ids, setups, args.reps, res, mode)
            except Exception as e:  # report, keep going
                res[key] = f"error: {type(e).__name__}: {e}"[:1000]
            print(key, res[key], flush=True)
    res["elapsed_s"] = round(time.time() - t_start, 1)
    args.out.write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
