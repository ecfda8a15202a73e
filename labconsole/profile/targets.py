"""What to profile: resolve a TARGET spec into one repeatable step.

Accepted specs:

- a built-in: ``qwen3-8b-decode``, ``qwen3-8b-prefill`` (Qwen3-8B shapes, bf16,
  random weights, GPU) and ``qwen3-tiny-decode``, ``qwen3-tiny-prefill`` (same
  architecture, a few hundred thousand parameters, float32, runs on a CPU);
- ``module:function`` — a *builder* (contract below);
- ``path/to/script.py`` or ``path/to/script.py:function`` — a script that
  defines a builder (``profile_target`` unless named); a script without one
  is re-run whole (``runpy``) as each step.

Builder contract: ``function(**shape)`` is called with the ``--shape``
key=value pairs (numbers converted) plus ``device="cuda"|"cpu"`` if its
signature takes ``device`` or ``**kwargs``. It returns one of

- ``(model, inputs)``: each step calls ``model(*inputs)`` for a tuple/list,
  ``model(**inputs)`` for a dict, ``model(inputs)`` otherwise;
- a zero-argument callable: each step calls it;
- a dict ``{"model": ..., "inputs": ..., "dtype": "bfloat16"}`` (keys as above).

If ``model`` is a ``torch.nn.Module`` its submodules become the operators'
scopes in the report (``model.layers.*.mlp.down_proj``). Steps run under
``torch.inference_mode()``; the runner synchronizes the device after each.
"""

from __future__ import annotations

import importlib
import inspect
import runpy
import sys
from pathlib import Path
from typing import Any
from collections.abc import Callable

from labconsole.core.params import number_or_text
from labconsole.errors import LabError
from labconsole.profile.target import ProfileTarget, check_device

BUILTINS = ("qwen3-8b-decode", "qwen3-8b-prefill", "qwen3-tiny-decode", "qwen3-tiny-prefill")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def parse_shape(items: list[str] | None) -> dict[str, Any]:
    """``["batch=1,context=4096", "cache=static"]`` -> ``{"batch": 1, "context": 4096, "cache": "static"}``."""
    shape: dict[str, Any] = {}
    for item in items or []:
        for part in item.split(","):
            part = part.strip()
            if not part:
                continue
            if "=" not in part:
                raise LabError(f"--shape {part!r}: expected key=value, e.g. --shape batch=1,context=4096")
            key, value = (s.strip() for s in part.split("=", 1))
            shape[key] = number_or_text(value)
    return shape


def resolve(spec: str, *, shape: dict[str, Any], device: str | None, compile_mode: str | None) -> ProfileTarget:
    """Build the target named by ``spec``. Raises LabError with one clear line on any user error."""
    if compile_mode is not None and compile_mode not in COMPILE_MODES:
        raise LabError(f"--compile-mode {compile_mode!r}: expected one of {', '.join(COMPILE_MODES)}")
    if spec in BUILTINS:
        from labconsole.profile import qwen3

        return _guard_oom(spec, lambda: qwen3.build(spec, shape=shape, device=device, compile_mode=compile_mode))
    if spec.startswith("qwen3-"):
        raise LabError(f"unknown built-in target {spec!r}: expected one of {', '.join(BUILTINS)}")
    device = device or _default_device()
    check_device(device)
    path_part, _, func_part = spec.partition(":")
    if path_part.endswith(".py") or Path(path_part).is_file():
        return _from_script(spec, Path(path_part), func_part or None, shape, device, compile_mode)
    if not func_part:
        raise LabError(
            f"profile target {spec!r}: expected a built-in ({', '.join(BUILTINS)}), module:function or a .py script"
        )
    try:
        module = importlib.import_module(path_part)
    except Exception as exc:  # ImportError and anything the module raises while importing
        raise LabError(f"cannot import module {path_part!r} for target {spec!r}: {type(exc).__name__}: {exc}") from exc
    builder = getattr(module, func_part, None)
    if not callable(builder):
        raise LabError(f"module {path_part!r} has no callable {func_part!r}")
    return _from_builder(spec, builder, shape, device, compile_mode)


def _default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _from_script(
    spec: str, path: Path, func: str | None, shape: dict[str, Any], device: str, compile_mode: str | None
) -> ProfileTarget:
    if not path.is_file():
        raise LabError(f"profile script {str(path)!r} does not exist")
    sys.path.insert(0, str(path.resolve().parent))  # so the script's sibling imports work, as with `python script.py`
    try:
        namespace = runpy.run_path(str(path), run_name="__labconsole_profile__")
    except Exception as exc:
        raise LabError(f"script {str(path)!r} failed while loading: {type(exc).__name__}: {exc}") from exc
    name = func or "profile_target"
    builder = namespace.get(name)
    if callable(builder):
        return _from_builder(spec, builder, shape, device, compile_mode)
    if func:
        raise LabError(f"script {str(path)!r} defines no function {func!r}")
    if compile_mode:
        raise LabError(f"--compile needs a builder: script {str(path)!r} defines no profile_target()")
    return ProfileTarget(
        spec=spec,
        step=lambda: runpy.run_path(str(path), run_name="__main__"),
        device=device,
        dtype="float32",
        shape=shape,
        description=f"script {path} re-run each step",
    )


def _from_builder(
    spec: str, builder: Callable[..., Any], shape: dict[str, Any], device: str, compile_mode: str | None
) -> ProfileTarget:
    kwargs = dict(shape)
    params = inspect.signature(builder).parameters
    if "device" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        kwargs["device"] = device
    try:
        built = _guard_oom(spec, lambda: builder(**kwargs))
    except LabError:
        raise
    except TypeError as exc:
        raise LabError(f"target {spec!r} rejected --shape {shape}: {exc}") from exc
    except Exception as exc:
        raise LabError(f"target {spec!r} failed while building: {type(exc).__name__}: {exc}") from exc
    model, inputs, dtype = _unpack(spec, built)
    call = _maybe_compile(model, compile_mode)
    step = _make_step(call, inputs)
    return ProfileTarget(
        spec=spec,
        step=step,
        device=device,
        dtype=dtype or _param_dtype(model),
        shape=shape,
        description=f"builder {getattr(builder, '__qualname__', builder)}",
        model=model if compile_mode is None and _is_module(model) else None,
        compiled=compile_mode,
    )


_NO_INPUTS = object()


def _unpack(spec: str, built: Any) -> tuple[Any, Any, str | None]:
    if isinstance(built, dict):
        model = built.get("model") or built.get("fn")
        return model, built.get("inputs", _NO_INPUTS), built.get("dtype")
    if isinstance(built, tuple) and len(built) == 2 and callable(built[0]):
        return built[0], built[1], None
    if callable(built):
        return built, _NO_INPUTS, None
    raise LabError(f"target {spec!r} returned {type(built).__name__}: expected (model, inputs), a callable or a dict")


def _make_step(call: Callable[..., Any], inputs: Any) -> Callable[[], Any]:
    if inputs is _NO_INPUTS:
        return call
    if isinstance(inputs, dict):
        return lambda: call(**inputs)
    if isinstance(inputs, (tuple, list)):
        return lambda: call(*inputs)
    return lambda: call(inputs)


def _maybe_compile(model: Any, compile_mode: str | None) -> Callable[..., Any]:
    if compile_mode is None:
        return model
    import torch

    return torch.compile(model, mode=None if compile_mode == "default" else compile_mode)


def _is_module(obj: Any) -> bool:
    import torch

    return isinstance(obj, torch.nn.Module)


def _param_dtype(model: Any) -> str:
    if _is_module(model):
        for p in model.parameters():
            return str(p.dtype).removeprefix("torch.")
    return "float32"


def _guard_oom(spec: str, fn: Callable[[], Any]) -> Any:
    import torch

    try:
        return fn()
    except torch.cuda.OutOfMemoryError as exc:
        raise LabError(
            f"out of GPU memory while building {spec!r}: try a smaller --shape ({_first_line(exc)})"
        ) from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:160] if text else type(exc).__name__
