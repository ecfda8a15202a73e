"""``lab.toml``: parsed into typed config, validated with errors that name file, field and what is allowed."""

from __future__ import annotations

import hashlib
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labconsole.core.instructions import check_instructions_path
from labconsole.errors import ConfigError

ROLES = ("researcher", "planner", "worker", "reviewer", "reporter")
KNOWN_BACKENDS = ("sweep", "rules", "anthropic", "openai", "claude-code", "codex")
EXECUTORS = ("local", "ray", "hf-jobs")


@dataclass(frozen=True)
class MetricSpec:
    """How to read the metric out of a run: ``json:<file>#<dotted.path>`` or ``regex:<pattern>`` on stdout."""

    kind: str  # json | regex
    file: str = ""
    path: str = ""
    pattern: str = ""

    @classmethod
    def parse(cls, raw: str, where: str) -> MetricSpec:
        if raw.startswith("json:"):
            file, sep, path = raw[5:].partition("#")
            if not sep or not file or not path:
                raise ConfigError(f"{where} is {raw!r}; it must look like 'json:result.json#val_bpb'")
            return cls("json", file=file, path=path)
        if raw.startswith("regex:"):
            pattern = raw[6:]
            try:
                compiled = re.compile(pattern, re.MULTILINE)
            except re.error as exc:
                raise ConfigError(f"{where}: the regex {pattern!r} does not compile: {exc}") from None
            if compiled.groups < 1:
                raise ConfigError(f"{where}: the regex {pattern!r} needs one capture group around the number")
            return cls("regex", pattern=pattern)
        raise ConfigError(f"{where} is {raw!r}; it must start with 'json:' or 'regex:'")

    def __str__(self) -> str:
        return f"json:{self.file}#{self.path}" if self.kind == "json" else f"regex:{self.pattern}"


@dataclass(frozen=True)
class Objective:
    name: str
    direction: str  # minimize | maximize
    command: str
    metric: MetricSpec
    timeout_s: float = 300.0
    repeats: int = 3
    # Adaptive repeats stop here (pairs); 0 = core.stats.default_cap(repeats). Equal to repeats: fixed.
    max_repeats: int = 0
    protected: tuple[str, ...] = ()
    # Minimum relative improvement of the median to count as real (besides the noise rule).
    min_effect: float = 0.0
    # Files a run writes that become evidence (e.g. a benchmark report for publishing a kernel).
    artifacts: tuple[str, ...] = ()
    # The run's sandbox (labconsole/core/sandbox.py): what the lab lets a measurement see, by name.
    network: bool = False
    read_paths: tuple[str, ...] = ()  # host dirs bound read-only (a data cache)
    env: tuple[str, ...] = ()  # variable names passed from the console's environment (secret-looking ones too)
    memory_mb: int = 0  # 0 = no limit
    max_processes: int = 0  # 0 = no limit
    require_sandbox: bool = False  # refuse to start a session without bubblewrap
    # What agents may edit (globs); None = no allow-list, only ``protected`` is denied.
    editable: tuple[str, ...] | None = None
    # A candidate that changes files outside ``editable`` is measured only when the lab says so.
    measure_outside_editable: bool = False

    def better(self, a: float, b: float) -> bool:
        """True when metric ``a`` is strictly better than ``b``."""
        return a < b if self.direction == "minimize" else a > b


@dataclass(frozen=True)
class ParamSpec:
    name: str
    type: str  # float | int | categorical
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()


@dataclass(frozen=True)
class SearchSpace:
    file: str = ""
    budget: int = 8
    params: tuple[ParamSpec, ...] = ()


@dataclass(frozen=True)
class RoleConfig:
    role: str
    backend: str
    model: str = ""
    count: int = 1
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Budget:
    usd: float = 0.0  # 0 = unlimited
    tokens: float = 0.0
    gpu_hours: float = 0.0
    roles: dict[str, dict[str, float]] = field(default_factory=dict)  # [budget.roles.<role>]

    def limits(self) -> dict[str, Any]:
        """The shape labconsole.agents.budget.check takes: session limits plus ``roles``."""
        out: dict[str, Any] = {k: v for k in ("usd", "tokens", "gpu_hours") if (v := getattr(self, k))}
        if self.roles:
            out["roles"] = {role: dict(limits) for role, limits in self.roles.items()}
        return out


@dataclass(frozen=True)
class Resources:
    gpus_per_run: int = 0
    executor: str = "local"
    max_parallel_runs: int = 1


@dataclass(frozen=True)
class ExecutorConfig:
    """``[executor]``: where measurement runs execute. Decisions, the log and the gate stay on this machine."""

    kind: str = "local"  # local | ray | hf-jobs
    address: str = ""  # ray: "auto", "host:port" of a started head, or "ray://host:port" (Ray Client)
    namespace: str = ""  # ray: the Ray namespace; hf-jobs: the user or org the jobs run under
    flavor: str = "cpu-basic"  # hf-jobs: the hardware flavor, e.g. "a10g-small"
    timeout_s: float = 0.0  # hf-jobs: the job's own limit; 0 = the objective's timeout plus set-up time
    image: str = ""  # hf-jobs: the Docker image (default: a Python image with git)


@dataclass(frozen=True)
class Review:
    # name -> public key text (``ed25519 <hex>``, ssh-ed25519 or PEM): whose signed decisions count here
    trusted_keys: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LabConfig:
    path: Path
    name: str
    description: str
    objective: Objective
    search: SearchSpace
    budget: Budget
    resources: Resources
    agents: dict[str, RoleConfig]
    raw: dict[str, Any]
    executor: ExecutorConfig = ExecutorConfig()
    review: Review = field(default_factory=Review)
    # [lab] instructions: the file (relative to the root) the workers follow; read from the baseline commit.
    instructions: str = ""

    @property
    def root(self) -> Path:
        return self.path.parent

    def digest(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


# --- parsing helpers: each names the file and the dotted field -------------------------------------


class _Reader:
    def __init__(self, path: Path, table: dict[str, Any], prefix: str) -> None:
        self.path, self.table, self.prefix = path, table, prefix

    def where(self, key: str) -> str:
        return f"{self.path.name}: [{self.prefix}] {key}" if self.prefix else f"{self.path.name}: {key}"

    def fail(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"{self.where(key)} {message}")

    def get(self, key: str, types: type | tuple[type, ...], default: Any = ..., allowed: str = "") -> Any:
        if key not in self.table:
            if default is ...:
                raise self.fail(key, f"is missing ({allowed or 'required'})")
            return default
        value = self.table[key]
        # bool is an int in Python; never accept it where a number is meant.
        if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
            raise self.fail(key, f"is {value!r}; expected {allowed or _type_names(types)}")
        if not isinstance(value, types):
            raise self.fail(key, f"is {value!r}; expected {allowed or _type_names(types)}")
        return value

    def number(self, key: str, default: Any = ..., minimum: float | None = None, allow_equal: bool = True) -> float:
        value = self.get(key, (int, float), default)
        if value is not None and minimum is not None and (value < minimum or (not allow_equal and value == minimum)):
            op = ">=" if allow_equal else ">"
            raise self.fail(key, f"is {value!r}; must be {op} {minimum}")
        result: float = value  # int or float as written (or the default, which may be None)
        return result

    def unknown(self, known: set[str]) -> None:
        extra = sorted(set(self.table) - known)
        if extra:
            raise self.fail(extra[0], f"is not a known field; allowed: {', '.join(sorted(known))}")


def _type_names(types: type | tuple[type, ...]) -> str:
    types = types if isinstance(types, tuple) else (types,)
    names = {
        int: "an integer",
        float: "a number",
        str: "a string",
        bool: "true or false",
        list: "a list",
        dict: "a table",
    }
    return " or ".join(names.get(t, t.__name__) for t in types)


def _table(path: Path, data: dict[str, Any], key: str, required: bool = False) -> dict[str, Any]:
    value = data.get(key)
    if value is None:
        if required:
            raise ConfigError(f"{path.name}: the [{key}] table is missing")
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{path.name}: {key} must be a table ([{key}])")
    return value


def _objective(path: Path, data: dict[str, Any]) -> Objective:
    r = _Reader(path, _table(path, data, "objective", required=True), "objective")
    r.unknown(
        {
            "name",
            "direction",
            "command",
            "metric",
            "timeout_s",
            "repeats",
            "max_repeats",
            "protected",
            "min_effect",
            "artifacts",
            "network",
            "read_paths",
            "env",
            "memory_mb",
            "max_processes",
            "require_sandbox",
            "editable",
            "measure_outside_editable",
        }
    )
    read_paths = r.get("read_paths", list, [])
    if not all(isinstance(p, str) and p.startswith(("/", "~")) for p in read_paths):
        raise r.fail("read_paths", "must be a list of absolute directories, e.g. ['~/.cache/huggingface']")
    env_names = r.get("env", list, [])
    if not all(isinstance(n, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", n) for n in env_names):
        raise r.fail("env", "must be a list of environment variable names, e.g. ['WANDB_MODE']")
    artifacts = r.get("artifacts", list, [])
    if not all(isinstance(a, str) and a and not a.startswith("/") and ".." not in a for a in artifacts):
        raise r.fail(
            "artifacts", "must be a list of relative file paths inside the run's checkout, e.g. ['bench.json']"
        )
    direction = r.get("direction", str, "minimize")
    if direction not in ("minimize", "maximize"):
        raise r.fail("direction", f"is {direction!r}; allowed: 'minimize' or 'maximize'")
    command = r.get("command", str, allowed="the command the console runs, e.g. 'python train.py'")
    if not command.strip():
        raise r.fail("command", "is empty; give the command the console runs, e.g. 'python train.py'")
    protected = r.get("protected", list, [])
    if not all(isinstance(p, str) and p for p in protected):
        raise r.fail("protected", "must be a list of non-empty glob strings, e.g. ['prepare.py', 'bench/**']")
    editable = r.get("editable", list, None)
    if editable is not None and not all(isinstance(e, str) and e.strip() for e in editable):
        raise r.fail("editable", "must be a list of non-empty glob strings, e.g. ['train.py', 'model/**']")
    repeats = r.get("repeats", int, 3)
    if repeats < 1:
        raise r.fail("repeats", f"is {repeats}; must be >= 1")
    max_repeats = r.get("max_repeats", int, 0)
    if max_repeats and max_repeats < repeats:
        raise r.fail("max_repeats", f"is {max_repeats}; must be >= repeats ({repeats}), or 0 for the default cap")
    return Objective(
        name=r.get("name", str, allowed="the metric's name, e.g. 'val_bpb'"),
        direction=direction,
        command=command,
        metric=MetricSpec.parse(r.get("metric", str, allowed="'json:FILE#PATH' or 'regex:PATTERN'"), r.where("metric")),
        timeout_s=float(r.number("timeout_s", 300.0, minimum=0, allow_equal=False)),
        repeats=repeats,
        max_repeats=max_repeats,
        protected=tuple(protected),
        min_effect=float(r.number("min_effect", 0.0, minimum=0)),
        artifacts=tuple(artifacts),
        network=r.get("network", bool, False),
        read_paths=tuple(read_paths),
        env=tuple(env_names),
        memory_mb=int(r.number("memory_mb", 0, minimum=0)),
        max_processes=int(r.number("max_processes", 0, minimum=0)),
        require_sandbox=r.get("require_sandbox", bool, False),
        editable=None if editable is None else tuple(editable),
        measure_outside_editable=r.get("measure_outside_editable", bool, False),
    )


def _param(path: Path, name: str, spec: Any) -> ParamSpec:
    r = _Reader(path, spec if isinstance(spec, dict) else {}, f"search.space.{name}")
    if not isinstance(spec, dict):
        raise ConfigError(
            f'{path.name}: [search.space] {name} must be a table like {{ type = "float", low = 0.001, high = 0.1 }}'
        )
    kind = r.get("type", str, allowed="'float', 'int' or 'categorical'")
    if kind == "categorical":
        r.unknown({"type", "choices"})
        choices = r.get("choices", list, allowed="a non-empty list of values")
        if not choices:
            raise r.fail("choices", "is empty; list at least one value")
        return ParamSpec(name, kind, choices=tuple(choices))
    if kind not in ("float", "int"):
        raise r.fail("type", f"is {kind!r}; allowed: 'float', 'int' or 'categorical'")
    r.unknown({"type", "low", "high", "log", "step"})
    low, high = r.number("low"), r.number("high")
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        raise r.fail("high", f"is {high!r}; must be greater than low ({low!r})")
    log = r.get("log", bool, False)
    if log and low <= 0:
        raise r.fail("low", f"is {low!r}; a log-scaled range needs low > 0")
    step = r.number("step", None, minimum=0, allow_equal=False)
    return ParamSpec(name, kind, low=low, high=high, log=log, step=step)


def _search(path: Path, data: dict[str, Any]) -> SearchSpace:
    table = _table(path, data, "search")
    r = _Reader(path, table, "search")
    r.unknown({"file", "budget", "space"})
    space = table.get("space", {})
    if not isinstance(space, dict):
        raise ConfigError(f"{path.name}: [search] space must be a table ([search.space])")
    return SearchSpace(
        file=r.get("file", str, ""),
        budget=int(r.get("budget", int, 8)),
        params=tuple(_param(path, name, spec) for name, spec in space.items()),
    )


# Per-role timeouts in seconds (defaults in labconsole/agents): connecting to the model server, silence
# inside one response, one model call (a CLI's whole run), and no token before the supervisor calls it stalled.
TIMEOUT_FIELDS = ("connect_timeout_s", "read_timeout_s", "turn_timeout_s", "stall_timeout_s")


def _agents(path: Path, data: dict[str, Any]) -> dict[str, RoleConfig]:
    table = _table(path, data, "agents")
    defaults = {"researcher": "sweep", "planner": "sweep", "worker": "sweep", "reviewer": "rules", "reporter": "sweep"}
    roles: dict[str, RoleConfig] = {}
    for role in table:
        if role not in ROLES:
            raise ConfigError(f"{path.name}: [agents] {role} is not a role; allowed: {', '.join(ROLES)}")
    for role in ROLES:
        spec = table.get(role, {"backend": defaults[role]})
        if not isinstance(spec, dict):
            raise ConfigError(f'{path.name}: [agents] {role} must be a table like {{ backend = "sweep" }}')
        r = _Reader(path, spec, f"agents.{role}")
        r.unknown({"backend", "model", "count", "options", *TIMEOUT_FIELDS})
        backend = r.get("backend", str, defaults[role])
        if backend not in KNOWN_BACKENDS:
            raise r.fail("backend", f"is {backend!r}; allowed: {', '.join(KNOWN_BACKENDS)}")
        if backend == "rules" and role != "reviewer":
            raise r.fail("backend", "'rules' is the reviewer's backend only")
        count = r.get("count", int, 1)
        if count < 1 or (count > 1 and role != "worker"):
            raise r.fail("count", f"is {count}; only workers may have count > 1, and count must be >= 1")
        options = dict(r.get("options", dict, {}))
        # Timeouts travel to the agent (and its supervisor) as backend options; see labconsole/agents/backends.
        options.update({k: float(r.number(k, minimum=0, allow_equal=False)) for k in TIMEOUT_FIELDS if k in spec})
        roles[role] = RoleConfig(role, backend, r.get("model", str, ""), count, options)
    return roles


def _executor(path: Path, data: dict[str, Any], legacy: str) -> ExecutorConfig:
    """``[executor]``; ``[resources] executor`` (older labs) names the kind too, and must agree with it."""
    table = _table(path, data, "executor")
    r = _Reader(path, table, "executor")
    r.unknown({"kind", "address", "namespace", "flavor", "timeout_s", "image"})
    kind = r.get("kind", str, legacy)
    if kind not in EXECUTORS:
        raise r.fail("kind", f"is {kind!r}; allowed: {', '.join(repr(k) for k in EXECUTORS)}")
    if legacy != "local" and legacy != kind:
        raise r.fail("kind", f"is {kind!r} but [resources] executor is {legacy!r}; keep one of them")
    address = r.get("address", str, "auto" if kind == "ray" else "")
    if kind == "ray" and not address.strip():
        raise r.fail("address", "is empty; give 'auto', 'HOST:PORT' of the Ray head, or 'ray://HOST:PORT'")
    return ExecutorConfig(
        kind=kind,
        address=address,
        namespace=r.get("namespace", str, ""),
        flavor=r.get("flavor", str, "cpu-basic"),
        timeout_s=float(r.number("timeout_s", 0.0, minimum=0)),
        image=r.get("image", str, ""),
    )


def load_config(path: Path) -> LabConfig:
    """Read and validate ``lab.toml``. Raises ConfigError with file, field and what is allowed."""
    path = Path(path)
    if path.is_dir():
        path = path / "lab.toml"
    if not path.exists():
        raise ConfigError(f"{path}: not found; a lab is a git repository with a lab.toml at its root")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path.name}: not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path.name}: not UTF-8 text") from None
    known = {"lab", "objective", "search", "budget", "resources", "agents", "executor", "review"}
    for key in data:
        if key not in known:
            raise ConfigError(f"{path.name}: [{key}] is not a known table; allowed: {', '.join(sorted(known))}")
    lab = _Reader(path, _table(path, data, "lab"), "lab")
    lab.unknown({"name", "description", "instructions"})
    instructions = lab.get("instructions", str, "", allowed="the path of a file in the repository, e.g. 'program.md'")
    b = _Reader(path, _table(path, data, "budget"), "budget")
    b.unknown({"usd", "tokens", "gpu_hours", "roles"})
    role_budgets: dict[str, dict[str, float]] = {}
    for role, table in (b.get("roles", dict, {}) or {}).items():
        if role not in ROLES:
            raise ConfigError(f"{path.name}: [budget.roles] {role} is not a role; allowed: {', '.join(ROLES)}")
        rb = _Reader(path, table if isinstance(table, dict) else {}, f"budget.roles.{role}")
        if not isinstance(table, dict):
            raise ConfigError(f"{path.name}: [budget.roles] {role} must be a table like {{ usd = 5.0 }}")
        rb.unknown({"usd", "tokens", "gpu_hours"})
        role_budgets[role] = {
            k: float(rb.number(k, 0.0, minimum=0)) for k in ("usd", "tokens", "gpu_hours") if k in table
        }
    res = _Reader(path, _table(path, data, "resources"), "resources")
    res.unknown({"gpus_per_run", "executor", "max_parallel_runs"})
    executor = res.get("executor", str, "local")
    if executor not in EXECUTORS:
        raise res.fail("executor", f"is {executor!r}; allowed here: {', '.join(EXECUTORS)}")
    executor_config = _executor(path, data, executor)
    objective = _objective(path, data)
    search = _search(path, data)
    agents = _agents(path, data)
    if agents["researcher"].backend == "sweep" and not search.params:
        raise ConfigError(f"{path.name}: [search.space] is empty; the sweep researcher needs at least one parameter")
    if search.params and not search.file:
        raise ConfigError(
            f"{path.name}: [search] file is missing; name the file whose NAME = value lines the sweep worker edits"
        )
    return LabConfig(
        path=path,
        name=lab.get("name", str, path.parent.name),
        description=lab.get("description", str, ""),
        objective=objective,
        search=search,
        budget=Budget(
            usd=float(b.number("usd", 0.0, minimum=0)),
            tokens=float(b.number("tokens", 0, minimum=0)),
            gpu_hours=float(b.number("gpu_hours", 0.0, minimum=0)),
            roles=role_budgets,
        ),
        resources=Resources(
            gpus_per_run=int(res.get("gpus_per_run", int, 0)),
            executor=executor_config.kind,
            max_parallel_runs=int(res.get("max_parallel_runs", int, 1)),
        ),
        agents=agents,
        raw=data,
        executor=executor_config,
        review=_review(path, data),
        instructions=check_instructions_path(path.parent, instructions, lab.where("instructions"))
        if "instructions" in lab.table
        else "",
    )


def _review(path: Path, data: dict[str, Any]) -> Review:
    r = _Reader(path, _table(path, data, "review"), "review")
    r.unknown({"trusted_keys"})
    keys = r.get("trusted_keys", dict, {}, allowed='a table like { alice = "ed25519 <hex>" }')
    for name, key in keys.items():
        if not isinstance(key, str):
            raise r.fail("trusted_keys", f"{name} is {key!r}; expected the public key as a string")
    return Review(trusted_keys=dict(keys))
