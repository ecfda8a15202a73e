"""Small text formatters shared by the widgets (pure functions, no Textual)."""

from __future__ import annotations

import time


def clock(ts: float) -> str:
    """An event's time as UTC HH:MM:SS: always from the log, never from now(), so replays render the same."""
    if not ts:
        return "--:--:--"
    return time.strftime("%H:%M:%S", time.gmtime(ts))


def stamp(ts: float) -> str:
    if not ts:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


def tokens(n: float) -> str:
    n = float(n)
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M"
    if n >= 1_000:
        return f"{n / 1_000:.1f}k"
    return f"{n:.0f}"


def usd(x: float) -> str:
    return f"${x:.2f}" if x >= 0.01 or x == 0 else f"${x:.4f}"


def metric(x: float | None, digits: int = 4) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def percent(x: float | None, signed: bool = True) -> str:
    if x is None:
        return "-"
    return f"{x:+.1%}" if signed else f"{x:.0%}"


def short_sha(sha: str | None) -> str:
    return (sha or "-")[:8]


def size_bytes(n: float | None) -> str:
    if n is None:
        return "n/a"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1000
    return f"{n:.1f}TB"


def bar(fraction: float, width: int) -> str:
    """A block bar of ``width`` cells, eighths for the partial cell."""
    fraction = min(max(fraction, 0.0), 1.0)
    eighths = round(fraction * width * 8)
    full, part = divmod(eighths, 8)
    partial = " ▏▎▍▌▋▊▉"[part] if part else ""
    return ("█" * full + partial).ljust(width)


def age(seconds: float) -> str:
    """A duration as the one or two largest units: 42 s, 3m05s, 2h14m."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def effect(x: float | None) -> str:
    """A relative effect (positive = better, whatever the metric's direction) as "1.9% better"."""
    if x is None:
        return "-"
    if abs(x) < 0.0005:
        return "±0.0%"
    return f"{abs(x):.1%} {'better' if x > 0 else 'worse'}"


def effect_interval(low: float | None, high: float | None, level: float | None = None) -> str:
    """The interval of an effect, in the same words: "95% CI 0.4% worse … 3.2% better"."""
    if low is None or high is None:
        return ""
    return f"{level or 0.95:.0%} CI {effect(low)} … {effect(high)}"
