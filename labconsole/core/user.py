"""Who is at the keyboard: the login name decisions and signing keys are recorded under."""

from __future__ import annotations

import getpass
import os


def login_name(fallback: str) -> str:
    """The OS user's login name; ``$USER``, then ``fallback``, where there is none."""
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return os.environ.get("USER", fallback)
