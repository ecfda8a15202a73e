"""``[lab] instructions``: the file in the lab (autoresearch's ``program.md``) the workers follow as the
person's instructions.

Two checks, both one line naming what to fix: the path (relative, inside the repository, a regular file
there) when lab.toml is read, and the text itself (UTF-8, no NUL, at most :data:`MAX_INSTRUCTIONS_BYTES`)
when it is read, from the working tree here or from the baseline commit at session start.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from labconsole.errors import ConfigError

# The text travels into every worker's prompt: a cap keeps a mis-pointed file (a data dump) out of them.
MAX_INSTRUCTIONS_BYTES = 64 * 1024


def check_instructions_path(root: Path, raw: str, where: str) -> str:
    """``raw`` as a normalised relative path to a text file inside ``root``; ConfigError otherwise."""
    fix = "give the path of a text file in the lab's repository, e.g. 'program.md'"
    rel = PurePosixPath(raw.strip())
    if not raw.strip() or rel.is_absolute() or ".." in rel.parts or raw.startswith("~"):
        raise ConfigError(f"{where} is {raw!r}; {fix}")
    path = Path(root) / rel
    try:
        inside = path.resolve().is_relative_to(Path(root).resolve())
    except OSError:
        inside = False
    if not inside:  # a symlink pointing out of the repository
        raise ConfigError(f"{where} is {raw!r}, which leads outside the repository; {fix}")
    if not path.is_file():
        raise ConfigError(f"{where} is {raw!r}, which is not a file in {root}; {fix}")
    instructions_text(path.read_bytes(), f"{where} {raw!r}")
    return rel.as_posix()


def instructions_text(data: bytes, where: str) -> str:
    """The instructions as text; ConfigError for a file too big, binary or not UTF-8."""
    if len(data) > MAX_INSTRUCTIONS_BYTES:
        raise ConfigError(
            f"{where} is {len(data)} bytes; instructions may be at most {MAX_INSTRUCTIONS_BYTES} bytes: shorten it"
        )
    if b"\0" in data:
        raise ConfigError(f"{where} is a binary file; instructions must be text (Markdown)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{where} is not UTF-8 text; save it as UTF-8") from None
