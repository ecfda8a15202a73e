"""Colours from the active Textual theme, for Rich Text built in code (so themes apply everywhere)."""

from __future__ import annotations

from textual.app import App

_FALLBACK = {
    "primary": "#0178D4",
    "secondary": "#004578",
    "accent": "#ffa62b",
    "warning": "#ffa62b",
    "error": "#ba3c5b",
    "success": "#4EBF71",
    "foreground": "#e0e0e0",
    "muted": "#808080",
}


def theme_colors(app: App) -> dict[str, str]:
    theme = app.current_theme
    out = dict(_FALLBACK)
    for name in ("primary", "secondary", "accent", "warning", "error", "success", "foreground"):
        value = getattr(theme, name, None)
        if value:
            out[name] = str(value)
    return out


AGENT_STATE_COLOR = {
    "working": "success",
    "waiting": "warning",
    "idle": "muted",
    "paused": "accent",
    "crashed": "error",
    "hung": "error",
    "stopped": "muted",
    "starting": "primary",
    "restarting": "warning",
    "waiting for input": "warning",
    "waiting for you": "warning",
    "waiting for measurement": "primary",
}

HYP_STATUS_COLOR = {
    "awaiting-human": "warning",
    "approved": "success",
    "merged": "success",
    "published": "success",
    "rejected": "error",
    "failed": "error",
    "duplicate": "muted",
    "measuring": "primary",
    "implementing": "primary",
    "claimed": "primary",
    "auto-reviewed": "accent",
    "queued": "foreground",
    "proposed": "muted",
}
