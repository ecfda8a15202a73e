"""Protected-path globs (``lab.toml``'s ``protected``): per-component fnmatch anchored at the repo root."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence


def _glob_to_parts(pattern: str) -> list[str]:
    pattern = pattern.strip().replace("\\", "/")
    while pattern.startswith("./"):
        pattern = pattern[2:]
    pattern = pattern.lstrip("/")
    if pattern.endswith("/"):  # "data/" means everything under data
        pattern += "**"
    return [p for p in pattern.split("/") if p]


def _match_parts(path: Sequence[str], pat: Sequence[str]) -> bool:
    if not pat:
        return not path
    head, rest = pat[0], pat[1:]
    if head == "**":
        # "**" swallows zero or more whole path components.
        return any(_match_parts(path[i:], rest) for i in range(len(path) + 1))
    if not path:
        return False
    return fnmatch.fnmatchcase(path[0], head) and _match_parts(path[1:], rest)


def matches_glob(path: str, pattern: str) -> bool:
    """fnmatch per path component, anchored at the repo root; ``**`` spans directories.

    ``prepare.py`` matches only the top-level file, ``**/prepare.py`` matches it anywhere,
    ``bench/**`` (or ``bench/``) matches everything under ``bench``.
    """
    parts = _glob_to_parts(pattern)
    return bool(parts) and _match_parts([p for p in path.split("/") if p], parts)


def matches_any(path: str, globs: Iterable[str]) -> bool:
    return any(matches_glob(path, g) for g in globs)
