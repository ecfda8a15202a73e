"""Typed dataclasses ⇄ plain JSON data, driven by the classes' type hints (replay snapshots use it).

``to_data`` turns a dataclass tree into dicts/lists/str/numbers/None; ``from_data`` rebuilds it
and accepts nothing but the declared fields and types, raising :class:`DataError` otherwise. It
never imports, calls or constructs anything the class does not declare: data read from a session
directory (which may come from anyone) can only become these dataclasses, never code.

Supported hints: the JSON scalars, ``X | None``, ``list[T]``, ``dict[str, T]``, ``set[T]``,
``tuple[T, ...]`` and fixed tuples, nested dataclasses, and ``Any`` (which must hold JSON data
itself: a tuple there would not come back as one, so it is refused rather than changed).
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from functools import cache
from typing import Any, TypeVar

T = TypeVar("T")

_SCALARS = (str, int, float, bool, type(None))


class DataError(ValueError):
    """Data that does not fit the declared type (or a value that cannot be data)."""


@cache
def _hints(cls: type) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in typing.get_type_hints(cls).items() if k in names}


def to_data(obj: Any) -> Any:
    """Plain JSON-able data for a dataclass tree (sets sorted, tuples as lists)."""
    return _encode(Any if not dataclasses.is_dataclass(obj) else type(obj), obj, type(obj).__name__)


def _encode(hint: Any, obj: Any, where: str) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {name: _encode(h, getattr(obj, name), f"{where}.{name}") for name, h in _hints(type(obj)).items()}
    if hint is Any:
        _check_plain(obj, where)  # a tuple here would come back as a list: refuse instead of changing it
        return obj
    if isinstance(obj, _SCALARS):
        return obj
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        hint = options[0] if len(options) == 1 else Any
    args = typing.get_args(hint)
    if isinstance(obj, dict):
        if not all(isinstance(k, str) for k in obj):
            raise DataError(f"{where}: a dict with non-string keys cannot be data")
        value_hint = args[1] if len(args) == 2 else Any
        return {k: _encode(value_hint, v, f"{where}[{k!r}]") for k, v in obj.items()}
    if isinstance(obj, tuple) and len(args) == len(obj) and Ellipsis not in args:
        return [_encode(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, obj, strict=True))]
    if isinstance(obj, (list, tuple, set, frozenset)):
        item_hint = args[0] if args else Any
        items = [_encode(item_hint, v, f"{where}[]") for v in obj]
        if isinstance(obj, (set, frozenset)):
            # Sorted by their JSON text: the same set always writes the same bytes.
            items.sort(key=lambda v: json.dumps(v, sort_keys=True))
        return items
    raise DataError(f"{where}: a {type(obj).__name__} cannot be data")


def from_data(cls: type[T], data: Any) -> T:
    """Rebuild ``cls`` (a dataclass) from ``to_data`` output; raise DataError on anything else."""
    return typing.cast(T, _build(cls, data, cls.__name__))


def _build(hint: Any, data: Any, where: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        _check_plain(data, where)
        return data
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if not isinstance(data, dict):
            raise DataError(f"{where}: expected an object")
        hints = _hints(hint)
        if set(data) != set(hints):
            raise DataError(f"{where}: fields {sorted(set(data) ^ set(hints))} do not match {hint.__name__}")
        return hint(**{name: _build(h, data[name], f"{where}.{name}") for name, h in hints.items()})
    if origin in (typing.Union, types.UnionType):
        for option in args:
            try:
                return _build(option, data, where)
            except DataError:
                continue
        raise DataError(f"{where}: {type(data).__name__} fits none of {hint}")
    if origin is list:
        return [_build(args[0], v, f"{where}[{i}]") for i, v in enumerate(_list(data, where))]
    if origin in (set, frozenset):
        return origin(_build(args[0], v, f"{where}[{i}]") for i, v in enumerate(_list(data, where)))
    if origin is tuple:
        items = _list(data, where)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_build(args[0], v, f"{where}[{i}]") for i, v in enumerate(items))
        if len(items) != len(args):
            raise DataError(f"{where}: expected {len(args)} items")
        return tuple(_build(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, items, strict=True)))
    if origin is dict:
        if not isinstance(data, dict):
            raise DataError(f"{where}: expected an object")
        return {k: _build(args[1], v, f"{where}[{k!r}]") for k, v in data.items()}
    if hint is type(None) or hint is None:
        if data is not None:
            raise DataError(f"{where}: expected null")
        return None
    if hint is float:
        if isinstance(data, (int, float)) and not isinstance(data, bool):
            return data  # JSON writes 2.0 as 2.0, but a field that held an int keeps it
        raise DataError(f"{where}: expected a number")
    if hint is int:
        if isinstance(data, int) and not isinstance(data, bool):
            return data
        raise DataError(f"{where}: expected an integer")
    if hint in (str, bool):
        if type(data) is hint:
            return data
        raise DataError(f"{where}: expected {hint.__name__}")
    raise DataError(f"{where}: type {hint} is not supported as data")


def _list(data: Any, where: str) -> list[Any]:
    if not isinstance(data, list):
        raise DataError(f"{where}: expected a list")
    return data


def _check_plain(data: Any, where: str) -> None:
    """``Any`` fields hold JSON data only, so what comes back equals what went in."""
    if isinstance(data, _SCALARS):
        return
    if isinstance(data, list):
        for v in data:
            _check_plain(v, where)
        return
    if isinstance(data, dict) and all(isinstance(k, str) for k in data):
        for v in data.values():
            _check_plain(v, where)
        return
    raise DataError(f"{where}: a {type(data).__name__} in an untyped field cannot be data")


__all__ = ["DataError", "from_data", "to_data"]
