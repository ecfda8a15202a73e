"""A scratch directory for benchmarks that sign: the console's config and state dirs point into it, so the
signing key they make is a throw-away one, never the user's."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def throwaway_keys(prefix: str) -> Iterator[Path]:
    """A temporary work dir with ``$XDG_CONFIG_HOME`` and ``$XDG_STATE_HOME`` under it (for this process and
    the ``labconsole`` commands it starts); removed on exit."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        work = Path(tmp)
        os.environ["XDG_CONFIG_HOME"] = str(work / "config")
        os.environ["XDG_STATE_HOME"] = str(work / "state")
        yield work
