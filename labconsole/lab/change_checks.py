"""What a candidate changed that the measurement cannot trust: the gate's flags on a candidate's changes.

A measured run loads more than the files ``protected`` lists: modules and packages on its import path,
interpreter start-up hooks, test and project configuration, git attributes, and the lab's own rules.
Each check here compares the candidate's tree with its base tree (path → (mode, object id), from git) and
names the paths. Pure functions: the orchestrator feeds them trees, the gate and the reviewer read the
flags back from the evidence. DESIGN.md §4 "What the measurement trusts" says why each one exists.
"""

from __future__ import annotations

import posixpath
import shlex
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from labconsole.core.config import LabConfig
from labconsole.lab.gitops.globs import matches_any, matches_glob
from labconsole.runs.outcome import RunOutcome
from labconsole.runs.run_sandbox import SANDBOX_DEGRADED as RUN_DEGRADED

# Flag names: what a person sees in review, the report and the log.
PROTECTED = "protected"  # a file `protected` lists was added, changed or removed
SHADOWS_PROTECTED = "shadows-protected"  # something importable under a protected module's name
STARTUP_HOOK = "startup-hook"  # code the interpreter runs before the objective
TEST_CONFIG = "test-config"  # pytest's conftest.py / pytest.ini
PROJECT_CONFIG = "project-config"  # environment, dependencies, interpreter version
GIT_CONFIG = "git-config"  # attributes/filters that change what a checkout contains
OUTSIDE_EDITABLE = "outside-editable"  # a path the `editable` allow-list does not name
LAB_RULES = "changes-lab-rules"  # lab.toml, role specs, skills, the instructions, the objective's own scripts
RUN_TAMPERING = "run-tampering"  # a measured run modified protected files
SANDBOX_DEGRADED = "sandbox-degraded"  # measured without a sandbox: the candidate's code ran as the user

# Paths by what they can do to a run, whatever the lab lists (unless `editable` names them).
STARTUP_HOOKS = ("**/sitecustomize.py", "**/usercustomize.py", "**/*.pth")
TEST_CONFIGS = ("**/conftest.py", "**/pytest.ini")
PROJECT_CONFIGS = (
    "pyproject.toml",
    "setup.cfg",
    "setup.py",
    "**/requirements*",
    "uv.lock",
    "uv.toml",
    ".python-version",
    "pip.conf",
    "**/.env",
    "**/.env.*",
    ".envrc",
)
GIT_CONFIGS = ("**/.gitattributes", ".gitmodules", ".lfsconfig", ".gitconfig")
LAB_RULE_FILES = ("lab.toml", "agents/*.md", "skills/**")

_HOOK_GROUPS = (
    (STARTUP_HOOK, STARTUP_HOOKS, "the interpreter runs it before the objective"),
    (TEST_CONFIG, TEST_CONFIGS, "test configuration the objective may load"),
    (PROJECT_CONFIG, PROJECT_CONFIGS, "environment, dependencies or interpreter of the run"),
    (GIT_CONFIG, GIT_CONFIGS, "git attributes or filters change what a checkout holds"),
)

# Every form a module ``name`` can take in one directory of the import path (extensions load before sources).
_MODULE_FORMS = (
    "{n}.py",
    "{n}.pyc",
    "{n}.pyo",
    "{n}.pyw",
    "{n}.pyd",
    "{n}.so",
    "{n}.*.so",
    "{n}.*.pyd",
    "{n}/**",
    "__pycache__/{n}.*",
)

Tree = Mapping[str, tuple[str, str]]  # path -> (mode, object id)


@dataclass(frozen=True)
class ChangeFlag:
    flag: str
    paths: tuple[str, ...]
    why: str

    def to_dict(self) -> dict[str, Any]:
        return {"flag": self.flag, "paths": list(self.paths), "why": self.why}

    def line(self) -> str:
        return f"{self.flag}: {', '.join(self.paths)} ({self.why})"


def flag_line(flag: Mapping[str, Any]) -> str:
    """One evidence flag (``ChangeFlag.to_dict``) as the line a person reads."""
    paths = ", ".join(str(p) for p in flag.get("paths") or [])
    why = flag.get("why") or ""
    return f"{flag.get('flag', '?')}: {paths}" + (f" ({why})" if why else "")


@dataclass(frozen=True)
class TrustRules:
    """What the checks need from lab.toml, as globs anchored at the lab's root."""

    protected: tuple[str, ...]
    editable: tuple[str, ...] | None  # None: the lab has no allow-list (the deny-list rules alone)
    rules_files: tuple[str, ...]
    import_roots: tuple[str, ...]  # directories on a run's import path ("" = the lab root)

    @classmethod
    def from_config(cls, config: LabConfig) -> TrustRules:
        obj = config.objective
        scripts = command_scripts(obj.command)
        # The files the agents are meant to edit are not the lab's rules, even when the command names them.
        if obj.editable is not None:
            scripts = [s for s in scripts if not matches_any(s, obj.editable)]
        elif config.search.file:
            scripts = [s for s in scripts if s != config.search.file]
        else:
            scripts = []  # deny-list lab without a search file: the command's script is what agents tune
        roots = {""} | {posixpath.dirname(s) for s in command_scripts(obj.command) if s.endswith(".py")}
        return cls(
            protected=tuple(obj.protected),
            editable=obj.editable,
            # The workers' instructions: a candidate that rewrites them speaks to the next worker.
            rules_files=LAB_RULE_FILES + tuple(scripts) + ((config.instructions,) if config.instructions else ()),
            import_roots=tuple(sorted(roots)),
        )


def command_scripts(command: str) -> list[str]:
    """Relative file paths the objective's command names (``python src/train.py --x 1`` → ``src/train.py``)."""
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    out = []
    for w in words:
        if w.startswith("-") or "=" in w or w.startswith("/") or ".." in w.split("/"):
            continue
        base = w.rsplit("/", 1)[-1]
        if "." in base.strip(".") and not base.startswith("python"):
            out.append(w.removeprefix("./"))
    return out


def shadow_globs(protected_files: Iterable[str], import_roots: Iterable[str]) -> list[str]:
    """Globs of everything importable under a protected module's name from the run's import path.

    ``prepare.py`` protected → ``prepare/__init__.py`` (a package wins over a module), a namespace dir
    ``prepare/``, ``prepare.cpython-312-x86_64-linux-gnu.so`` (extensions load before sources),
    ``__pycache__/prepare.*.pyc``, and the ``__init__.py`` of every package above a protected module.
    """
    roots = list(import_roots)
    out: list[str] = []
    for path in protected_files:
        d, base = posixpath.split(path)
        if base == "__init__.py":  # a protected package: its name is its directory's
            d, name = posixpath.split(d)
        elif base.endswith(".py"):
            name = base[:-3]
        else:
            continue
        if not name.isidentifier():
            continue
        for root in dict.fromkeys([*roots, d]):
            prefix = f"{root}/" if root else ""
            out += [prefix + form.format(n=name) for form in _MODULE_FORMS]
        parts = d.split("/") if d else []
        out += ["/".join(parts[: i + 1]) + "/__init__.py" for i in range(len(parts))]
    return list(dict.fromkeys(out))


def changed_paths(base: Tree, cand: Tree) -> list[str]:
    """Paths added, removed, or whose blob or mode differs (a file swapped for a symlink counts)."""
    return sorted(p for p in set(base) | set(cand) if base.get(p) != cand.get(p))


def check_changes(rules: TrustRules, base: Tree, cand: Tree) -> list[ChangeFlag]:
    """Every flag the candidate's changes raise, in a fixed order; [] for an honest edit of editable files."""
    changed = changed_paths(base, cand)
    flags: list[ChangeFlag] = []

    def add(flag: str, paths: Sequence[str], why: str) -> None:
        if paths:
            flags.append(ChangeFlag(flag, tuple(paths), why))

    protected = [p for p in changed if matches_any(p, rules.protected)]
    add(PROTECTED, protected, "the lab lists them as protected")
    protected_files = [p for p in base if matches_any(p, rules.protected)]
    shadows = shadow_globs(protected_files, rules.import_roots)
    add(
        SHADOWS_PROTECTED,
        [p for p in changed if p not in protected and matches_any(p, shadows)],
        "importable under a protected module's name",
    )
    allowed = rules.editable or ()
    for flag, globs, why in _HOOK_GROUPS:
        add(flag, [p for p in changed if matches_any(p, globs) and not matches_any(p, allowed)], why)
    if rules.editable is not None:
        add(OUTSIDE_EDITABLE, [p for p in changed if not matches_any(p, rules.editable)], "not in [objective] editable")
    add(LAB_RULES, [p for p in changed if matches_any(p, rules.rules_files)], "the console reads it as the lab's rules")
    return flags


def sandbox_flag(runs: Iterable[RunOutcome]) -> ChangeFlag | None:
    """The flag for a measurement any of whose runs (``RunOutcome``s) ran without a sandbox: nothing held the
    candidate's code to its checkout, so it could have read secrets, rewritten the baseline's checkout or the
    evaluator on main, or the session log — the number is not one the measurement can vouch for."""
    degraded = [r.run_id for r in runs if r.sandbox == RUN_DEGRADED]
    if not degraded:
        return None
    return ChangeFlag(
        SANDBOX_DEGRADED,
        tuple(degraded),
        "measured without a sandbox (no working bubblewrap): the runs were not contained",
    )


# --- the lab's rules, as a diff a person reads ---------------------------------------------------------


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: value}


def _short(key: str) -> str:
    return {
        "objective.name": "metric",
        "objective.protected": "protected",
        "objective.editable": "editable",
        "objective.metric": "metric spec",
        "objective.command": "command",
        "objective.direction": "direction",
    }.get(key, key)


def rules_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """What changes between two parsed lab.toml tables: ``["metric val_loss → train_loss",
    "protected loses prepare.py"]``. Lists say what they lose and gain; other values old → new."""
    a, b = _flatten(dict(old)), _flatten(dict(new))
    lines: list[str] = []
    for key in sorted(set(a) | set(b), key=lambda k: (not k.startswith("objective."), k)):
        va, vb = a.get(key), b.get(key)
        if va == vb:
            continue
        name = _short(key)
        if isinstance(va, list) or isinstance(vb, list):
            la, lb = [str(x) for x in va or []], [str(x) for x in vb or []]
            lost, gained = [x for x in la if x not in lb], [x for x in lb if x not in la]
            parts = ([f"loses {', '.join(lost)}"] if lost else []) + ([f"gains {', '.join(gained)}"] if gained else [])
            if key not in a:
                parts = [f"added: [{', '.join(lb)}]"]
            elif key not in b:
                parts = [f"removed (was [{', '.join(la)}])"]
            lines.append(f"{name} {'; '.join(parts) or 'reordered'}")
        elif key not in a:
            lines.append(f"{name} added: {vb!r}")
        elif key not in b:
            lines.append(f"{name} removed (was {va!r})")
        else:
            lines.append(f"{name} {va} → {vb}")
    return lines


def rules_diff_of_texts(old_toml: str, new_toml: str | None) -> list[str]:
    """:func:`rules_diff` of two lab.toml texts; a deleted or unreadable new one says so."""
    if new_toml is None:
        return ["lab.toml deleted"]
    old = tomllib.loads(old_toml)
    try:
        new = tomllib.loads(new_toml)
    except tomllib.TOMLDecodeError as exc:
        return [f"lab.toml no longer parses: {exc}"]
    return rules_diff(old, new) or ["lab.toml reformatted (same values)"]


# --- patterns against the lab's files (session start) ------------------------------------------------


def check_patterns(config: LabConfig, files: Sequence[str]) -> tuple[list[str], list[str]]:
    """(errors, warnings) for ``editable``/``protected`` against the files of main.

    An ``editable`` pattern that covers a protected path is an error naming both; a pattern that
    matches no file is a warning (a typo there protects nothing, or lets nothing be edited).
    """
    obj = config.objective
    errors: list[str] = []
    warnings: list[str] = []
    editable = obj.editable or ()
    for e in editable:
        for p in obj.protected:
            hit = next((f for f in files if matches_glob(f, e) and matches_glob(f, p)), None)
            if hit is None and matches_glob(p, e):
                hit = p  # a literal protected path the editable glob covers, even when it is not in git yet
            if hit is not None:
                errors.append(
                    f"{config.path.name}: [objective] editable pattern {e!r} includes {hit!r}, which "
                    f"protected pattern {p!r} protects; narrow editable or drop it from protected"
                )
                break
    for field_name, patterns in (("protected", obj.protected), ("editable", editable)):
        for pattern in patterns:
            if not any(matches_glob(f, pattern) for f in files):
                warnings.append(
                    f"warning: {config.path.name} [objective] {field_name} pattern {pattern!r} matches no file in main"
                )
    return errors, warnings
