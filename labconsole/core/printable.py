"""Text from agents or their runs, made safe to print to a terminal.

A diff, a run's log or a benchmark report came out of the candidate's process: an escape sequence in it
could rewrite what the person reads above it (move the cursor, recolour a FAILED line, set the window
title). Line breaks and tabs stay; every other control character is shown as its escape.
"""

from __future__ import annotations

import re

# C0 controls but tab and newline, DEL, and C1 controls (0x80-0x9f: 8-bit CSI and friends)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with every control character but newline and tab replaced by its visible escape."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)
