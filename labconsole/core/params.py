"""Reading and writing ``NAME = value`` hyperparameter lines: how sweep workers edit code."""

from __future__ import annotations

import ast
import re
from typing import Any

from labconsole.errors import LabError


def _line(name: str) -> re.Pattern[str]:
    # A module-level assignment at column 0; a trailing comment is kept.
    return re.compile(rf"^(?P<lhs>{re.escape(name)}\s*=\s*)(?P<value>[^#\n]*?)(?P<tail>\s*(#.*)?)$", re.MULTILINE)


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


def format_value(value: Any) -> str:
    if isinstance(value, float):
        return repr(float(f"{value:.6g}"))
    return repr(value)


def write_params(text: str, params: dict[str, Any]) -> str:
    """Return ``text`` with each parameter's line rewritten. Every name must exist exactly once."""
    for name, value in params.items():
        pattern = _line(name)
        matches = pattern.findall(text)
        if len(matches) != 1:
            raise LabError(f"expected exactly one line '{name} = …' at column 0, found {len(matches)}")
        text = pattern.sub(lambda m: f"{m.group('lhs')}{format_value(value)}{m.group('tail')}", text, count=1)
    return text
