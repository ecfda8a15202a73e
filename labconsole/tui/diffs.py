"""Unified diffs → per-file structure and theme-coloured, syntax-highlighted Rich Text (no Textual)."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

from rich.syntax import Syntax
from rich.text import Text


@dataclass
class FileDiff:
    path: str
    lines: list[str] = field(default_factory=list)  # header and hunk lines as in the diff
    additions: int = 0
    deletions: int = 0
    hunks: int = 0
    protected: bool = False


def parse(
    diff: str, protected_globs: list[str] | tuple[str, ...] = (), flagged: list[str] | tuple = ()
) -> list[FileDiff]:
    files: list[FileDiff] = []
    current: FileDiff | None = None
    for line in diff.splitlines():
        if line.startswith("diff --git "):
            parts = line.split(" b/", 1)
            path = parts[1] if len(parts) == 2 else line[len("diff --git ") :]
            current = FileDiff(path)
            files.append(current)
            current.lines.append(line)
            continue
        if current is None:
            current = FileDiff("(diff)")
            files.append(current)
        current.lines.append(line)
        if line.startswith("@@"):
            current.hunks += 1
        elif line.startswith("+") and not line.startswith("+++"):
            current.additions += 1
        elif line.startswith("-") and not line.startswith("---"):
            current.deletions += 1
    for f in files:
        f.protected = f.path in flagged or any(fnmatch.fnmatch(f.path, g) for g in protected_globs)
    return files


def dim(color: str, amount: float = 0.22) -> str:
    """``color`` mixed into black: a quiet background tint that follows the theme."""
    try:
        r, g, b = (int(color.lstrip("#")[i : i + 2], 16) for i in (0, 2, 4))
    except ValueError:
        return "black"
    return "#{:02x}{:02x}{:02x}".format(*(int(v * amount) for v in (r, g, b)))


def _lexer(path: str) -> str:
    try:
        return Syntax.guess_lexer(path, code="")
    except Exception:  # pygments can refuse odd names
        return "text"


def render(files: list[FileDiff], colors: dict[str, str], max_lines: int | None = None) -> tuple[Text, bool]:
    """The whole diff as Text; ``(text, truncated)``. +/- lines get theme colours, code gets its syntax colours."""
    out = Text(no_wrap=True, overflow="ellipsis")
    shown = 0
    truncated = False
    for f in files:
        header = Text.assemble(
            (f" {f.path} ", "bold reverse"),
            " ",
            (f"+{f.additions}", colors["success"]),
            " ",
            (f"-{f.deletions}", colors["error"]),
            f"  {f.hunks} hunk{'s' if f.hunks != 1 else ''}",
        )
        if f.protected:
            header.append("  PROTECTED FILE CHANGED", style=f"bold {colors['error']}")
        out.append_text(header)
        out.append("\n")
        body = [ln for ln in f.lines if not ln.startswith(("diff --git", "index ", "--- ", "+++ "))]
        code = "\n".join(ln[1:] if ln[:1] in "+- " else "" for ln in body)
        try:
            highlighted: list[Text] = list(Syntax("", _lexer(f.path), theme="ansi_dark").highlight(code).split("\n"))
        except Exception:
            highlighted = [Text(x) for x in code.split("\n")]
        for ln, hl in zip(body, highlighted):
            if max_lines is not None and shown >= max_lines:
                truncated = True
                break
            shown += 1
            if ln.startswith("@@"):
                out.append(ln, style=colors["accent"])
            elif ln[:1] in "+-":
                mark = colors["success"] if ln[0] == "+" else colors["error"]
                line = Text(ln[0], style=f"bold {mark}")
                hl.stylize(f"on {dim(mark)}")
                line.append_text(hl)
                out.append_text(line)
            else:
                out.append(" ")
                out.append_text(hl)
            out.append("\n")
        if truncated:
            break
    return out, truncated
