"""Escape through git: an agent that can write its worktree (and the repository's git dir) tries to make
the console's own git commands run its program. Each test plants one trick whose program would create a
marker file, drives the console's git layer the way a session does, and asserts the marker never appears.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from labconsole.errors import GitStateError
from labconsole.lab.gitops import LabRepo, WorktreeTamperedError
from labconsole.lab.gitops.records import ARCHIVE_PREFIX, QUARANTINE_DIR
from tests.helpers.git_lab import hermetic_git, init_lab, sh


@pytest.fixture(autouse=True)
def _hermetic_git(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    hermetic_git(monkeypatch, tmp_path)


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    return init_lab(tmp_path / "lab", {"train.py": "lr = 0.1\n"})


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "PWNED"


@pytest.fixture
def evil(tmp_path: Path, marker: Path) -> Path:
    """The agent's program: creates the marker (and behaves like `cat` so git gets sane output)."""
    script = tmp_path / "evil.sh"
    script.write_text(f"#!/bin/sh\ntouch {marker}\ncat\nexit 0\n")
    script.chmod(0o755)
    return script


def _worker_commit(repo: LabRepo, hyp: str, text: str = "lr = 0.2\n") -> tuple[Path, str]:
    wt = repo.create_worktree(hyp, repo.head_sha())
    (wt.path / "train.py").write_text(text)
    sh(wt.path, "-c", "user.name=w", "-c", "user.email=w@w", "commit", "-qam", "worker edit")
    return wt.path, sh(wt.path, "rev-parse", "HEAD")


def test_repointed_dot_git_with_fsmonitor_is_refused_and_archived(
    lab: Path, tmp_path: Path, evil: Path, marker: Path
) -> None:
    repo = LabRepo(lab)
    wt, head = _worker_commit(repo, "h001")
    (wt / "notes.txt").write_text("uncommitted\n")  # so a cleanup has to look at the worktree's status
    # The agent's own git dir, with core.fsmonitor set to its program, and .git pointing at it.
    own = tmp_path / "agent-repo"
    sh(tmp_path, "init", "-q", str(own))
    sh(own, "config", "core.fsmonitor", str(evil))
    (wt / ".git").write_text(f"gitdir: {own / '.git'}\n")

    with pytest.raises(WorktreeTamperedError, match=r"tampered with: \.git points to"):
        repo.commit_all(wt, "status path")
    with pytest.raises(WorktreeTamperedError, match="tampered with"):
        repo.set_aside_leftovers("h001")
    with pytest.raises(WorktreeTamperedError) as cleanup:
        repo.archive_and_remove("h001")
    assert not marker.exists()
    # Its work was archived from the branch ref, its files moved aside (never deleted).
    err = cleanup.value
    assert err.archived_ref and err.archived_ref.startswith(ARCHIVE_PREFIX + "h001/")
    assert sh(lab, "rev-parse", err.archived_ref) == head
    assert err.kept_at is not None and err.kept_at.parent == lab / QUARANTINE_DIR
    assert (err.kept_at / "notes.txt").read_text() == "uncommitted\n" and not wt.exists()
    assert repo.branch_head("lab/h001") is None
    assert "archived at" in str(err) and "\n" not in str(err)


def test_rewritten_back_pointers_are_refused(lab: Path, tmp_path: Path) -> None:
    repo = LabRepo(lab)
    wt, _ = _worker_commit(repo, "h002")
    admin = repo.common_dir / "worktrees" / "h002"
    other = tmp_path / "other-common"
    other.mkdir()
    (admin / "commondir").write_text(f"{other}\n")
    with pytest.raises(WorktreeTamperedError, match="commondir points to"):
        repo.commit_all(wt, "x")
    (admin / "commondir").write_text("../..\n")
    (admin / "gitdir").write_text(f"{tmp_path / 'elsewhere' / '.git'}\n")
    with pytest.raises(WorktreeTamperedError, match="gitdir points to"):
        repo.commit_all(wt, "x")


def test_fsmonitor_in_the_repository_config_is_not_run(lab: Path, evil: Path, marker: Path) -> None:
    repo = LabRepo(lab)
    wt, _ = _worker_commit(repo, "h003")
    sh(lab, "config", "core.fsmonitor", str(evil))  # the common config, writable by a worktree's agent
    (wt / "train.py").write_text("lr = 0.3\n")
    repo.require_clean_base()
    assert repo.commit_all(wt, "more") is not None
    repo.archive_and_remove("h003")
    assert not marker.exists()


def test_hooks_planted_in_git_dirs_do_not_run(lab: Path, evil: Path, marker: Path) -> None:
    repo = LabRepo(lab)
    wt, head = _worker_commit(repo, "h004")
    admin = repo.common_dir / "worktrees" / "h004"
    for hooks in (repo.common_dir / "hooks", admin / "hooks"):
        hooks.mkdir(exist_ok=True)
        for name in (
            "post-index-change",
            "post-checkout",
            "pre-commit",
            "post-commit",
            "post-merge",
            "reference-transaction",
            "pre-auto-gc",
        ):
            (hooks / name).symlink_to(evil)
    (wt / "train.py").write_text("lr = 0.4\n")
    assert repo.commit_all(wt, "hooked?") is not None  # git add writes the index: post-index-change
    dest = repo.checkout_detached(head, lab.parent / "checkout")
    repo.remove_checkout(dest)
    repo.archive_and_remove("h004")
    assert not marker.exists()


def test_textconv_and_diff_drivers_do_not_run(lab: Path, evil: Path, marker: Path) -> None:
    repo = LabRepo(lab)
    base = repo.head_sha()
    _wt, head = _worker_commit(repo, "h005")
    sh(lab, "config", "diff.evil.textconv", str(evil))
    sh(lab, "config", "diff.evil.command", str(evil))
    (repo.common_dir / "info").mkdir(exist_ok=True)
    (repo.common_dir / "info" / "attributes").write_text("* diff=evil\n")
    assert repo.diff_stats(base, head).files == ["train.py"]
    assert "lr = 0.2" in repo.diff(base, head)
    assert repo.show_file(head, "train.py") == "lr = 0.2"
    assert not marker.exists()


def test_filter_drivers_do_not_run_on_checkout_or_verify(lab: Path, evil: Path, marker: Path) -> None:
    repo = LabRepo(lab)
    wt = repo.create_worktree("h006", repo.head_sha())
    (wt.path / ".gitattributes").write_text("*.py filter=evil\n")
    (wt.path / "train.py").write_text("lr = 0.6\n")
    sh(wt.path, "-c", "user.name=w", "-c", "user.email=w@w", "add", "-A")
    sh(wt.path, "-c", "user.name=w", "-c", "user.email=w@w", "commit", "-qm", "attributes")
    head = sh(wt.path, "rev-parse", "HEAD")
    sh(lab, "config", "filter.evil.smudge", str(evil))
    sh(lab, "config", "filter.evil.clean", str(evil))
    sh(lab, "config", "filter.evil.required", "true")
    dest = repo.checkout_detached(head, lab.parent / "measure")
    assert (dest / "train.py").read_text() == "lr = 0.6\n"
    assert repo.verify_checkout(dest, head, ["*.py"]) == []
    assert not marker.exists()


def test_include_path_is_refused(lab: Path, tmp_path: Path, evil: Path, marker: Path) -> None:
    included = tmp_path / "included.cfg"
    included.write_text(f"[core]\n\tfsmonitor = {evil}\n")
    sh(lab, "config", "include.path", str(included))
    with pytest.raises(GitStateError, match=r"sets include\.path: .* remove that line"):
        LabRepo(lab).require_clean_base()
    assert not marker.exists()


def test_include_in_a_worktree_config_is_refused(lab: Path, tmp_path: Path, evil: Path, marker: Path) -> None:
    repo = LabRepo(lab)
    wt, _ = _worker_commit(repo, "h007")
    included = tmp_path / "included.cfg"
    included.write_text(f"[core]\n\tfsmonitor = {evil}\n")
    sh(lab, "config", "extensions.worktreeConfig", "true")
    (repo.common_dir / "worktrees" / "h007" / "config.worktree").write_text(f"[include]\n\tpath = {included}\n")
    with pytest.raises(GitStateError, match="include"):
        repo.commit_all(wt, "x")
    assert not marker.exists()


def test_ssh_command_is_never_run(lab: Path, evil: Path, marker: Path) -> None:
    repo = LabRepo(lab)
    sh(lab, "config", "core.sshCommand", str(evil))
    status, _out, _err = repo._run("ls-remote", "ssh://example.invalid/repo.git")
    assert status != 0 and not marker.exists()


def test_inherited_git_dir_is_ignored(
    lab: Path, tmp_path: Path, evil: Path, marker: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = LabRepo(lab)
    other = tmp_path / "other"
    sh(tmp_path, "init", "-q", str(other))
    sh(other, "config", "core.fsmonitor", str(evil))
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    monkeypatch.setenv("GIT_WORK_TREE", str(other))
    assert repo.require_clean_base() == sh(lab, "--git-dir", str(lab / ".git"), "rev-parse", "HEAD")
    assert not marker.exists()


def test_merge_driver_named_by_gitattributes_does_not_run(lab: Path, evil: Path, marker: Path) -> None:
    """A candidate's .gitattributes names a merge driver the (agent-written) config defines: the
    console's merge must not run it; a conflict it would have 'resolved' stops the merge instead."""
    repo = LabRepo(lab)
    wt = repo.create_worktree("h008", repo.head_sha())
    (wt.path / ".gitattributes").write_text("*.py merge=evil\n")
    (wt.path / "train.py").write_text("lr = 0.8\n")
    sh(wt.path, "add", "-A")
    sh(wt.path, "-c", "user.name=w", "-c", "user.email=w@w", "commit", "-qm", "candidate")
    head = sh(wt.path, "rev-parse", "HEAD")
    (lab / "train.py").write_text("lr = 0.05\n")  # main moved on the same line: a conflict
    sh(lab, "-c", "user.name=o", "-c", "user.email=o@o", "commit", "-qam", "main moves")
    (lab / ".gitattributes").write_text("*.py merge=evil\n")  # in the checkout being merged into
    sh(lab, "config", "merge.evil.driver", f"{evil} %O %A %B")
    (repo.common_dir / "info").mkdir(exist_ok=True)
    (repo.common_dir / "info" / "exclude").write_text(".gitattributes\n.labconsole/\n")
    with pytest.raises(GitStateError, match="conflicts"):
        repo.merge("h008", head, "merge h008")
    with pytest.raises(GitStateError, match="conflicts"):
        repo.update_branch("h008", repo.head_sha())
    assert not marker.exists()
    assert repo.require_clean_base() == repo.head_sha()  # the aborted merges left main as it was


def test_a_candidate_naming_drivers_in_gitattributes_is_flagged(lab: Path) -> None:
    repo = LabRepo(lab)
    base = repo.head_sha()
    wt = repo.create_worktree("h009", base)
    (wt.path / ".gitattributes").write_text("# comment filter=x\n*.txt text\n")
    sh(wt.path, "add", "-A")
    sh(wt.path, "-c", "user.name=w", "-c", "user.email=w@w", "commit", "-qm", "harmless attributes")
    harmless = sh(wt.path, "rev-parse", "HEAD")
    assert repo.protected_changes(base, harmless, []) == []
    (wt.path / "sub").mkdir()
    (wt.path / "sub" / ".gitattributes").write_text("*.py filter=lfs\n")
    (wt.path / ".gitattributes").write_text("*.py merge=ours-custom\n")
    sh(wt.path, "add", "-A")
    sh(wt.path, "-c", "user.name=w", "-c", "user.email=w@w", "commit", "-qm", "drivers")
    flagged = sh(wt.path, "rev-parse", "HEAD")
    assert repo.protected_changes(base, flagged, []) == [".gitattributes", "sub/.gitattributes"]
    assert repo.protected_changes(base, flagged, ["train.py"]) == [".gitattributes", "sub/.gitattributes"]


def test_an_eval_workdir_whose_git_config_the_agent_wrote_runs_nothing(
    tmp_path: Path, evil: Path, marker: Path
) -> None:
    from labconsole.evals.workspace import changed_files, git

    workdir = tmp_path / "attempt"
    workdir.mkdir()
    (workdir / "a.py").write_text("x = 1\n")
    git(workdir, "init", "-q", "-b", "main")
    git(workdir, "add", "-A")
    git(workdir, "commit", "-q", "-m", "fixture")
    base = git(workdir, "rev-parse", "HEAD").strip()
    # The agent under test edits its workdir, .git/config included.
    sh(workdir, "config", "core.fsmonitor", str(evil))
    (workdir / "a.py").write_text("x = 2\n")
    assert changed_files(workdir, base) == ["a.py"]
    assert not marker.exists()
