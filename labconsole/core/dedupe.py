"""Near-duplicate hypotheses: normalized text plus fuzzy similarity (rapidfuzz), and equal changes.

The planner checks every new hypothesis against *every* earlier one, rejected
and duplicate ones included, so an idea that was tried is never tried again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from rapidfuzz import fuzz

# token_set_ratio at or above this counts as the same idea worded differently.
TEXT_THRESHOLD = 90.0


@dataclass(frozen=True)
class DuplicateMatch:
    of: str
    similarity: float  # 0..1
    why: str


def normalize(text: str) -> str:
    text = text.lower()
    text = re.sub(r"[^a-z0-9.=_ ]+", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def _same_change(a: dict[str, Any], b: dict[str, Any]) -> bool:
    if not a or set(a) != set(b):
        return False
    for key, value in a.items():
        other = b[key]
        if isinstance(value, float) or isinstance(other, float):
            try:
                if abs(float(value) - float(other)) > 1e-9 * max(1.0, abs(float(value))):
                    return False
            except (TypeError, ValueError):
                return False
        elif value != other:
            return False
    return True


def find_duplicate(
    title: str, params: dict[str, Any], earlier: list[dict[str, Any]], threshold: float = TEXT_THRESHOLD
) -> DuplicateMatch | None:
    """The best earlier match for this hypothesis, or None. ``earlier`` items carry hyp_id, title, params."""
    best: DuplicateMatch | None = None
    mine = normalize(title)
    for other in earlier:
        theirs = other.get("params") or {}
        if params and theirs:
            # Both are concrete changes: equal values are the same experiment; different
            # values are different experiments however alike their titles read.
            if _same_change(params, theirs):
                return DuplicateMatch(other["hyp_id"], 1.0, "same change")
            continue
        score = fuzz.token_set_ratio(mine, normalize(other.get("title", "")))
        if score >= threshold and (best is None or score / 100 > best.similarity):
            best = DuplicateMatch(other["hyp_id"], score / 100.0, "same idea, reworded")
    return best
