"""Helpers for git-layer tests (plain git via subprocess, independent of the code under test)."""

from __future__ import annotations

from helpers.git_lab import sh, write

__all__ = ["PROTECTED", "sh", "write"]

PROTECTED = ["prepare.py", "bench/**", "data/**"]
