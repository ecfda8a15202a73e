"""Reading a kernel repo's benchmark files into groups of timed cases.

The layout is ``kernels.benchmark.Benchmark`` (``kernels benchmark`` runs the
same files): a subclass with ``setup``/``setup_<w>``, ``benchmark_<w>`` and
``verify_<w>`` (which returns the reference that ``self.out`` is compared with).
Two readings, both compatible with that tool:

* a workload with its own ``setup_<w>`` is one shape with one case (kernels' style);
* workloads sharing ``setup()`` are the *variants* of one op — candidate and
  baselines — timed interleaved over a sweep of ``shapes``.

Optional class attributes this harness understands (``kernels benchmark`` ignores them):

``shapes``       list of dicts; each is set as attributes on a fresh instance before ``setup()``
``candidate``    the variant under test (default: the first ``benchmark_*`` defined)
``tolerance``    dict overriding atol / rtol / rel_norm for the output dtype
``outputs``      attribute names that are outputs (default ``["out"]``): poisoned, never refreshed
``fixed``        attribute names of inputs that fresh-input checks must not redraw
``bytes_moved()``  the fewest bytes one call must move (default: public tensor attributes + output)
``refresh_inputs(gen)``  redraw inputs in place (default: ``normal_`` on floating tensors)
``compile_module()``  ``(nn.Module, args)`` using the op, for the ``torch.compile(fullgraph=True)`` check
"""

from __future__ import annotations

import importlib.util
import itertools
import re
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Callable

from labconsole.core.params import number_or_text
from labconsole.errors import LabError

BASELINE_HINT = "the first benchmark_* method unless the class sets `candidate`"


def benchmark_base() -> type:
    """``kernels.benchmark.Benchmark`` — or a compatible stand-in where the ``kernels`` package is absent.

    The device image has no ``kernels`` package; benchmark files still say
    ``from kernels.benchmark import Benchmark``, so we provide that module.
    """
    try:
        from kernels.benchmark import Benchmark  # type: ignore[import-not-found,import-untyped]

        return Benchmark
    except ImportError:
        pass
    mod = types.ModuleType("kernels.benchmark")

    class Benchmark:  # type: ignore[no-redef]  # same surface as kernels 0.17's
        seed: int | None = None
        device: str = "cpu"

        def __init__(self) -> None:
            self.kernel: Any = None
            self.out: Any = None

        def setup(self) -> None:
            pass

    Benchmark.__module__ = "kernels.benchmark"
    mod.Benchmark = Benchmark  # type: ignore[attr-defined]
    parent = sys.modules.get("kernels")
    if parent is None:
        parent = types.ModuleType("kernels")
        parent.__path__ = []  # type: ignore[attr-defined]
        sys.modules["kernels"] = parent
    parent.benchmark = mod  # type: ignore[attr-defined]
    sys.modules["kernels.benchmark"] = mod
    return Benchmark


def discover_scripts(kernel_dir: Path) -> list[Path]:
    bench_dir = kernel_dir / "benchmarks"
    scripts = sorted(bench_dir.glob("benchmark*.py")) if bench_dir.is_dir() else []
    if not scripts:
        raise LabError(f"{kernel_dir}: no benchmarks/benchmark*.py (the kernels.benchmark.Benchmark layout)")
    return scripts


def load_classes(script: Path) -> list[type]:
    """Benchmark subclasses defined in ``script`` (not imported into it), in definition order."""
    base = benchmark_base()
    stem = re.sub(r"\W", "_", script.stem)
    mod_name = f"labconsole_bench_{stem}_{abs(hash(str(script.resolve())))}"
    spec = importlib.util.spec_from_file_location(mod_name, script)
    if spec is None or spec.loader is None:
        raise LabError(f"cannot load benchmark script {script}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    sys.path.insert(0, str(script.parent))  # helpers beside the script import as they would under `kernels benchmark`
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise LabError(f"{script}: import failed: {type(exc).__name__}: {exc}") from exc
    finally:
        sys.path.remove(str(script.parent))
    # A leading underscore marks a shared base class, not a benchmark.
    classes = [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type)
        and issubclass(obj, base)
        and obj is not base
        and obj.__module__ == mod_name
        and not obj.__name__.startswith("_")
    ]
    if not classes:
        raise LabError(f"{script}: no kernels.benchmark.Benchmark subclass defined")
    return classes


def workload_names(cls: type) -> list[str]:
    """``benchmark_<w>`` names in definition order (base classes first)."""
    seen: dict[str, None] = {}
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            if name.startswith("benchmark_") and callable(value):
                seen.setdefault(name.removeprefix("benchmark_"), None)
    return list(seen)


def parse_shapes(specs: list[str] | None) -> list[dict[str, Any]] | None:
    """``["rows=1,16,4096", "hidden=4096"]`` → the cartesian product as dicts; ``None`` if no specs."""
    if not specs:
        return None
    axes: list[tuple[str, list[Any]]] = []
    for spec in specs:
        for part in spec.split(";"):
            if not part.strip():
                continue
            name, sep, values = part.partition("=")
            if not sep or not name.strip() or not values.strip():
                raise LabError(f"--shapes {spec!r}: expected NAME=V1,V2,... (e.g. rows=1,16,4096)")
            axes.append((name.strip(), [number_or_text(v.strip()) for v in values.split(",") if v.strip()]))
    return [dict(zip([a for a, _ in axes], combo)) for combo in itertools.product(*[v for _, v in axes])]


def shape_label(shape: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in shape.items()) or "default"


@dataclass
class Group:
    """One op at one shape: its variants are timed interleaved against each other and a copy."""

    script: str
    cls: type
    shape: dict[str, Any]
    label: str
    variants: list[str]  # workload names; benchmark_<name>
    candidate: str
    setup_name: str  # "setup" or "setup_<w>"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def bench_id(self) -> str:
        return f"{self.script}:{self.cls.__name__}"


def plan_groups(
    script: Path, cls: type, shapes_override: list[dict[str, Any]] | None = None, only: list[str] | None = None
) -> list[Group]:
    names = workload_names(cls)
    if not names:
        raise LabError(f"{script.name}:{cls.__name__}: no benchmark_* methods")
    if only:
        names = [n for n in names if n in only]
    own = [n for n in names if callable(getattr(cls, f"setup_{n}", None))]
    shared = [n for n in names if n not in own]
    groups: list[Group] = []
    if shared:
        candidate = getattr(cls, "candidate", None) or shared[0]
        if only and candidate not in shared and candidate in workload_names(cls):
            candidate = shared[0]  # the caller filtered the candidate out: the first one left stands in
        if candidate not in shared:
            raise LabError(f"{script.name}:{cls.__name__}: candidate {candidate!r} is not a benchmark_* method")
        shapes = shapes_override or list(getattr(cls, "shapes", None) or [{}])
        for shape in shapes:
            groups.append(Group(script.name, cls, dict(shape), shape_label(shape), shared, candidate, "setup"))
    for n in own:
        groups.append(Group(script.name, cls, {}, n, [n], n, f"setup_{n}"))
    return groups


def make_instance(group: Group, kernel: Any, device: str, seed_offset: int = 0) -> Any:
    """A fresh, set-up instance for ``group`` (seeded as ``kernels benchmark`` does)."""
    import random

    import torch

    inst = group.cls()
    inst.kernel = kernel
    inst.device = device
    seed = getattr(inst, "seed", None)
    if seed is not None:
        torch.manual_seed(seed + seed_offset)
        random.seed(seed + seed_offset)
    for key, value in group.shape.items():
        setattr(inst, key, value)
    inst.shape = dict(group.shape)
    getattr(inst, group.setup_name)()
    return inst


def output_names(inst: Any) -> list[str]:
    return list(getattr(inst, "outputs", None) or ["out"])


def input_tensors(inst: Any) -> dict[str, Any]:
    """Public tensor attributes that are not outputs: what a call reads."""
    import torch

    outs = set(output_names(inst))
    return {
        k: v for k, v in vars(inst).items() if isinstance(v, torch.Tensor) and not k.startswith("_") and k not in outs
    }


def default_bytes_moved(inst: Any) -> int:
    """Each input read once and each output written once (the floor the copy case is sized to)."""
    import torch

    total = sum(t.numel() * t.element_size() for t in input_tensors(inst).values())
    for name in output_names(inst):
        out = getattr(inst, name, None)
        if isinstance(out, torch.Tensor):
            total += out.numel() * out.element_size()
    return total


def bytes_moved(inst: Any) -> int:
    fn: Callable[[], int] | None = getattr(inst, "bytes_moved", None)
    return int(fn()) if callable(fn) else default_bytes_moved(inst)


def refresh_inputs(inst: Any, seed: int) -> list[str]:
    """Redraw inputs in place (same storage, new values) so a kernel that caches by pointer is caught.

    Draws on each tensor's own device (a 10^8-element CPU draw would take seconds).
    A class's ``refresh_inputs(gen)`` hook gets a generator on ``inst.device``.
    """
    import torch

    gens: dict[str, Any] = {}

    def gen_for(device: Any) -> Any:
        key = str(device)
        if key not in gens:
            gens[key] = torch.Generator(device=device).manual_seed(seed)
        return gens[key]

    hook = getattr(inst, "refresh_inputs", None)
    if callable(hook):
        hook(gen_for(torch.device(getattr(inst, "device", "cpu"))))
        return ["<refresh_inputs>"]
    fixed = set(getattr(inst, "fixed", None) or [])
    redrawn = []
    with torch.no_grad():
        for name, t in input_tensors(inst).items():
            if name in fixed or not t.is_floating_point():
                continue
            src = torch.randn(t.shape, generator=gen_for(t.device), dtype=torch.float32, device=t.device)
            t.copy_(src)
            redrawn.append(name)
    return redrawn


def load_kernel(kernel_dir: Path) -> tuple[Any, str]:
    """(kernel module or None, how it was loaded). No ``build/`` → None: files that need no ``self.kernel`` still run."""
    build = kernel_dir / "build"
    if not build.is_dir():
        return None, "no build/ directory: self.kernel is None"
    try:
        from kernels import get_local_kernel  # type: ignore[import-not-found,attr-defined]

        return get_local_kernel(kernel_dir), "kernels.get_local_kernel"
    except Exception as first:
        first_error = f"{type(first).__name__}: {first}"
    variants = _matching_variants(build)
    for variant in variants:
        module = _import_variant(variant)
        if module is not None:
            return module, f"imported {variant.relative_to(kernel_dir)} ({first_error})"
    raise LabError(f"{kernel_dir}: cannot load a build variant from build/ ({first_error})")


def _matching_variants(build: Path) -> list[Path]:
    import torch

    major, minor = torch.__version__.split(".")[:2]
    want_torch = f"torch{major}{minor}"
    cuda = getattr(torch.version, "cuda", None)
    want_cuda = f"cu{cuda.replace('.', '')}" if cuda else None
    dirs = [d for d in sorted(build.iterdir()) if d.is_dir()]

    def score(d: Path) -> tuple[int, int]:
        return (want_torch in d.name, bool(want_cuda and want_cuda in d.name))

    return sorted(dirs, key=score, reverse=True)


def _import_variant(variant: Path) -> Any:
    init = variant / "__init__.py"
    if init.exists():
        name = "labconsole_kernel_" + re.sub(r"\W", "_", variant.name)
        spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=[str(variant)])
        if spec and spec.loader:
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
            return module
    packages = [d for d in variant.iterdir() if (d / "__init__.py").exists()]
    if len(packages) == 1:
        sys.path.insert(0, str(variant))
        return importlib.import_module(packages[0].name)
    return None
