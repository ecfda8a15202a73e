"""Bytes moved and FLOPs of one operator call, estimated from its recorded shapes.

The profiler (``record_shapes=True``) gives each op's input shapes and dtype
names; that is enough to count the *fewest* bytes a call must move through
memory (each input read once, each output written once) and the arithmetic it
must do. Both are lower bounds on purpose: they are what a perfect kernel would
need, so ``measured time / ideal time`` says how far the real kernel is from
the roofline.

Unknown ops get ``bytes=0, flops=0`` and the category ``other``; the roofline
then judges them by time alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any
from collections.abc import Sequence


# The categories live with the op-name tables; re-exported here, where callers have always found them.
from labconsole.profile.op_categories import (
    ATTENTION,
    COPY,
    ELEMENTWISE,
    ELEMENTWISE_FLOPS,
    EMBEDDING,
    MATMUL,
    NORM,
    OTHER,
    REDUCTION,
    ROTARY,
    SOFTMAX,
    VIEW,
    base_name,
    category_of,
)

# Profiler dtype names -> bytes per element. "Scalar" (a Python number) is not a tensor.
_ITEMSIZE = {
    "double": 8,
    "float": 4,
    "c10::Half": 2,
    "c10::BFloat16": 2,
    "c10::Float8_e4m3fn": 1,
    "c10::Float8_e5m2": 1,
    "long int": 8,
    "long": 8,
    "int": 4,
    "short int": 2,
    "short": 2,
    "signed char": 1,
    "unsigned char": 1,
    "bool": 1,
    "c10::complex<float>": 8,
    "c10::complex<double>": 16,
}
# ScalarType enum values, for a ``dtype=`` argument seen among concrete inputs.
_SCALAR_TYPE_ITEMSIZE = {0: 1, 1: 1, 2: 2, 3: 4, 4: 8, 5: 2, 6: 4, 7: 8, 11: 1, 15: 2}

_WRITE_ONLY_OPS = {
    "fill_",
    "zero_",
    "zeros",
    "ones",
    "full",
    "normal_",
    "uniform_",
    "random_",
    "arange",
    "zeros_like",
    "ones_like",
    "full_like",
}


@dataclass(frozen=True)
class OpCost:
    """What one call must at least move and compute."""

    bytes: int
    flops: int
    category: str


def itemsize(dtype_name: str | None, default: int) -> int:
    if not dtype_name:
        return default
    return _ITEMSIZE.get(dtype_name, default)


@dataclass(frozen=True)
class _Arg:
    shape: tuple[int, ...] | None  # None: not a tensor (scalar, list of ints, None)
    itemsize: int
    numel: int

    @property
    def nbytes(self) -> int:
        return self.numel * self.itemsize

    @property
    def dims(self) -> tuple[int, ...]:
        """The shape, or () for a non-tensor argument."""
        return self.shape or ()


def _args(shapes: Sequence[Any], dtypes: Sequence[str] | None, default_itemsize: int) -> list[_Arg]:
    """Normalise the profiler's parallel (shape, dtype) lists; tensor lists are summed into one arg."""
    out: list[_Arg] = []
    for i, shape in enumerate(shapes):
        dtype = dtypes[i] if dtypes and i < len(dtypes) else None
        is_list = isinstance(shape, (list, tuple)) and bool(shape) and all(isinstance(s, (list, tuple)) for s in shape)
        if is_list:  # a TensorList with recorded shapes
            numel = sum(math.prod(s) for s in shape)
            out.append(_Arg(tuple(shape[0]), itemsize(None, default_itemsize), numel))
            continue
        dims_ok = isinstance(shape, (list, tuple)) and all(isinstance(s, int) for s in shape)
        # A tensor: a known dtype name, or (no dtype recorded) a non-empty shape. "" is an absent
        # optional, "Scalar"/"ScalarList" Python numbers, "TensorList" a list whose shapes were not kept.
        is_tensor = dims_ok and (dtype in _ITEMSIZE or (dtype is None and bool(shape)))
        if is_tensor:
            out.append(_Arg(tuple(shape), itemsize(dtype, default_itemsize), math.prod(shape)))
        else:
            out.append(_Arg(None, 0, 0))
    return out


def _broadcast(shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
    ndim = max((len(s) for s in shapes), default=0)
    result = [1] * ndim
    for s in shapes:
        for i, d in enumerate(s):
            j = ndim - len(s) + i
            result[j] = max(result[j], d)
    return tuple(result)


def _tensors(args: list[_Arg]) -> list[_Arg]:
    return [a for a in args if a.shape is not None]


def estimate(
    op_name: str,
    shapes: Sequence[Any],
    dtypes: Sequence[str] | None = None,
    concrete: Sequence[Any] | None = None,
    default_itemsize: int = 2,
) -> OpCost:
    """Minimum bytes and FLOPs of one call of ``op_name`` on inputs of these shapes.

    ``default_itemsize`` is used where the profiler gave no dtype name for a tensor.
    """
    name = base_name(op_name)
    category = category_of(op_name)
    args = _args(shapes, dtypes, default_itemsize)
    tensors = _tensors(args)
    if not tensors or category == VIEW:
        return OpCost(0, 0, category)
    if name.startswith(("triton_", "cpp_fused")):
        return _fused(name, args, concrete, category)
    if category == MATMUL:
        return _matmul(name, tensors)
    if category == ATTENTION:
        return _attention(tensors, _flag_at(concrete, _IS_CAUSAL_ARG.get(name)))
    if category == NORM:
        x = tensors[0]
        params = sum(t.nbytes for t in tensors[1:])
        return OpCost(2 * x.nbytes + params, 4 * x.numel, NORM)
    if category == SOFTMAX:
        x = tensors[0]
        return OpCost(2 * x.nbytes, 5 * x.numel, SOFTMAX)
    if category == REDUCTION:
        x = tensors[0]
        return OpCost(x.nbytes, x.numel, REDUCTION)
    if category == EMBEDDING:
        return _gather(name, tensors, concrete)
    if category == COPY:
        return _copy(name, tensors, concrete)
    if name.startswith(("triton_", "cpp_fused")):
        return _fused(name, args, concrete, category)
    if category in (ELEMENTWISE, NORM, ROTARY, REDUCTION, SOFTMAX):
        return _elementwise(name, tensors, category)
    return OpCost(0, 0, category)


def _matmul(name: str, t: list[_Arg]) -> OpCost:
    # Positional layouts: addmm(bias, a, b), baddbmm(self, a, b), linear(x, w, bias?), others (a, b).
    if name in ("addmm", "baddbmm", "addmv", "_addmm_activation") and len(t) >= 3:
        bias, a, b = t[0], t[1], t[2]
    elif name == "linear" and len(t) >= 2:
        x, w = t[0], t[1]
        k = w.dims[-1]
        n = w.dims[0] if len(w.dims) == 2 else 1
        m = x.numel // max(k, 1)
        extra = t[2].nbytes if len(t) > 2 else 0
        out = m * n * x.itemsize
        return OpCost(x.nbytes + w.nbytes + extra + out, 2 * m * n * k, MATMUL)
    elif len(t) >= 2:
        bias, a, b = None, t[0], t[1]
    else:
        return OpCost(t[0].nbytes, 0, MATMUL)
    if len(a.dims) == 1 or len(b.dims) == 1:  # mv / dot
        k = a.dims[-1]
        m = a.numel // max(k, 1)
        n = b.numel // max(k, 1)
    else:
        m, k = a.dims[-2], a.dims[-1]
        n = b.dims[-1]
    batch = max(math.prod(a.dims[:-2]) if len(a.dims) > 2 else 1, math.prod(b.dims[:-2]) if len(b.dims) > 2 else 1)
    out_bytes = batch * m * n * a.itemsize
    nbytes = a.nbytes + b.nbytes + out_bytes + (bias.nbytes if bias else 0)
    return OpCost(nbytes, 2 * batch * m * n * k, MATMUL)


# Position of ``is_causal`` among each attention op's arguments (a causal call skips half the tiles).
_IS_CAUSAL_ARG = {
    "scaled_dot_product_attention": 5,
    "_scaled_dot_product_flash_attention": 4,
    "_scaled_dot_product_efficient_attention": 6,
    "_scaled_dot_product_cudnn_attention": 6,
    "_cudnn_attention_forward": 6,
    "_scaled_dot_product_flash_attention_for_cpu": 4,
}


def _flag_at(concrete: Sequence[Any] | None, index: int | None) -> bool:
    if concrete is None or index is None or index >= len(concrete):
        return False
    return concrete[index] is True or concrete[index] in ("True", "true", 1)


def _attention(t: list[_Arg], causal: bool = False) -> OpCost:
    if len(t) < 3 or len(t[0].dims) < 3:
        return OpCost(sum(a.nbytes for a in t), 0, ATTENTION)
    q, k, v = t[0], t[1], t[2]
    *qb, lq, e = q.dims
    lk = k.dims[-2]
    ev = v.dims[-1]
    heads_batch = math.prod(qb)
    flops = 2 * heads_batch * lq * lk * e + 2 * heads_batch * lq * lk * ev
    if causal and lq == lk:
        flops //= 2  # only the lower triangle of the score matrix is computed
    out = heads_batch * lq * ev * q.itemsize
    # A 4th tensor is the mask (or, for the flash/efficient internals, an extra); count it once.
    extra = sum(a.nbytes for a in t[3:4])
    return OpCost(q.nbytes + k.nbytes + v.nbytes + out + extra, flops, ATTENTION)


def _gather(name: str, t: list[_Arg], concrete: Sequence[Any] | None) -> OpCost:
    if name in ("embedding", "embedding_bag") and len(t) >= 2:
        weight, idx = t[0], t[1]
        row = weight.shape[-1] if weight.shape else 1
        out = idx.numel * row * weight.itemsize
        return OpCost(2 * out + idx.nbytes, 0, EMBEDDING)
    if name == "index_select" and len(t) >= 2:
        src, idx = t[0], t[1]
        dim = _int_at(concrete, 1, 0)
        size = src.shape[dim] if src.shape and -len(src.shape) <= dim < len(src.shape) else 1
        out = src.numel // max(size, 1) * idx.numel * src.itemsize
        return OpCost(2 * out + idx.nbytes, 0, EMBEDDING)
    # gather/index/take: the output has the index's size; read as much as is written.
    idx_bytes = sum(a.nbytes for a in t[1:])
    out_numel = max((a.numel for a in t[1:]), default=t[0].numel)
    return OpCost(2 * out_numel * t[0].itemsize + idx_bytes, 0, EMBEDDING)


def _copy(name: str, t: list[_Arg], concrete: Sequence[Any] | None) -> OpCost:
    if name == "copy_" and len(t) >= 2:
        return OpCost(t[0].nbytes + t[1].nbytes, 0, COPY)
    if name in ("_to_copy", "to"):
        x = t[0]
        out_size = _dtype_itemsize_from_concrete(concrete) or x.itemsize
        return OpCost(x.nbytes + x.numel * out_size, 0, COPY)
    if name in ("index_copy_", "index_copy"):
        src = t[-1]
        return OpCost(2 * src.nbytes + sum(a.nbytes for a in t[1:-1]), 0, COPY)
    if name in ("index_put_", "index_put", "_index_put_impl_"):
        values = t[-1]
        return OpCost(2 * values.nbytes + sum(a.nbytes for a in t[1:-1]), 0, COPY)
    if name in ("_local_scalar_dense", "item"):
        return OpCost(t[0].itemsize, 0, COPY)
    if name in ("repeat", "repeat_interleave"):
        return OpCost(2 * t[0].nbytes, 0, COPY)  # lower bound: the repeat count is not a tensor
    # cat/stack/clone/contiguous/...: read every input once, write as much.
    total = sum(a.nbytes for a in t)
    return OpCost(2 * total, 0, COPY)


def _elementwise(name: str, t: list[_Arg], category: str) -> OpCost:
    stem = name.rstrip("_")
    if stem in _WRITE_ONLY_OPS or name in _WRITE_ONLY_OPS:
        return OpCost(t[0].nbytes, 0, category)
    out_shape = _broadcast([a.shape for a in t if a.shape is not None])
    out_numel = math.prod(out_shape)
    out_itemsize = max(a.itemsize for a in t)
    flops = ELEMENTWISE_FLOPS.get(stem, 1) * out_numel
    return OpCost(sum(a.nbytes for a in t) + out_numel * out_itemsize, flops, category)


def _fused(name: str, args: list[_Arg], concrete: Sequence[Any] | None, category: str) -> OpCost:
    """An Inductor kernel: its tensor arguments are its inputs and outputs, each touched once —
    but no more elements of one than the kernel iterates over (a gather reads one row of a
    [151936, 4096] table; a cache write touches one slot of the whole cache)."""
    tensors = _tensors(args)
    space = _iteration_space(name, args, concrete)
    counts = [min(a.numel, space) if space else a.numel for a in tensors]
    nbytes = sum(n * a.itemsize for n, a in zip(counts, tensors))
    return OpCost(nbytes, max(counts), category)


def _iteration_space(name: str, args: list[_Arg], concrete: Sequence[Any] | None) -> int | None:
    """Elements a Triton kernel iterates over, from its trailing ``xnumel`` (``r0_numel``) arguments."""
    if not concrete:
        return None
    ints = [
        v
        for a, v in zip(args, concrete)
        if a.shape is None and isinstance(v, int) and not isinstance(v, bool) and v > 0
    ]
    if name.startswith("triton_poi") and ints:
        return ints[-1]
    if name.startswith(("triton_red", "triton_per")) and len(ints) >= 2:
        return ints[-1] * ints[-2]
    return None


def _int_at(concrete: Sequence[Any] | None, index: int, default: int) -> int:
    if not concrete or index >= len(concrete):
        return default
    value = concrete[index]
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _dtype_itemsize_from_concrete(concrete: Sequence[Any] | None) -> int | None:
    """``_to_copy(x, dtype=...)``: the profiler records the ScalarType as an int among concrete inputs."""
    if not concrete:
        return None
    for value in concrete[1:2]:
        try:
            code = int(value)
        except (TypeError, ValueError):
            continue
        return _SCALAR_TYPE_ITEMSIZE.get(code)
    return None


__all__ = [
    "ATTENTION",
    "COPY",
    "ELEMENTWISE",
    "EMBEDDING",
    "MATMUL",
    "NORM",
    "OTHER",
    "REDUCTION",
    "ROTARY",
    "SOFTMAX",
    "VIEW",
    "OpCost",
    "base_name",
    "category_of",
    "estimate",
    "itemsize",
]
