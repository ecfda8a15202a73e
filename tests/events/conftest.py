"""Helpers shared by the session-log tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from labconsole.events.log import LOG_NAME, EventLog


def write_session(session_dir: Path, events: list[tuple[str, str, dict]]) -> list[str]:
    """Write ``(kind, actor, data)`` events through the real writer; return the log's lines."""
    with EventLog.open(session_dir) as log:
        for kind, actor, data in events:
            log.append(kind, actor, data)
    return read_lines(session_dir)


def read_lines(session_dir: Path) -> list[str]:
    return (session_dir / LOG_NAME).read_text(encoding="utf-8").splitlines()


def write_lines(session_dir: Path, lines: list[str]) -> None:
    (session_dir / LOG_NAME).write_text("".join(line + "\n" for line in lines), encoding="utf-8")


@pytest.fixture
def session(tmp_path: Path) -> Path:
    return tmp_path / "sessions" / "s-test"
