"""``labconsole check``: every item a lab needs before agents and GPUs are spent on it, one line each.

Each check returns :class:`CheckLine` items instead of raising, so a person sees every problem of a lab
at once (a broken lab.toml stops the checks that need it). Blocking items make the command exit non-zero.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labconsole.core.config import LabConfig, ParamSpec, load_config
from labconsole.core.params import read_params, write_params
from labconsole.errors import LabError
from labconsole.lab.gitops import LabRepo
from labconsole.lab.gitops.globs import matches_glob
from labconsole.lab.instructions import baseline_instructions
from labconsole.lab.preflight import OFFLINE_BACKENDS
from labconsole.lab.preflight_baseline import BaselineResult, measure_baseline
from labconsole.lab.session import sessions_dir


@dataclass(frozen=True)
class CheckLine:
    item: str
    ok: bool
    detail: str = ""  # ok: what was found; failed: what failed
    fix: str = ""  # failed: what to do about it
    output: tuple[str, ...] = ()  # lines shown under the item (the baseline's last output lines)

    def render(self) -> str:
        if self.ok:
            return f"ok   {self.item}" + (f": {self.detail}" if self.detail else "")
        return f"FAIL {self.item}: {self.detail}" + (f" — {self.fix}" if self.fix else "")


def run_checks(root: Path, *, baseline: bool = True) -> Iterator[CheckLine]:
    """The checks in the order a person fixes them; yields each line as soon as it is known."""
    root = Path(root).resolve()
    try:
        config = load_config(root / "lab.toml")
    except LabError as exc:
        yield CheckLine("lab.toml", False, str(exc), "fix that field (`labconsole init` writes a commented one)")
        return
    yield CheckLine(
        "lab.toml",
        True,
        f"lab {config.name!r}, objective {config.objective.name} "
        f"({config.objective.direction}) from {config.objective.command!r}",
    )
    repo: LabRepo | None = None
    head = ""
    try:
        repo = LabRepo(root)
        # What the console itself writes in a lab is never the person's uncommitted work.
        repo.ensure_ignored([f"{sessions_dir(root).name}/", ".labconsole/"])
        head = repo.require_clean_base()
        yield CheckLine("git clean", True, f"{repo.main_branch} at {head[:12]}")
    except LabError as exc:
        yield CheckLine(
            "git clean",
            False,
            str(exc),
            "a new lab.toml is committed too: git add lab.toml && git commit -m 'lab.toml'",
        )
        repo = None
    yield from _instructions(root, config, repo, head)
    yield from _protected(root, config)
    yield from _search(root, config)
    yield from _backends(config)
    pools: list[Any] = []
    yield from _gpu(config, pools)
    if not baseline:
        return
    if repo is None:
        yield CheckLine(
            "baseline run",
            False,
            "not run: the lab is not a clean git repository",
            "fix 'git clean' above, then check again",
        )
        return
    if config.resources.gpus_per_run > 0 and not pools:
        yield CheckLine("baseline run", False, "not run: no GPU to lease", "fix 'GPU' above, then check again")
        return
    yield baseline_line(measure_baseline(config, repo, head, lease_pool=pools[0] if pools else None), config)


def baseline_line(result: BaselineResult, config: LabConfig) -> CheckLine:
    tail = tuple(result.tail)
    if result.ok:
        assert result.metric is not None
        return CheckLine(
            "baseline run",
            True,
            f"{config.objective.name} = {result.metric:g} in {result.duration_s:.1f} s on {result.sha[:12]}",
            output=tail,
        )
    what, fix = result.problem()
    return CheckLine("baseline run", False, what, fix, output=tail)


def _instructions(root: Path, config: LabConfig, repo: LabRepo | None, head: str) -> Iterator[CheckLine]:
    """What the workers will be told: the file as committed (a session reads it from its baseline commit)."""
    if not config.instructions:
        if (root / "program.md").is_file():
            yield CheckLine(
                "instructions",
                True,
                'none: program.md is not handed to the workers; add [lab] instructions = "program.md" for that',
            )
        return
    if repo is None:
        return  # lab.toml already checked the file exists; what is committed waits for 'git clean'
    try:
        found = baseline_instructions(config, repo, head)
    except LabError as exc:
        yield CheckLine("instructions", False, str(exc), "commit it, or fix [lab] instructions")
        return
    assert found is not None
    size = len(found.text.encode("utf-8"))
    yield CheckLine("instructions", True, f"{found.path} ({size} bytes at {head[:12]}) handed to the workers")


def _tracked_files(root: Path) -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=False)
    return [p for p in out.stdout.decode("utf-8", "replace").split("\0") if p]


def _protected(root: Path, config: LabConfig) -> Iterator[CheckLine]:
    globs = config.objective.protected
    if not globs:
        yield CheckLine("protected files", True, "none declared (agents may edit any file)")
        return
    files = _tracked_files(root)
    missing = [g for g in globs if not any(matches_glob(f, g) for f in files)]
    if missing:
        yield CheckLine(
            "protected files",
            False,
            f"no committed file matches {', '.join(map(repr, missing))}",
            "fix [objective] protected or commit those files",
        )
    else:
        yield CheckLine("protected files", True, ", ".join(globs))


def extreme_values(spec: ParamSpec) -> list[object]:
    """The values at the edges of a parameter's declared space: an edit must hold each of them."""
    if spec.type == "categorical":
        return list(spec.choices)
    assert spec.low is not None and spec.high is not None
    if spec.type == "int":
        return [int(spec.low), int(spec.high)]
    return [float(spec.low), float(spec.high)]


def _search(root: Path, config: LabConfig) -> Iterator[CheckLine]:
    search = config.search
    if not search.params:
        return
    path = root / search.file
    if not path.is_file():
        yield CheckLine(f"[search] file {search.file}", False, "not found", "fix [search] file")
        return
    text = path.read_text(encoding="utf-8")
    for spec in search.params:
        item = f"[search] {spec.name}"
        found = read_params(text, [spec.name])
        if spec.name not in found:
            yield CheckLine(
                item,
                False,
                f"no line '{spec.name} = …' at column 0 in {search.file}",
                f"add one, or remove {spec.name} from [search.space]",
            )
            continue
        bad = _round_trip_failures(text, spec)
        if bad:
            yield CheckLine(item, False, bad, f"make {spec.name} a plain literal on one line of {search.file}")
        else:
            yield CheckLine(
                item,
                True,
                f"{spec.name} = {found[spec.name]!r} in {search.file}; "
                f"edits to {', '.join(map(repr, extreme_values(spec)))} take",
            )


def _round_trip_failures(text: str, spec: ParamSpec) -> str:
    for value in extreme_values(spec):
        try:
            back = read_params(write_params(text, {spec.name: value}), [spec.name]).get(spec.name)
        except LabError as exc:
            return str(exc)
        if back != value or type(back) is not type(value):
            return f"an edit to {value!r} reads back as {back!r}"
    return ""


def _backends(config: LabConfig) -> Iterator[CheckLine]:
    try:
        from labconsole.agents.roles import load_roles

        load_roles(config.root)
    except LabError as exc:
        yield CheckLine("agents/<role>.md", False, str(exc), "fix that role file or remove the override")
    ready = _readiness()
    for role in config.agents.values():
        item = f"{role.role} backend {role.backend}"
        if role.backend in OFFLINE_BACKENDS:
            yield CheckLine(item, True, "offline, nothing to set up")
            continue
        try:
            ready(role.role, role.backend, {"model": role.model, **role.options})
        except LabError as exc:
            yield CheckLine(item, False, str(exc), f"or choose another backend for {role.role} in [agents]")
        else:
            yield CheckLine(item, True, role.model or "ready")


def _readiness() -> Callable[..., None]:
    from labconsole.agents.backends.ready import check_backend_ready

    return check_backend_ready


def _gpu(config: LabConfig, leases: list[Any]) -> Iterator[CheckLine]:
    """The GPU item; ``leases`` gets the machine's lease pool, so the baseline runs on a leased GPU as runs do."""
    need = config.resources.gpus_per_run
    if need <= 0:
        return
    from labconsole.gpu.leases import pool_for_machine

    try:
        leases.append(pool_for_machine(need))
    except LabError as exc:
        yield CheckLine("GPU", False, str(exc))
    else:
        yield CheckLine("GPU", True, f"{need} per run")
