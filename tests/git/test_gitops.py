"""The git layer against real repositories: refusals, worktrees, diffs, protection, merge, archive."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest
from gitrepo_util import PROTECTED, sh, write

from labconsole.errors import GitStateError
from labconsole.lab.gitops import DiffStats, LabRepo, Worktree, matches_glob


# ---------------------------------------------------------------- refusals


def test_not_a_repository(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(GitStateError, match=r"is not a git repository: run `git init` and commit your lab"):
        LabRepo(plain)


def test_repository_without_commits(tmp_path: Path) -> None:
    root = tmp_path / "empty"
    root.mkdir()
    sh(root, "init", "-q")
    with pytest.raises(GitStateError, match="has no commits"):
        LabRepo(root)


def test_git_missing(lab: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    monkeypatch.setenv("PATH", str(empty_bin))
    with pytest.raises(GitStateError, match="git not found on PATH: install git"):
        LabRepo(lab)


def test_subdirectory_is_refused(lab: Path) -> None:
    with pytest.raises(GitStateError, match="not its root"):
        LabRepo(lab / "bench")


def test_dirty_tree_refused_naming_paths(lab: Path) -> None:
    repo = LabRepo(lab)
    write(lab / "train.py", "lr = 0.2\n")
    write(lab / "notes.txt", "untracked\n")
    with pytest.raises(GitStateError) as exc:
        repo.require_clean_base()
    msg = str(exc.value)
    assert "train.py" in msg and "notes.txt" in msg and "commit or stash them" in msg


def test_dirty_message_caps_at_five_paths(lab: Path) -> None:
    repo = LabRepo(lab)
    for i in range(8):
        write(lab / f"new{i}.txt", "x")
    with pytest.raises(GitStateError, match=r"\(\+3 more\)"):
        repo.require_clean_base()


def test_detached_head_refused(lab: Path) -> None:
    sh(lab, "checkout", "-q", "--detach")
    repo = LabRepo(lab)
    with pytest.raises(GitStateError, match="is on a detached HEAD: check out a branch"):
        repo.require_clean_base()


def test_clean_base_and_ignores(lab: Path) -> None:
    repo = LabRepo(lab)
    assert repo.main_branch == "main"
    assert repo.root == lab.resolve()
    repo.ensure_ignored(["sessions/", ".labconsole/"])
    repo.ensure_ignored(["sessions/"])
    exclude = (lab / ".git" / "info" / "exclude").read_text().splitlines()
    assert exclude.count("sessions/") == 1 and exclude.count(".labconsole/") == 1
    write(lab / "sessions" / "s1" / "events.jsonl", "{}\n")
    write(lab / ".labconsole" / "state", "x")
    assert repo.require_clean_base() == sh(lab, "rev-parse", "HEAD")
    assert repo.head_sha() == repo.head_sha("main") == repo.branch_head("main")
    assert repo.branch_head("lab/nope") is None
    with pytest.raises(GitStateError, match="unknown commit"):
        repo.head_sha("no-such-ref")


# ---------------------------------------------------------------- worktrees and commits


def test_create_commit_diff_and_stats(lab: Path) -> None:
    repo = LabRepo(lab)
    base = repo.require_clean_base()
    wt = repo.create_worktree("h1", base)
    assert wt == Worktree("h1", lab.resolve() / ".labconsole" / "worktrees" / "h1", "lab/h1", base)
    assert repo.require_clean_base() == base  # the worktree inside root does not dirty it
    assert repo.commit_all(wt.path, "nothing") is None

    write(wt.path / "train.py", "lr = 0.05\nepochs = 3\nwarmup = 1\n")
    write(wt.path / "model.py", "x = 1\n")
    sha = repo.commit_all(wt.path, "lower lr")
    assert sha is not None and repo.branch_head("lab/h1") == sha
    assert sh(lab, "log", "-1", "--format=%an <%ae>|%cn", sha) == "LabConsole agent <agent@labconsole>|Lab Owner"
    assert repo.is_ancestor(base, sha) and not repo.is_ancestor(sha, base)

    text = repo.diff(base, sha)
    assert "--- a/train.py" in text and "+lr = 0.05" in text and "+++ b/model.py" in text
    assert text.endswith("\n")
    assert repo.diff_stats(base, sha) == DiffStats(files=["model.py", "train.py"], additions=3, deletions=1)
    assert repo.protected_changes(base, sha, PROTECTED) == []
    assert [w.hyp_id for w in repo.list_lab_worktrees()] == ["h1"]
    assert repo.list_lab_worktrees()[0].base_sha == base


def test_worktree_reused_not_reset_after_crash(lab: Path) -> None:
    repo = LabRepo(lab)
    base = repo.require_clean_base()
    wt = repo.create_worktree("h2", base)
    write(wt.path / "train.py", "lr = 1\n")
    sha = repo.commit_all(wt.path, "work")
    # Same call again (console restarted): same worktree, commits kept.
    again = repo.create_worktree("h2", base)
    assert again.path == wt.path and repo.branch_head("lab/h2") == sha
    # The worktree directory vanished (crash mid-cleanup): branch is re-checked out, not reset.
    sh(lab, "worktree", "remove", "--force", str(wt.path))
    again = LabRepo(lab).create_worktree("h2", base)
    assert again.path.is_dir() and repo.branch_head("lab/h2") == sha
    assert (again.path / "train.py").read_text() == "lr = 1\n"


def test_existing_branch_from_other_base_refused(lab: Path) -> None:
    repo = LabRepo(lab)
    first = repo.require_clean_base()
    sh(lab, "branch", "lab/h3", first)
    write(lab / "train.py", "lr = 0.3\n")
    sh(lab, "commit", "-qam", "main moves")
    sh(lab, "branch", "-f", "lab/h3", first)
    write(lab / "other.txt", "x")
    sh(lab, "add", "other.txt")
    sh(lab, "commit", "-qm", "more")
    side = sh(lab, "commit-tree", "-p", first, "-m", "side", sh(lab, "rev-parse", "HEAD^{tree}"))
    sh(lab, "branch", "-f", "lab/h3", side)
    with pytest.raises(GitStateError, match="does not descend from base"):
        repo.create_worktree("h3", repo.head_sha())


@pytest.mark.parametrize("bad", ["", "a/b", "../x", "x..y", "-x", "x.lock", "has space", "x."])
def test_invalid_hypothesis_ids(lab: Path, bad: str) -> None:
    repo = LabRepo(lab)
    with pytest.raises(GitStateError, match="invalid hypothesis id"):
        repo.create_worktree(bad, repo.head_sha())


def test_commit_all_refuses_detached_and_clears_stale_lock(lab: Path) -> None:
    repo = LabRepo(lab)
    wt = repo.create_worktree("lk", repo.head_sha())
    lock = Path(sh(wt.path, "rev-parse", "--path-format=absolute", "--git-dir")) / "index.lock"
    lock.write_text("")  # an agent killed -9 in the middle of `git add`
    os.utime(lock, (0, 0))
    write(wt.path / "train.py", "lr = 2\n")
    assert repo.commit_all(wt.path, "after crash") is not None
    assert not lock.exists()
    sh(wt.path, "checkout", "-q", "--detach")
    write(wt.path / "train.py", "lr = 3\n")
    with pytest.raises(GitStateError, match="detached HEAD"):
        repo.commit_all(wt.path, "lost?")


def test_commit_all_rejects_foreign_or_missing_directory(lab: Path, tmp_path: Path) -> None:
    repo = LabRepo(lab)
    with pytest.raises(GitStateError, match="is not a worktree of"):
        repo.commit_all(tmp_path, "x")
    with pytest.raises(GitStateError, match="is not a worktree of"):
        repo.commit_all(tmp_path / "missing", "x")


def test_default_identity_without_any_config(tmp_path: Path) -> None:
    root = tmp_path / "anon"
    root.mkdir()
    sh(root, "init", "-q", "-b", "master")
    write(root / "f.txt", "1")
    sh(root, "add", "f.txt")
    sh(root, "-c", "user.name=x", "-c", "user.email=x@y", "commit", "-qm", "init")
    repo = LabRepo(root)
    assert repo.main_branch == "master"
    wt = repo.create_worktree("h", repo.require_clean_base())
    write(wt.path / "f.txt", "2")
    sha = repo.commit_all(wt.path, "c")
    assert sh(root, "log", "-1", "--format=%cn <%ce>", sha) == "LabConsole <labconsole@localhost>"
    merged = repo.merge("h", sha, "merge h")
    assert sh(root, "log", "-1", "--format=%an", merged) == "LabConsole"


# ---------------------------------------------------------------- protected files


def test_glob_matching() -> None:
    assert matches_glob("prepare.py", "prepare.py")
    assert not matches_glob("src/prepare.py", "prepare.py")
    assert matches_glob("src/prepare.py", "**/prepare.py") and matches_glob("prepare.py", "**/prepare.py")
    assert matches_glob("bench/a/b/c.txt", "bench/**") and matches_glob("bench/x", "bench/")
    assert not matches_glob("benchmark/x", "bench/**")
    assert matches_glob("data/x.csv", "data/*.csv") and not matches_glob("data/sub/x.csv", "data/*.csv")
    assert matches_glob("a/x/y/b.txt", "a/**/b.txt") and matches_glob("a/b.txt", "a/**/b.txt")


def test_protected_changes_modify_add_delete(lab: Path) -> None:
    repo = LabRepo(lab)
    base = repo.require_clean_base()
    wt = repo.create_worktree("g", base)
    write(wt.path / "prepare.py", "def evaluate():\n    return 0.0\n")
    write(wt.path / "bench" / "suite" / "new.txt", "easy\n")
    os.remove(wt.path / "data" / "corpus.txt")
    write(wt.path / "train.py", "lr = 9\n")
    sha = repo.commit_all(wt.path, "game the metric")
    assert sha is not None
    assert repo.protected_changes(base, sha, PROTECTED) == [
        "bench/suite/new.txt",
        "data/corpus.txt",
        "prepare.py",
    ]
    assert repo.protected_changes(base, sha, ["train.py"]) == ["train.py"]
    assert repo.protected_changes(base, sha, []) == []
    # Mode-only change (executable bit) on a protected file is a change too.
    os.chmod(wt.path / "prepare.py", 0o755)
    sha2 = repo.commit_all(wt.path, "chmod")
    assert sha2 is not None and repo.protected_changes(sha, sha2, PROTECTED) == ["prepare.py"]


# ---------------------------------------------------------------- measurement checkouts


def test_checkout_detached_and_verify(lab: Path, tmp_path: Path) -> None:
    repo = LabRepo(lab)
    base = repo.require_clean_base()
    wt = repo.create_worktree("m", base)
    write(wt.path / "train.py", "lr = 0.01\n")
    sha = repo.commit_all(wt.path, "candidate")
    assert sha is not None

    dest = repo.checkout_detached(sha, tmp_path / "runs" / "r1")
    assert sh(dest, "rev-parse", "HEAD") == sha
    assert (dest / "train.py").read_text() == "lr = 0.01\n"
    assert repo.verify_checkout(dest, sha, PROTECTED) == []
    # Outputs of a run outside protected globs are fine.
    write(dest / "out" / "metrics.json", "{}")
    assert repo.verify_checkout(dest, sha, PROTECTED) == []

    # A run that rewrites its evaluator, keeping size and mtime (git's stat cache would miss it).
    target = dest / "prepare.py"
    st = target.stat()
    original = target.read_text()
    target.write_text(original.replace("1.0", "9.9"))
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    write(dest / "bench" / "extra.txt", "x")
    os.remove(dest / "data" / "corpus.txt")
    assert repo.verify_checkout(dest, sha, PROTECTED) == ["bench/extra.txt", "data/corpus.txt", "prepare.py"]

    # Re-checkout at the same place gives a fresh, clean tree.
    dest = repo.checkout_detached(sha, dest)
    assert repo.verify_checkout(dest, sha, PROTECTED) == []
    assert not (dest / "out").exists()
    repo.remove_checkout(dest)
    assert not dest.exists()
    repo.remove_checkout(dest)  # idempotent
    assert sh(lab, "worktree", "list").count("\n") == 1  # root + lab/m only


def test_verify_checkout_catches_commit_inside_run(lab: Path, tmp_path: Path) -> None:
    repo = LabRepo(lab)
    base = repo.require_clean_base()
    dest = repo.checkout_detached(base, tmp_path / "run")
    write(dest / "bench" / "sneaky.txt", "x")
    sh(dest, "add", "-A")
    sh(dest, "commit", "-qm", "sneak")
    assert repo.verify_checkout(dest, base, PROTECTED) == ["bench/sneaky.txt"]


def test_checkout_recovers_from_dead_console(lab: Path, tmp_path: Path) -> None:
    repo = LabRepo(lab)
    base = repo.head_sha()
    dest = repo.checkout_detached(base, tmp_path / "runs" / "r9")
    write(dest / "out.log", "partial")
    # Console killed mid-run, then the checkout's admin dir lost: registration is gone, files remain.
    admin = Path(sh(dest, "rev-parse", "--path-format=absolute", "--git-dir"))
    shutil.rmtree(admin)
    assert dest.exists()
    dest = repo.checkout_detached(base, dest)
    assert not (dest / "out.log").exists() and sh(dest, "rev-parse", "HEAD") == base
    # A registered but locked checkout (killed during `worktree add`) is removed too.
    sh(lab, "worktree", "lock", str(dest))
    repo.remove_checkout(dest)
    assert not dest.exists()
    # A foreign non-empty directory is never deleted.
    other = write(tmp_path / "mine" / "keep.txt", "x").parent
    with pytest.raises(GitStateError, match="is not a checkout of"):
        repo.checkout_detached(base, other)
    repo.remove_checkout(other)
    assert (other / "keep.txt").exists()


def test_remove_checkout_refuses_branch_worktree(lab: Path) -> None:
    repo = LabRepo(lab)
    wt = repo.create_worktree("keep", repo.head_sha())
    with pytest.raises(GitStateError, match="use archive_and_remove"):
        repo.remove_checkout(wt.path)
    assert wt.path.is_dir()


# ---------------------------------------------------------------- merge


def _candidate(repo: LabRepo, hyp: str, files: dict[str, str]) -> str:
    wt = repo.create_worktree(hyp, repo.head_sha())
    for name, text in files.items():
        write(wt.path / name, text)
    sha = repo.commit_all(wt.path, f"{hyp} change")
    assert sha is not None
    return sha


def test_merge_happy_path(lab: Path) -> None:
    repo = LabRepo(lab)
    before = repo.require_clean_base()
    sha = _candidate(repo, "win", {"train.py": "lr = 0.02\n"})
    merged = repo.merge("win", sha, "Merge lab/win (approved)")
    assert sh(lab, "rev-parse", "HEAD") == merged
    assert sh(lab, "rev-list", "--parents", "-n", "1", merged).split()[1:] == [before, sha]
    assert sh(lab, "log", "-1", "--format=%s", merged) == "Merge lab/win (approved)"
    assert (lab / "train.py").read_text() == "lr = 0.02\n"
    assert repo.require_clean_base() == merged
    with pytest.raises(GitStateError, match="already merged"):
        repo.merge("win", sha, "again")


def test_merge_refused_when_branch_moved_after_approval(lab: Path) -> None:
    repo = LabRepo(lab)
    before = repo.head_sha()
    approved = _candidate(repo, "moved", {"train.py": "lr = 0.02\n"})
    wt = repo.worktree_path("moved")
    write(wt / "train.py", "lr = 0.5\n")
    now = repo.commit_all(wt, "sneaky follow-up")
    assert now is not None
    with pytest.raises(GitStateError) as exc:
        repo.merge("moved", approved, "m")
    assert str(exc.value) == f"branch moved after approval: approved {approved[:12]}, now {now[:12]}; re-review"
    assert repo.head_sha() == before


def test_merge_refused_when_dirty_or_off_main(lab: Path) -> None:
    repo = LabRepo(lab)
    sha = _candidate(repo, "x", {"train.py": "lr = 0.02\n"})
    write(lab / "scratch.txt", "x")
    with pytest.raises(GitStateError, match="commit or stash them"):
        repo.merge("x", sha, "m")
    os.remove(lab / "scratch.txt")
    sh(lab, "checkout", "-q", "-b", "other")
    with pytest.raises(GitStateError, match="is on other, not main"):
        repo.merge("x", sha, "m")
    with pytest.raises(GitStateError, match="does not exist"):
        repo.merge("nope", sha, "m")


def test_merge_conflict_aborts_cleanly(lab: Path) -> None:
    repo = LabRepo(lab)
    sha = _candidate(repo, "c", {"train.py": "lr = 0.7\n", "prepare.py": "x = 1\n"})
    write(lab / "train.py", "lr = 0.9\n")
    write(lab / "prepare.py", "x = 2\n")
    sh(lab, "commit", "-qam", "main diverges")
    head = repo.head_sha()
    with pytest.raises(GitStateError, match=r"conflicts in prepare.py, train.py: rebase") as exc:
        repo.merge("c", sha, "m")
    assert "merge aborted" in str(exc.value)
    assert repo.head_sha() == head
    assert not (lab / ".git" / "MERGE_HEAD").exists()
    assert repo.require_clean_base() == head
    assert (lab / "train.py").read_text() == "lr = 0.9\n"


# ---------------------------------------------------------------- cleanup


def test_archive_keeps_unmerged_commits(lab: Path) -> None:
    repo = LabRepo(lab)
    sha = _candidate(repo, "lose", {"train.py": "lr = 3\n"})
    path = repo.worktree_path("lose")
    ref = repo.archive_and_remove("lose")
    assert ref is not None and ref.startswith("refs/labconsole/archive/lose/")
    assert sh(lab, "rev-parse", ref) == sha
    assert repo.archived_refs() == [(ref, sha)]
    assert not path.exists()
    assert repo.branch_head("lab/lose") is None
    assert repo.list_lab_worktrees() == []
    assert repo.archive_and_remove("lose") is None  # idempotent
    # A second archive of the same id never overwrites the first.
    sha2 = _candidate(repo, "lose", {"train.py": "lr = 4\n"})
    ref2 = repo.archive_and_remove("lose")
    assert ref2 is not None and ref2 != ref
    assert dict(repo.archived_refs()) == {ref: sha, ref2: sha2}


def test_archive_saves_uncommitted_and_detached_work(lab: Path) -> None:
    repo = LabRepo(lab)
    sha = _candidate(repo, "wip", {"train.py": "lr = 5\n"})
    path = repo.worktree_path("wip")
    # The agent detached its HEAD, committed there, and left an uncommitted edit.
    sh(path, "checkout", "-q", "--detach")
    write(path / "model.py", "m = 1\n")
    sh(path, "add", "model.py")
    sh(path, "-c", "user.name=a", "-c", "user.email=a@b", "commit", "-qm", "detached work")
    write(path / "notes.md", "half done\n")
    ref = repo.archive_and_remove("wip")
    assert ref is not None and sh(lab, "rev-parse", ref) == sha
    shas = [s for _, s in repo.archived_refs()]
    assert len(shas) == 2
    detached = next(s for s in shas if s != sha)
    assert sh(lab, "show", f"{detached}:notes.md") == "half done"
    assert sh(lab, "show", f"{detached}:model.py") == "m = 1"
    assert not path.exists()


def test_merged_branch_cleanup_archives_nothing(lab: Path) -> None:
    repo = LabRepo(lab)
    sha = _candidate(repo, "done", {"train.py": "lr = 0.02\n"})
    repo.merge("done", sha, "merge")
    assert repo.archive_and_remove("done") is None
    assert repo.archived_refs() == []
    assert repo.branch_head("lab/done") is None
    assert not repo.worktree_path("done").exists()
    # Untouched branch (no commits beyond base) archives nothing either.
    repo.create_worktree("idle", repo.head_sha())
    assert repo.archive_and_remove("idle") is None


# ---------------------------------------------------------------- concurrency


def test_threads_create_and_commit_concurrently(lab: Path) -> None:
    repo = LabRepo(lab)
    other = LabRepo(lab)  # a second handle on the same repo shares the lock
    base = repo.require_clean_base()
    errors: list[BaseException] = []
    shas: dict[str, str] = {}

    def work(r: LabRepo, hyp: str) -> None:
        try:
            wt = r.create_worktree(hyp, base)
            write(wt.path / "train.py", f"lr = '{hyp}'\n")
            sha = r.commit_all(wt.path, hyp)
            assert sha is not None
            shas[hyp] = sha
            dest = r.checkout_detached(sha, wt.path.parent.parent / "runs" / hyp)
            assert r.verify_checkout(dest, sha, PROTECTED) == []
            r.remove_checkout(dest)
        except BaseException as e:  # surfaced below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(repo if i % 2 else other, f"t{i}")) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(w.hyp_id for w in repo.list_lab_worktrees()) == [f"t{i}" for i in range(6)]
    for hyp, sha in shas.items():
        assert repo.branch_head(f"lab/{hyp}") == sha
    assert repo.require_clean_base() == base
