"""Base of the CLI backends (``claude-code``, ``codex``): one CLI run per task.

The CLI does the tool loop itself; we give it the role prompt and the task, confine it
(the CLI's own sandbox / permission mode plus, for claude, our path-policy hook), translate
its events, and then produce the role's result console-side:

* worker — commit whatever changed in the worktree (``commit`` event);
* researcher / planner / reviewer — parse the JSON block the model was asked to end with;
  when it is missing or malformed, resume the CLI session once asking for it (a repair
  attempt), then give up with a clear error;
* reporter — the file it wrote, or its final answer written to ``out``.

The CLI process itself (its whole tree: every Bash command the model runs) runs under the console's
bubblewrap builder (:mod:`labconsole.core.sandbox`): the worktree writable (its ``.git`` pointer
read-only), a private HOME holding only this CLI's config, the lab root, the user's HOME and config
dir hidden, the console's pid out of sight, only this CLI's credential in the environment. It shares
the host network: it must reach its model endpoint. The CLI's own sandbox and our hook stay on as a
second layer.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from labconsole.agents.backends.base import AgentContext, Task
from labconsole.agents.backends.cli_events import CliOutcome, Translator, run_cli
from labconsole.agents.backends.failures import exit_text
from labconsole.agents.backends.meter import UsageMeter
from labconsole.agents.backends.outcomes import Outcome, OutcomeError, git, parse_json_block, task_prompt
from labconsole.agents.backends.ready import check_backend_ready, find_cli
from labconsole.agents.backends.role_backend import BackendError, RoleBackend
from labconsole.agents.emitter import Emitter
from labconsole.agents.redact import secret_env_values
from labconsole.agents.sandbox import Workspace
from labconsole.core.sandbox import (
    SandboxSpec,
    StagedDir,
    allowed_env,
    bwrap_argv,
    bwrap_path,
    console_python_dirs,
    unavailable_reason,
    user_private_dirs,
)

DEFAULT_TIMEOUT_S = 3600.0
PACKAGE_DIR = Path(__file__).resolve().parents[2]  # labconsole/: the claude hook runs it inside the sandbox


class CliBackend(RoleBackend):
    backend = ""

    def __init__(self, ctx: AgentContext) -> None:
        check_backend_ready(ctx.role, self.backend, ctx.options)
        self.extra_env = {str(k): str(v) for k, v in dict(ctx.options.get("env") or {}).items()}
        super().__init__(ctx)
        self.exe = find_cli(self.backend, ctx.options) or ""
        # One CLI run is the CLI's whole turn (model calls and tools), so its deadline is longer.
        self.timeout_s = float(ctx.options.get("turn_timeout_s") or ctx.options.get("timeout_s") or DEFAULT_TIMEOUT_S)
        self.scratch = Path(tempfile.mkdtemp(prefix=f"labconsole-{self.backend}-"))
        atexit.register(shutil.rmtree, self.scratch, True)
        # The CLI's HOME: the one the lab gave (a dedicated dir with only this CLI's login), else an empty one.
        self.home = Path(str(ctx.options["home"])).expanduser() if ctx.options.get("home") else self.scratch / "home"
        self.home.mkdir(parents=True, exist_ok=True)
        self.use_bwrap = ctx.options.get("bwrap", True) is not False
        self._said_degraded = False
        self._staged: list[StagedDir] = []

    def secrets(self) -> list[str]:
        return secret_env_values(self.extra_env)

    # -- subclass hooks ----------------------------------------------------------------------

    def argv(self, prompt: str, ws: Workspace, resume: str | None) -> list[str]:
        raise NotImplementedError

    def credential_env(self) -> list[str]:
        """The names of this CLI's own credential and endpoint variables: the only secrets it gets."""
        raise NotImplementedError

    def config_dirs(self) -> list[Path]:
        """Directories the CLI keeps its state in besides HOME (bound writable inside the sandbox)."""
        return []

    def env(self) -> dict[str, str]:
        """An allow-list, never the console's environment: other providers' keys, HF_TOKEN and the rest
        stay out. The lab's ``env`` option is set as given."""
        # LABCONSOLE_AGENT_ID marks the process tree as an agent's: `labconsole` refuses to decide there.
        chosen = allowed_env(os.environ, names=("LABCONSOLE_AGENT_ID",), explicit=self.credential_env())
        return {**chosen.env, **self.extra_env, "HOME": str(self.home), "TMPDIR": "/tmp"}

    def sandboxed(self, argv: list[str], ws: Workspace, emit: Emitter) -> list[str]:
        """``argv`` under bubblewrap (see the module doc), or as it is when there is none (logged once)."""
        exe = bwrap_path() if self.use_bwrap else None
        if exe is None:
            if not self._said_degraded:
                reason = unavailable_reason() if self.use_bwrap else "bwrap = false in the agent's options"
                emit.log(f"sandbox: degraded: {self.backend} runs unsandboxed ({reason})", level="warning")
                self._said_degraded = True
            return argv
        # Files a read-only role may write (the reporter's report) are created in a stage, copied out after.
        by_dir: dict[Path, list[str]] = {}
        for path in ws.write_files:
            by_dir.setdefault(path.parent, []).append(path.name)
        self._staged = []
        for n, (parent, names) in enumerate(sorted(by_dir.items())):
            parent.mkdir(parents=True, exist_ok=True)
            stage = Path(tempfile.mkdtemp(prefix=f"stage{n}-", dir=self.scratch))
            self._staged.append(StagedDir(parent, stage, tuple(names)))
        lab_root = Path(self.ctx.lab_root).resolve()
        spec = SandboxSpec(
            cwd=ws.root,
            writable=(*((ws.root,) if ws.writable else ()), self.home, *self.config_dirs()),
            staged=tuple(self._staged),
            read_only=(
                *(() if ws.writable else (ws.root,)),
                *ws.read_roots,
                *_git_dirs(ws.root),
                *_tool_dirs(argv[0]),
                *console_python_dirs(),
                PACKAGE_DIR,
                self.scratch,
            ),
            # The worktree's .git pointer: the console runs git there later, so the agent may not repoint it.
            read_only_files=(ws.root / ".git",) if ws.writable else (),
            hidden=(*user_private_dirs(), lab_root, lab_root / "sessions", lab_root / ".labconsole"),
            network=True,
        )
        return bwrap_argv(exe, spec, argv)

    def translator(self, emit: Emitter, meter: UsageMeter) -> Translator:
        raise NotImplementedError

    def prompt(self, task: Task) -> str:
        text = task_prompt(self.ctx.role, task, json_block=True)
        # The person's messages reach a CLI agent with its next task (a CLI run cannot be fed mid-way).
        notes = [self.ctx.inbox.pop(0) for _ in list(self.ctx.inbox)]
        if notes:
            text += "\n\nMessages from the person at the console:\n" + "\n".join(f"- {n}" for n in notes)
        return text

    # -- the task ----------------------------------------------------------------------------

    def _run(self, prompt: str, ws: Workspace, emit: Emitter, meter: UsageMeter, resume: str | None) -> CliOutcome:
        try:
            out = run_cli(
                self.sandboxed(self.argv(prompt, ws, resume), ws, emit),
                self.env(),
                ws.root,
                self.translator(emit, meter),
                self.ctx,
                emit,
                self.timeout_s,
                self.redactor.text,
            )
        finally:
            for staged in self._staged:
                staged.collect()
            self._staged = []
        meter.flush()
        if out.error or out.returncode != 0:
            if out.stderr_tail:  # the whole tail to the agent's log; the person gets one line
                sys.stderr.write(f"[{self.backend} stderr]\n{out.stderr_tail}\n")
            detail = out.error or exit_text(out.returncode)
            what = detail if detail.startswith(("claude ", "codex ")) else f"{self.backend} {detail}"
            raise BackendError(
                what + (f" (stderr: {out.stderr_tail.splitlines()[-1][:200]})" if out.stderr_tail else ""),
                role=self.ctx.role,
                agent=self.ctx.agent_id,
                fix=self.fix_for(out),
                infra=True,
            )
        return out

    def fix_for(self, out: CliOutcome) -> str:
        if out.error.startswith("timed out"):
            return "raise turn_timeout_s for this role in lab.toml [agents] if the task needs longer"
        return "check that the model endpoint is reachable and the CLI runs (details in the agent's log)"

    def role_prompt(self) -> str:
        """The role spec's prompt plus its skills (installing skills into the worktree would
        put them into the candidate's commit, so they travel in the prompt) and the person's instructions."""
        return "\n\n".join(part for part in (self.spec.prompt, self.skills, self.instructions) if part)

    def run_task(self, task: Task, emit: Emitter) -> None:
        outcome, meter = self.begin(task, emit)
        ws = outcome.workspace
        out = self._run(self.prompt(task), ws, emit, meter, resume=None)
        if self.ctx.role == "worker":
            self._commit(outcome, task)
        elif self.ctx.role == "reporter":
            self._report(outcome, out)
        else:
            self._structured(outcome, out, ws, emit, meter)

    def _commit(self, outcome: Outcome, task: Task) -> None:
        if not git(outcome.workspace.root, "status", "--porcelain").strip():
            raise OutcomeError("the worker finished without changing anything in its worktree")
        hyp = task.payload.get("hypothesis") or {}
        outcome.commit(f"{hyp.get('id', '')}: {hyp.get('title', '')}".strip(": "))

    def _report(self, outcome: Outcome, out: CliOutcome) -> None:
        path = outcome.workspace.write_files[0]
        if not (path.is_file() and path.stat().st_size) and out.final_text.strip():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(self.redactor.text(out.final_text.strip()) + "\n", encoding="utf-8")
        outcome.reported()

    def _structured(self, outcome: Outcome, out: CliOutcome, ws: Workspace, emit: Emitter, meter: UsageMeter) -> None:
        try:
            outcome.apply_json(parse_json_block(out.final_text))
            return
        except OutcomeError as exc:
            problem = str(exc)
        if not out.session_id:
            raise OutcomeError(f"{problem} (and no session to resume for a repair)")
        emit.log(f"repair: {problem}; asking the model again", level="warning")
        meter.repairs.attempts += 1
        ask = (
            f"Your answer could not be used: {problem}. Answer again with only one fenced ```json block "
            "of the shape you were given."
        )
        again = self._run(ask, ws, emit, meter, resume=out.session_id)
        try:
            outcome.apply_json(parse_json_block(again.final_text))
        except OutcomeError as exc:
            raise OutcomeError(f"no usable JSON result after a repair attempt: {exc}") from None


def _git_dirs(root: Path) -> list[Path]:
    """The repository a worktree belongs to (read-only inside: ``git diff`` works, nothing is written)."""
    try:
        got = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--path-format=absolute", "--git-common-dir"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [Path(got.stdout.strip())] if got.returncode == 0 and got.stdout.strip() else []


def _tool_dirs(exe: str) -> list[Path]:
    """Where the CLI and its runtime are installed: the npm prefix above ``node_modules``, and node's."""
    dirs = []
    for found in (exe, shutil.which("node") or ""):
        if not found:
            continue
        real = Path(os.path.realpath(found))
        prefix = next((p.parent for p in real.parents if p.name == "node_modules"), real.parent)
        dirs += [prefix, Path(os.path.dirname(found)).resolve()]
    return dirs
