"""Built-in Qwen3 targets: Qwen3-8B shapes (GPU, bf16) and a tiny CPU twin.

Random weights: timing does not depend on the values, and the machines that
run this have no network to fetch the real ones. ``Qwen3Config()``'s defaults
are *not* Qwen3-8B (32 layers, a different MLP width), so every value is given.

Shapes (``--shape``):

- decode: ``batch`` (1), ``context`` (4096 for 8B, 64 tiny) tokens already in
  the KV cache, ``cache`` = ``static`` (default; what compiled decode uses) or
  ``dynamic`` (transformers' default eager cache, eager only), ``room`` (128)
  spare static slots. A static step appends one token (attention spans all
  ``context + room`` slots under a mask, as transformers' static cache does);
  a dynamic step is cropped back to ``context``, so steps stay alike.
- prefill: ``batch`` (1), ``seq`` (2048 for 8B, 32 tiny); no KV cache written,
  and only the last position's logits are computed, as ``generate`` does.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any

from labconsole.errors import LabError
from labconsole.profile.target import ProfileTarget, check_device

# Qwen/Qwen3-8B-Base config.json (see shared/notes/qwen3-8b-and-h100.md).
QWEN3_8B: dict[str, Any] = {
    "hidden_size": 4096,
    "intermediate_size": 12288,
    "num_hidden_layers": 36,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "vocab_size": 151936,
    "rms_norm_eps": 1e-6,
    "rope_theta": 1_000_000.0,
    "tie_word_embeddings": False,
    "hidden_act": "silu",
    "attention_bias": False,
    "max_position_embeddings": 32768,
}
# Same architecture (GQA 2:1, QK-norm, SwiGLU, two norms per layer), small enough for a CPU test.
QWEN3_TINY: dict[str, Any] = {
    **QWEN3_8B,
    "hidden_size": 64,
    "intermediate_size": 192,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "vocab_size": 512,
    "max_position_embeddings": 4096,
}

_DEFAULTS: dict[str, dict[str, dict[str, Any]]] = {
    "8b": {
        "decode": {"batch": 1, "context": 4096, "cache": "static", "room": 128},
        "prefill": {"batch": 1, "seq": 2048},
    },
    "tiny": {"decode": {"batch": 1, "context": 64, "cache": "static", "room": 128}, "prefill": {"batch": 1, "seq": 32}},
}


def make_config(values: dict[str, Any]):
    """A ``Qwen3Config`` with these values; ``rope_theta`` goes where this transformers keeps it."""
    from transformers import Qwen3Config

    values = dict(values)
    theta = values.pop("rope_theta")
    config = Qwen3Config(**values, rope_parameters={"rope_type": "default", "rope_theta": theta})
    got = (getattr(config, "rope_parameters", None) or {}).get("rope_theta", getattr(config, "rope_theta", None))
    if got != theta:  # an older transformers without rope_parameters
        config.rope_theta = theta
    config._attn_implementation = "sdpa"
    return config


def build(spec: str, *, shape: dict[str, Any], device: str | None, compile_mode: str | None) -> ProfileTarget:
    import torch

    # transformers 5.2x renamed past_key_values -> cache; the old name works on every 5.x we meet.
    warnings.filterwarnings("ignore", message=".*past_key_values.*", category=FutureWarning)
    _, size, phase = spec.split("-")  # qwen3-8b-decode -> ("qwen3", "8b", "decode")
    device = device or ("cuda" if size == "8b" else "cpu")
    check_device(device)
    dims = {**_DEFAULTS[size][phase], **shape}
    unknown = set(dims) - set(_DEFAULTS[size][phase])
    if unknown:
        raise LabError(
            f"{spec}: unknown --shape key(s) {', '.join(sorted(unknown))}; known: {', '.join(_DEFAULTS[size][phase])}"
        )
    values = QWEN3_8B if size == "8b" else QWEN3_TINY
    # bf16 where it is the real dtype (GPU); float32 on a CPU, where bf16 kernels are slow fallbacks.
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    config = make_config(values)
    model = _build_model(config, device, dtype)
    if phase == "decode":
        step, description = _decode_step(model, config, dims, device, compile_mode)
    else:
        step, description = _prefill_step(model, config, dims, device, compile_mode)
    annotate = _rotary_annotation()
    return ProfileTarget(
        spec=spec,
        step=step,
        device=device,
        dtype=str(dtype).removeprefix("torch."),
        shape=dims,
        description=description,
        model=None if compile_mode else model,
        annotate=[] if compile_mode else annotate,
        compiled=compile_mode,
        config={k: v for k, v in values.items()},
    )


# One built model per process: profiling decode and prefill of the same 8B model (a suite run)
# should not pay for, or hold, a second 16 GB copy.
_LAST_MODEL: dict[tuple[str, str, str], Any] = {}


def _build_model(config, device: str, dtype):
    key = (repr(sorted(config.to_dict().items())), device, str(dtype))
    if key in _LAST_MODEL:
        return _LAST_MODEL[key]
    _LAST_MODEL.clear()
    model = _new_model(config, device, dtype)
    _LAST_MODEL[key] = model
    return model


def _new_model(config, device: str, dtype):
    import torch
    from transformers import Qwen3ForCausalLM

    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # allocate parameters in the target dtype directly: 8B in fp32 would be 32 GB
    try:
        with torch.device(device):
            model = Qwen3ForCausalLM(config)
    finally:
        torch.set_default_dtype(previous)
    model = model.to(dtype).eval()
    # Random, not zeros or uninitialised memory: matmuls on zeros run measurably faster.
    gen = torch.Generator(device=device).manual_seed(0)
    with torch.no_grad():
        for param in model.parameters():
            if param.dim() >= 2:
                param.normal_(0.0, 0.02, generator=gen)
    return model


def _compile(fn, compile_mode: str | None):
    if compile_mode is None:
        return fn
    import torch

    return torch.compile(fn, mode=None if compile_mode == "default" else compile_mode)


def _decode_step(model, config, dims: dict[str, Any], device: str, compile_mode: str | None):
    import torch
    from transformers import DynamicCache, StaticCache

    batch, context, kind, room = int(dims["batch"]), int(dims["context"]), str(dims["cache"]), int(dims["room"])
    if kind not in ("static", "dynamic"):
        raise LabError(f"--shape cache={kind!r}: expected static or dynamic")
    if kind == "dynamic" and compile_mode:
        raise LabError("compiled decode needs a fixed-shape cache: use --shape cache=static")
    gen = torch.Generator(device=device).manual_seed(0)
    prompt = torch.randint(0, config.vocab_size, (batch, context), device=device, generator=gen)
    # Each static step appends one token, so the cache gets `room` spare slots. Where the model
    # still takes `cache_position` (earlier 5.x), pass it: deriving it from the cache inside a
    # compiled graph costs a graph break. Later 5.x track the position in the cache itself.
    takes_position = "cache_position" in inspect.signature(type(model.model).forward).parameters
    positions = [torch.tensor([context + i], device=device) for i in range(room)] if takes_position else []
    cache: StaticCache | DynamicCache
    if kind == "static":
        cache = StaticCache(config=config, max_cache_len=context + room)
    else:
        cache = DynamicCache(config=config)
    with torch.inference_mode():
        model(input_ids=prompt, past_key_values=cache, use_cache=True, logits_to_keep=1)
    token = torch.randint(0, config.vocab_size, (batch, 1), device=device, generator=gen)
    forward = _compile(model.forward, compile_mode)
    done = [0]

    def step():
        if kind == "static" and done[0] >= room:
            raise LabError(f"decode used up the cache's {room} spare slots: fewer --steps/--warmup or --shape room=N")
        extra = {"cache_position": positions[done[0] if kind == "static" else 0]} if takes_position else {}
        done[0] += 1
        out = forward(input_ids=token, past_key_values=cache, use_cache=True, logits_to_keep=1, **extra)
        if kind == "dynamic":
            cache.crop(context)  # back to the same length: every step identical
        return out.logits

    attended = f"{context}+{room} static slots" if kind == "static" else f"{context} tokens, dynamic"
    return step, f"decode 1 token, batch {batch}, KV cache of {context} tokens ({attended})"


def _prefill_step(model, config, dims: dict[str, Any], device: str, compile_mode: str | None):
    import torch

    batch, seq = int(dims["batch"]), int(dims["seq"])
    gen = torch.Generator(device=device).manual_seed(0)
    ids = torch.randint(0, config.vocab_size, (batch, seq), device=device, generator=gen)
    forward = _compile(model.forward, compile_mode)

    def step():
        return forward(input_ids=ids, use_cache=False, logits_to_keep=1).logits

    return step, f"prefill batch {batch} x {seq} tokens, last-position logits"


def _rotary_annotation() -> list[tuple[Any, str, str]]:
    """``apply_rotary_pos_emb`` is a plain function, not a module: give it its own scope."""
    from transformers.models.qwen3 import modeling_qwen3

    if callable(getattr(modeling_qwen3, "apply_rotary_pos_emb", None)):
        return [(modeling_qwen3, "apply_rotary_pos_emb", "apply_rotary_pos_emb")]
    return []
