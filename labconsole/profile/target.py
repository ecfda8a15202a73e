"""What a profile target is (a step to time, with its labels) and the device check every target runs.

Apart from ``targets`` so that the built-in builders (``qwen3``) and the resolver share it without a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from collections.abc import Callable

from labconsole.errors import LabError


@dataclass
class ProfileTarget:
    """One repeatable step and what the report needs to know about it."""

    spec: str  # as given on the command line
    step: Callable[[], Any]
    device: str  # "cuda" | "cpu"
    dtype: str  # parameter dtype, e.g. "bfloat16"
    shape: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    model: Any = None  # nn.Module for scope annotation (None: no scopes)
    # Plain functions worth their own scope: (owner module/object, attribute, label).
    annotate: list[tuple[Any, str, str]] = field(default_factory=list)
    compiled: str | None = None  # torch.compile mode, None for eager
    config: dict[str, Any] = field(default_factory=dict)  # model config values, for the record


def check_device(device: str) -> None:
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        built = torch.version.cuda or "no CUDA (CPU-only build)"
        raise LabError(
            f"a GPU profile was asked for but torch {torch.__version__} ({built}) sees no CUDA device;"
            " use --device cpu or a qwen3-tiny-* target"
        )
    if device not in ("cuda", "cpu"):
        raise LabError(f"--device {device!r}: expected cuda or cpu")
