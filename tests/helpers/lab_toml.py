"""The lab.toml of a small test lab: the [objective] and [search] tables every executor test writes, with what
a test varies (command, metric, timeout, extra keys or tables) as arguments."""

from __future__ import annotations

# The one-parameter search space most test labs declare: nothing in them searches it.
INT_X = 'X = { type = "int", low = 1, high = 3 }'


def lab_toml(
    *,
    command: str,
    metric: str,
    timeout_s: int,
    search_file: str,
    objective: str = "loss",
    repeats: int | None = None,
    protected: tuple[str, ...] = (),
    lab_name: str | None = None,
    objective_extra: str = "",
    space: str = INT_X,
    tail: str = "",
) -> str:
    """``objective_extra`` goes at the end of [objective] (e.g. sandbox keys); ``tail`` after [search.space]
    (e.g. a [resources] or [executor] table)."""
    lines = [f'[lab]\nname = "{lab_name}"'] if lab_name is not None else []
    lines += ["[objective]", f'name = "{objective}"', f'command = "{command}"', f"metric = '{metric}'"]
    lines.append(f"timeout_s = {timeout_s}")
    if repeats is not None:
        lines.append(f"repeats = {repeats}")
    if protected:
        lines.append("protected = [" + ", ".join(f'"{p}"' for p in protected) + "]")
    if objective_extra:
        lines.append(objective_extra)
    lines += ["[search]", f'file = "{search_file}"', "[search.space]", space, tail]
    return "\n".join(lines) + "\n"
