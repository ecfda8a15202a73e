"""Extracting the objective's metric from a finished run."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from labconsole.core.config import MetricSpec


class MetricError(Exception):
    """The run finished but its metric could not be read (shown on the run, never hidden)."""


def extract_metric(spec: MetricSpec, workdir: Path, stdout: str) -> float:
    if spec.kind == "json":
        path = workdir / spec.file
        if not path.exists():
            raise MetricError(f"{spec.file} was not written by the run")
        try:
            value: object = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise MetricError(f"{spec.file} is not valid JSON: {exc}") from None
        for key in spec.path.split("."):
            if isinstance(value, dict) and key in value:
                value = value[key]
            elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
                value = value[int(key)]
            else:
                raise MetricError(f"{spec.file} has no {spec.path!r}")
    else:
        matches = re.findall(spec.pattern, stdout, re.MULTILINE)
        if not matches:
            raise MetricError(f"no line of the output matches {spec.pattern!r}")
        value = matches[-1][0] if isinstance(matches[-1], tuple) else matches[-1]
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise MetricError(f"metric value {value!r} is not a number") from None
    if not math.isfinite(number):
        raise MetricError(f"metric value is {number}")
    return number
