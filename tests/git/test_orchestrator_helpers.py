"""Git helpers the orchestrator uses: leftovers of a dead worker, branch update onto main, numbering, show_file."""

from __future__ import annotations

from pathlib import Path

import pytest
from gitrepo_util import sh, write

from labconsole.errors import GitStateError
from labconsole.lab.gitops import LabRepo


def test_leftovers_are_archived_and_the_worktree_cleaned(lab: Path) -> None:
    repo = LabRepo(lab)
    base = repo.head_sha()
    wt = repo.create_worktree("h001", base)
    assert repo.set_aside_leftovers("h001") is None  # clean: nothing to do
    write(wt.path / "train.py", "lr = 0.5  # half done\nepochs = 3\n")
    write(wt.path / "notes.txt", "scratch\n")
    ref = repo.set_aside_leftovers("h001")
    assert ref and ref.startswith("refs/labconsole/archive/h001/leftover-")
    assert (wt.path / "train.py").read_text() == "lr = 0.1\nepochs = 3\n" and not (wt.path / "notes.txt").exists()
    assert repo.branch_head("lab/h001") == base  # the branch itself did not move
    saved = sh(lab, "show", f"{ref}:train.py")
    assert "lr = 0.5  # half done" in saved and sh(lab, "show", f"{ref}:notes.txt") == "scratch"


def test_update_branch_brings_a_candidate_onto_main(lab: Path) -> None:
    repo = LabRepo(lab)
    base = repo.head_sha()
    wt = repo.create_worktree("h002", base)
    write(wt.path / "train.py", "lr = 0.2\nepochs = 3\n")
    repo.commit_all(wt.path, "lr 0.2")
    write(lab / "README.md", "main moved\n")
    sh(lab, "add", "-A")
    sh(lab, "commit", "-q", "-m", "main moved")
    main = repo.head_sha()
    new = repo.update_branch("h002", main)
    assert repo.is_ancestor(main, new) and (wt.path / "README.md").exists()
    assert repo.show_file(new, "train.py") == "lr = 0.2\nepochs = 3"
    # a conflicting main aborts cleanly and says so
    wt3 = repo.create_worktree("h003", base)
    write(wt3.path / "train.py", "lr = 0.3\nepochs = 3\n")
    repo.commit_all(wt3.path, "lr 0.3")
    write(lab / "train.py", "lr = 0.9\nepochs = 3\n")
    sh(lab, "commit", "-qam", "main changes lr")
    with pytest.raises(GitStateError, match="h003 conflicts with main in train.py"):
        repo.update_branch("h003", repo.head_sha())
    assert sh(wt3.path, "status", "--porcelain") == ""  # the aborted merge left nothing behind


def test_hypothesis_numbers_come_from_branches_and_archives(lab: Path) -> None:
    repo = LabRepo(lab)
    assert repo.max_hypothesis_number() == 0
    repo.create_worktree("h004", repo.head_sha())
    wt = repo.create_worktree("h012", repo.head_sha())
    write(wt.path / "x.txt", "x\n")
    repo.commit_all(wt.path, "x")
    repo.archive_and_remove("h012")  # unmerged: archived, branch gone
    assert repo.max_hypothesis_number() == 12
