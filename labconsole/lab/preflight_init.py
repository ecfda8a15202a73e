"""``labconsole init``: infer a commented ``lab.toml`` for a repository a person already has.

Three shapes are recognised, from the files alone (nothing is run):
* **autoresearch** (karpathy/autoresearch and its forks): ``prepare.py`` (data, tokenizer, the metric; never
  edited), ``train.py`` (the one file agents edit; prints a summary block with ``val_bpb:``), ``program.md``
  (the person's instructions), run as ``uv run train.py``, data cached under ``~/.cache/autoresearch``;
* a plain training or benchmark script (``train.py`` / ``bench.py``);
* anything else: a template with every field explained.

What could not be inferred is listed for the person to decide; ``labconsole check`` then tries it.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from labconsole.core.config import load_config
from labconsole.errors import ConfigError, LabError

AUTORESEARCH_CACHE = "~/.cache/autoresearch"
AUTORESEARCH_METRIC = r"regex:^val_bpb:\s*([0-9.]+)"
# Files a person keeps next to the code but never commits (autoresearch's results.tsv is untracked).
UNTRACKED_RECORDS = ("results.tsv", "run.log")
# NAME = number lines the sweep may tune: module-level upper-case constants (not budgets or paths).
_KNOB = re.compile(
    r"^(?P<name>[A-Z][A-Z0-9_]*)\s*=\s*(?P<value>-?[0-9][0-9_]*(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?)\s*(?:#.*)?$",
    re.MULTILINE,
)
_NOT_KNOBS = re.compile(r"BUDGET|SEED|TIME|SECONDS|MAX_SEQ|VOCAB|EVAL|PORT|DEVICE")
MAX_KNOBS = 6


@dataclass
class LabDraft:
    shape: str  # autoresearch | script | template
    name: str
    command: str
    metric: str
    metric_name: str
    direction: str
    timeout_s: int
    repeats: int
    protected: list[str]
    editable: list[str] = field(default_factory=list)
    read_paths: list[str] = field(default_factory=list)
    instructions: str = ""  # the file the workers follow (autoresearch's program.md)
    search_file: str = ""
    space: dict[str, str] = field(default_factory=dict)  # NAME -> the inline table, as TOML text
    inferred: list[str] = field(default_factory=list)
    to_decide: list[str] = field(default_factory=list)


def infer_lab(root: Path) -> LabDraft:
    root = Path(root)
    name = root.resolve().name
    if (root / "prepare.py").is_file() and (root / "train.py").is_file():
        return _autoresearch(root, name)
    for script in ("train.py", "bench.py"):
        if (root / script).is_file():
            return _script(root, name, script)
    return LabDraft(
        "template",
        name,
        "python train.py",
        "regex:^score:\\s*([0-9.eE+-]+)",
        "score",
        "maximize",
        600,
        3,
        ["lab.toml"],
        to_decide=[
            "[objective] command: the command that trains or benchmarks and prints the metric",
            "[objective] metric, name and direction: how to read the number and which way is better",
            "[search] file and [search.space]: the NAME = value lines the sweep may change",
        ],
    )


def _autoresearch(root: Path, name: str) -> LabDraft:
    uv = _has_uv() and (root / "pyproject.toml").is_file()
    command = "uv run train.py" if uv else "python train.py"
    budget = _time_budget(root)
    timeout = int(max(2 * budget, budget + 60)) if budget else 900
    protected = ["prepare.py", "lab.toml"] + [
        f for f in ("program.md", "pyproject.toml", "uv.lock") if (root / f).is_file()
    ]
    draft = LabDraft(
        "autoresearch",
        name,
        command,
        AUTORESEARCH_METRIC,
        "val_bpb",
        "minimize",
        timeout,
        1,
        protected,
        editable=["train.py"],
        read_paths=[AUTORESEARCH_CACHE],
        instructions="program.md" if (root / "program.md").is_file() else "",
        search_file="train.py",
        space=_knobs(root / "train.py"),
    )
    draft.inferred = [
        "an autoresearch-shaped repository: prepare.py (fixed, protected), train.py (the file agents edit)",
        f"objective: {command!r}" + ("" if uv else " (`uv` or pyproject.toml missing, so plain python)"),
        "metric: the summary line 'val_bpb: …', lower is better",
        (
            f"timeout_s = {timeout}: the time budget of {budget:g} s plus startup and evaluation"
            if budget
            else "timeout_s = 900: no TIME_BUDGET found in prepare.py or train.py"
        ),
        f"protected: {', '.join(protected)}",
        f"read-only data cache for the measurement sandbox: {AUTORESEARCH_CACHE}",
    ]
    if draft.instructions:
        draft.inferred.append("program.md: the workers' instructions")
    draft.to_decide = [
        "repeats = 1: each run is a full training budget; raise it if the metric is noisy at your scale",
        "[search.space]: the ranges below are guesses around train.py's current values (or let an LLM "
        'worker edit train.py freely: [agents] worker = { backend = "claude-code" })',
    ]
    if not (root / "pyproject.toml").is_file():
        draft.to_decide.append("no pyproject.toml: is `python` here the interpreter with torch?")
    return draft


def _script(root: Path, name: str, script: str) -> LabDraft:
    text = (root / script).read_text(encoding="utf-8", errors="replace")
    metric_name = _printed_metric(text) or ("val_loss" if script == "train.py" else "score")
    direction = (
        "maximize"
        if re.search(r"acc|score|throughput|tflops|tok.?s|per_s|bandwidth", metric_name, re.I)
        else "minimize"
    )
    draft = LabDraft(
        "script",
        name,
        f"python {script}",
        rf"regex:^{re.escape(metric_name)}:\s*([0-9.eE+-]+)",
        metric_name,
        direction,
        900,
        3,
        ["lab.toml"],
        editable=[script],
        search_file=script,
        space=_knobs(root / script),
    )
    draft.inferred = [
        f"a plain {script} repository: objective 'python {script}'",
        f"metric: the printed line '{metric_name}: …', {direction}d (a guess from its name)",
    ]
    draft.to_decide = [
        "[objective] metric and direction: is that the number that matters, and which way is better?",
        "[objective] protected: the files that define the data and the metric",
        "timeout_s = 900 and repeats = 3: one run's time limit and the interleaved pairs per candidate",
    ]
    if not draft.space:
        draft.to_decide.append(f"[search.space]: {script} has no NAME = number lines for the sweep to change")
    return draft


def _has_uv() -> bool:
    return shutil.which("uv") is not None


def _time_budget(root: Path) -> float:
    for file in ("prepare.py", "train.py"):
        path = root / file
        if path.is_file():
            match = re.search(
                r"^TIME_BUDGET\s*=\s*([0-9.]+)", path.read_text(encoding="utf-8", errors="replace"), re.MULTILINE
            )
            if match:
                return float(match.group(1))
    return 0.0


def _knobs(path: Path) -> dict[str, str]:
    """A sweep range around each tunable constant's current value: the person narrows it."""
    space: dict[str, str] = {}
    for match in _KNOB.finditer(path.read_text(encoding="utf-8", errors="replace")):
        name, raw = match.group("name"), match.group("value").replace("_", "")
        if _NOT_KNOBS.search(name) or name in space:
            continue
        if re.fullmatch(r"-?[0-9]+", raw):
            value = int(raw)
            if value <= 0:
                continue
            space[name] = f'{{ type = "int", low = {max(1, value // 2)}, high = {value * 2} }}'
        else:
            number = float(raw)
            if number <= 0:
                continue
            # A value in (0, 1] is often a weight or a fraction: its range stays inside (0, 1].
            high = min(number * 4, 1.0) if number <= 1 else number * 4
            space[name] = f'{{ type = "float", low = {number / 4:.6g}, high = {high:.6g}, log = true }}'
        if len(space) == MAX_KNOBS:
            break
    return space


def _printed_metric(text: str) -> str:
    names = re.findall(r"""print\(\s*f?["'](\w+):""", text)
    return names[-1] if names else ""


def _list(items: list[str]) -> str:
    return "[" + ", ".join(f'"{i}"' for i in items) + "]"


def render_lab_toml(d: LabDraft) -> str:
    """The commented lab.toml. Keys the installed config parser does not read yet stay as comments."""
    space = (
        "\n".join(f"{k} = {v}" for k, v in d.space.items())
        or '# LEARNING_RATE = { type = "float", low = 1e-4, high = 3e-2, log = true }'
    )
    text = f'''# lab.toml written by `labconsole init` ({d.shape}). Check it with `labconsole check`.
[lab]
name = "{d.name}"
description = ""
{_optional("instructions", f'"{d.instructions}"', "the file workers follow as the person's instructions") if d.instructions else ""}

[objective]
name = "{d.metric_name}"                  # the metric's name in reports
direction = "{d.direction}"              # minimize | maximize
command = "{d.command}"         # run by the console in a clean checkout of the exact commit, never by an agent
metric = '{d.metric}'      # 'regex:PATTERN' (one group) on the output, or 'json:FILE#dotted.path'
timeout_s = {d.timeout_s}                      # a run past this is killed and recorded as a timeout
repeats = {d.repeats}                          # interleaved candidate/baseline pairs per measurement
protected = {_list(d.protected)}   # an edit here is metric gaming: the gate refuses it
{_optional("editable", _list(d.editable), "the only files agents may change") if d.editable else ""}
{_optional("read_paths", _list(d.read_paths), "read-only paths the measurement sandbox may see") if d.read_paths else ""}

[search]                                 # the offline sweep: NAME = value lines the sweep worker edits
file = "{d.search_file or "train.py"}"
budget = 8                               # hypotheses to try
[search.space]
{space}

[budget]                                 # 0 = unlimited
usd = 0.0
tokens = 0
gpu_hours = 0.0

[resources]
gpus_per_run = 0                         # GPUs each run leases (CUDA_VISIBLE_DEVICES); 0 = CPU

[agents]                                 # role -> backend: sweep/rules run offline; see README "Real agents"
worker = {{ backend = "sweep", count = 1 }}
reviewer = {{ backend = "rules" }}
# researcher = {{ backend = "anthropic", model = "claude-sonnet-4-5" }}
# worker = {{ backend = "claude-code", count = 2 }}
'''
    return _comment_unknown_keys(re.sub(r"\n{3,}", "\n\n", text))


_OPTIONAL = "  # optional: "


def _optional(key: str, value: str, why: str) -> str:
    return f"{key} = {value}{_OPTIONAL}{why}"


def _comment_unknown_keys(text: str) -> str:
    """Comment out optional keys this labconsole's parser does not know (another area adds them), so
    the file loads today and the line is there to uncomment once it does."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "lab.toml"
        for _ in range(8):
            path.write_text(text, encoding="utf-8")
            try:
                load_config(path)
                return text
            except ConfigError as exc:
                match = re.search(r"\] (\w+) is not a known field", str(exc))
                line = re.search(rf"(?m)^{match.group(1)} = .*{_OPTIONAL}.*$", text) if match else None
                if line is None:
                    return text  # a template that still needs the person: check says what
                text = text.replace(line.group(0), f"# {line.group(0)} (not read by this labconsole yet)")
    return text


def write_lab_toml(root: Path) -> tuple[Path, LabDraft]:
    """Write ``root/lab.toml`` (never over an existing one) and keep the person's untracked records untracked."""
    root = Path(root).resolve()
    if not (root / ".git").exists():
        raise LabError(
            f"{root} is not a git repository: run `git init && git add -A && git commit -m init` there first"
        )
    path = root / "lab.toml"
    if path.exists():
        raise LabError(f"{path} exists; labconsole init never overwrites it: edit it, or remove it to start over")
    from labconsole.lab.gitops import LabRepo
    from labconsole.lab.session import sessions_dir

    repo = LabRepo(root)  # refuses a repository without commits before anything is written
    draft = infer_lab(root)
    path.write_text(render_lab_toml(draft), encoding="utf-8")
    repo.ensure_ignored(
        [f for f in UNTRACKED_RECORDS if (root / f).exists()] + [".labconsole/", f"{sessions_dir(root).name}/"]
    )
    return path, draft
