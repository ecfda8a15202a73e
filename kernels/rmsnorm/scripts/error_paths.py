"""Call one compiled op with one bad input, directly through torch.ops (no Python checks first),
and print the error it raises. Used to debug a crashing C++ error path on the device:

    python scripts/error_paths.py CASE            # prints the RuntimeError, exit 0
    python scripts/error_paths.py --list          # the case names, one a line
    cuda-gdb -batch -ex run -ex bt --args python3 scripts/error_paths.py CASE
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

CASES = {
    "fused_residual_shape": lambda k, x, w: k.ops.fused_add_rms_norm(
        x, torch.randn(2, 4096, device="cuda", dtype=x.dtype), w, 1e-6
    ),
    "fused_weight_dtype": lambda k, x, w: k.ops.fused_add_rms_norm(x, x.clone(), w.float(), 1e-6),
    "fused_weight_shape": lambda k, x, w: k.ops.fused_add_rms_norm(x, x.clone(), w[:2048], 1e-6),
    "weight_shape": lambda k, x, w: k.ops.rms_norm(x, w[:2048], 1e-6),
    "zero_hidden": lambda k, x, w: k.ops.rms_norm(x[:, :0], w[:0], 1e-6),
    "weight_dtype": lambda k, x, w: k.ops.rms_norm(x, w.float(), 1e-6),
    "config_residual_shape": lambda k, x, w: k.ops.rms_norm_config(
        x, w, 1e-6, 1, 0, torch.randn(2, 4096, device="cuda", dtype=x.dtype)
    ),
}


def main() -> int:
    from kernels import get_local_kernel

    case = sys.argv[1]
    if case == "--list":
        print("\n".join(CASES))
        return 0
    k = get_local_kernel(Path(__file__).resolve().parent.parent)
    assert k.BACKEND == "cuda", k.BACKEND
    x = torch.randn(4, 4096, device="cuda", dtype=torch.bfloat16)
    w = torch.ones(4096, device="cuda", dtype=torch.bfloat16)
    try:
        CASES[case](k, x, w)
    except RuntimeError as e:
        print(f"{case}: RuntimeError: {str(e).splitlines()[0]}")
        return 0
    print(f"{case}: no error raised")
    return 1


if __name__ == "__main__":
    sys.exit(main())
