"""Input checks shared by both backends, with the wording the C++ binding also uses.

Checks run in an order that does not depend on the device, so each message can be
exercised on a machine without a GPU.
"""

from __future__ import annotations

import torch

SUPPORTED_DTYPES = (torch.bfloat16, torch.float16, torch.float32)

# Longest row the register-cached CUDA paths hold: 64 KiB (see rmsnorm/rmsnorm.h).
CUDA_MAX_CACHED_ROW_BYTES = 8 * 512 * 16
# Longest row the Triton kernel accepts: one program holds the row in registers.
TRITON_MAX_HIDDEN = 65536


class RMSNormInputError(ValueError):
    """An input the rmsnorm kernels refuse; the message says why and what to do."""


def unsupported_reason(
    x: torch.Tensor,
    weight: torch.Tensor,
    name: str = "x",
    max_hidden: int | None = None,
    check_device: bool = True,
) -> str | None:
    """Why the kernel cannot take (x, weight), or None if it can."""
    if x.dtype not in SUPPORTED_DTYPES:
        return f"rmsnorm: {name} has dtype {x.dtype}; supported dtypes are bfloat16, float16 and float32"
    if weight.dtype != x.dtype:
        return (
            f"rmsnorm: weight dtype {weight.dtype} != {name} dtype {x.dtype}; cast the weight with weight.to(x.dtype)"
        )
    if x.dim() == 0 or x.shape[-1] == 0:
        return f"rmsnorm: {name} needs a non-empty last (hidden) dimension, got shape {tuple(x.shape)}"
    if weight.dim() != 1 or weight.shape[0] != x.shape[-1]:
        return f"rmsnorm: weight shape {tuple(weight.shape)} does not match hidden size {x.shape[-1]}"
    if not x.is_contiguous():
        return f"rmsnorm: {name} is not contiguous; call .contiguous() first"
    if not weight.is_contiguous():
        return "rmsnorm: weight is not contiguous"
    if max_hidden is not None and x.shape[-1] > max_hidden:
        return (
            f"rmsnorm (triton): hidden size {x.shape[-1]} > {max_hidden} is refused; "
            "use the CUDA variant or torch.nn.functional.rms_norm"
        )
    if not check_device:
        return None
    if x.device.type != "cuda":
        return (
            f"rmsnorm: {name} is on {x.device}; this kernel needs CUDA tensors "
            "(use torch.nn.functional.rms_norm elsewhere)"
        )
    if weight.device != x.device:
        return f"rmsnorm: weight is on {weight.device} but {name} is on {x.device}"
    return None


def check_inputs(x: torch.Tensor, weight: torch.Tensor, name: str = "x", max_hidden: int | None = None) -> None:
    reason = unsupported_reason(x, weight, name, max_hidden)
    if reason is not None:
        raise RMSNormInputError(reason)


def check_fused_inputs(
    x: torch.Tensor, residual: torch.Tensor, weight: torch.Tensor, max_hidden: int | None = None
) -> None:
    # Device-independent problems first, for both tensors, then devices.
    for t, name in ((x, "x"), (residual, "residual")):
        reason = unsupported_reason(t, weight, name, max_hidden, check_device=False)
        if reason is not None:
            raise RMSNormInputError(reason)
    if residual.shape != x.shape:
        raise RMSNormInputError(f"rmsnorm: residual shape {tuple(residual.shape)} != x shape {tuple(x.shape)}")
    check_inputs(x, weight, "x", max_hidden)
    check_inputs(residual, weight, "residual", max_hidden)


def cuda_path(hidden: int, dtype: torch.dtype) -> str:
    """Which CUDA code path a row takes (mirror of rmsnorm::choose_path, 16-byte aligned data).

    vectorized: rows a multiple of 16 bytes and at most 64 KiB, cached in registers with
    16-byte accesses (the launch shape for a given row count: ``ops.launch_config``);
    scalar: the slower fallback for rows that are not a multiple of 16 bytes or longer.
    """
    if hidden <= 0:
        return "unsupported"
    row_bytes = hidden * torch.empty((), dtype=dtype).element_size()
    if row_bytes % 16 != 0 or row_bytes > CUDA_MAX_CACHED_ROW_BYTES:
        return "scalar"
    return "vectorized"
