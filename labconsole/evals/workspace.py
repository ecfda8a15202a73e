"""An isolated starting repo per attempt: the fixture copied into a fresh git repo."""

from __future__ import annotations

import fnmatch
import shutil
from pathlib import Path

from labconsole.evals.cases import EvalCase
from labconsole.lab.gitops import run_git

# Fixed identity and dates so the fixture commit is the same in every attempt.
_GIT_ENV = {
    "GIT_AUTHOR_NAME": "labconsole-eval",
    "GIT_AUTHOR_EMAIL": "eval@labconsole.invalid",
    "GIT_COMMITTER_NAME": "labconsole-eval",
    "GIT_COMMITTER_EMAIL": "eval@labconsole.invalid",
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
    "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z",
    "GIT_CONFIG_NOSYSTEM": "1",
}
# Skill install folders of every harness: never part of the candidate's diff.
HARNESS_DIRS = (".claude/", ".agents/", ".opencode/", ".codex/")


def git(workdir: Path, *args: str, check: bool = True) -> str:
    # Through the console's git guard: the agent under test wrote this workdir, .git included.
    status, out, err = run_git(workdir, *args, env=_GIT_ENV, timeout=600)
    if check and status != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {workdir}: {err.strip()}")
    return out.decode("utf-8", "surrogateescape")


def prepare_workdir(case: EvalCase, workdir: Path) -> str:
    """Create ``workdir`` as a git repo holding the case fixture; return the fixture commit SHA."""
    if workdir.exists():
        shutil.rmtree(workdir)  # a half-made attempt from an interrupted run starts over
    if case.fixture is not None:
        shutil.copytree(case.fixture, workdir, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache"))
    else:
        workdir.mkdir(parents=True)
    for extra in case.extra_files:
        shutil.copy2(extra, workdir / extra.name)
    git(workdir, "init", "-q", "-b", "main")
    exclude = workdir / ".git" / "info" / "exclude"
    exclude.parent.mkdir(parents=True, exist_ok=True)
    exclude.write_text("\n".join([*HARNESS_DIRS, "__pycache__/", ".pytest_cache/", "*.pyc", ""]))
    git(workdir, "add", "-A")
    git(workdir, "commit", "-q", "--allow-empty", "-m", f"fixture for {case.skill}/{case.id}")
    return git(workdir, "rev-parse", "HEAD").strip()


def changed_files(workdir: Path, base: str) -> list[str]:
    """Files that differ from ``base``: committed, staged, unstaged and untracked (not ignored)."""
    tracked = git(workdir, "diff", "--name-only", base).splitlines()
    untracked = git(workdir, "ls-files", "--others", "--exclude-standard").splitlines()
    return sorted({p for p in tracked + untracked if p and not p.startswith(HARNESS_DIRS)})


def matches(path: str, patterns: tuple[str, ...] | list[str]) -> bool:
    for pat in patterns:
        if fnmatch.fnmatch(path, pat) or (pat.endswith("/**") and path.startswith(pat[:-2])):
            return True
    return False


def restore_protected(workdir: Path, base: str, protected: tuple[str, ...]) -> list[str]:
    """Put protected files back to the fixture version (so checks run the real tests); return what was touched."""
    touched = [p for p in changed_files(workdir, base) if matches(p, protected)]
    for path in touched:
        in_base = run_git(workdir, "cat-file", "-e", f"{base}:{path}", env=_GIT_ENV)[0] == 0
        if in_base:
            git(workdir, "checkout", base, "--", path)
        else:
            (workdir / path).unlink(missing_ok=True)
    return touched
