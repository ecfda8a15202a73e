"""Reading and writing ``NAME = value`` hyperparameter lines: how sweep workers edit code."""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable
from typing import Any

from labconsole.errors import LabError


_QUOTED = r"'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\""


def _line(name: str) -> re.Pattern[str]:
    # A module-level assignment at column 0; a trailing comment is kept. A '#' inside a quoted string
    # is part of the value, not a comment.
    return re.compile(
        rf"^(?P<lhs>{re.escape(name)}\s*=\s*)(?P<value>(?:{_QUOTED}|[^#\n'\"])*?)(?P<tail>\s*(#.*)?)$", re.MULTILINE
    )


def read_params(text: str, names: list[str]) -> dict[str, Any]:
    """The current literal value of each ``NAME = value`` line; names not found are left out."""
    values: dict[str, Any] = {}
    for name in names:
        match = _line(name).search(text)
        if match:
            try:
                values[name] = ast.literal_eval(match.group("value").strip())
            except (ValueError, SyntaxError):
                values[name] = match.group("value").strip()
    return values


def number_or_text(text: str) -> Any:
    """``text`` as an int, else a float, else as it is: a command line's ``NAME=V`` value."""
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return text


def format_value(value: Any) -> str:
    """The Python literal written for ``value``: reading it back gives exactly ``value`` again.

    Floats are written short (6 significant digits) only where that is the same number; otherwise in
    full, because the edit is checked by reading it back and a rounded value is another experiment.
    """
    if hasattr(value, "item") and not isinstance(value, (bool, int, float, str)):
        value = value.item()  # a numpy scalar (repr 'np.float64(…)' is no literal)
    if isinstance(value, float):
        if math.isnan(value):
            raise LabError("NaN is no value a parameter line can hold: it never equals itself when read back")
        if math.isinf(value):
            return "1e999" if value > 0 else "-1e999"  # literal_eval reads these as ±inf
        short = f"{value:.6g}"
        # '3' would read back as an int: keep a float's '.0' then ('1e+20' reads back as a float).
        if float(short) == value and ("." in short or "e" in short):
            return short
    return repr(value)


def _replacer(literal: str) -> Callable[[re.Match[str]], str]:
    return lambda m: f"{m.group('lhs')}{literal}{m.group('tail')}"


def write_params(text: str, params: dict[str, Any]) -> str:
    """Return ``text`` with each parameter's line rewritten. Every name must exist exactly once."""
    for name, value in params.items():
        pattern = _line(name)
        matches = pattern.findall(text)
        if len(matches) != 1:
            raise LabError(f"expected exactly one line '{name} = …' at column 0, found {len(matches)}")
        text = pattern.sub(_replacer(format_value(value)), text, count=1)
    return text
