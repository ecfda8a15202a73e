"""Issue 23 end to end: an autoresearch-shaped repository goes through init → check → run --headless (sweep)
→ review → merge → export, on CPU, with nothing but the commands a person types."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from byol.repo_fixture import commit_all, git

from labconsole.cli import main
from labconsole.core.config import load_config
from labconsole.events import kinds as K
from labconsole.events.log import read_events
from labconsole.lab import state as S
from labconsole.lab.session import final_state, list_sessions

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _no_uv(monkeypatch: pytest.MonkeyPatch) -> None:
    # `uv run` would build an environment; the tests run train.py with this interpreter.
    monkeypatch.setattr("labconsole.lab.preflight_init._has_uv", lambda: False)


def _init(repo: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["init", str(repo)]) == 0
    return capsys.readouterr().out


def test_init_check_run_review_merge_export(autoresearch_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = autoresearch_repo
    out = _init(repo, capsys)
    assert "an autoresearch-shaped repository" in out and "still to decide" in out
    text = (repo / "lab.toml").read_text()
    for line in (
        'command = "python train.py"',
        r"metric = 'regex:^val_bpb:\s*([0-9.]+)'",
        'direction = "minimize"',
        '"prepare.py"',
        'editable = ["train.py"]',
        'read_paths = ["~/.cache/autoresearch"]',
        'instructions = "program.md"',
        "timeout_s = 62",
    ):
        assert line in text, line
    config = load_config(repo / "lab.toml")  # what init wrote loads as it is
    assert {p.name for p in config.search.params} == {"SMOOTHING", "BIGRAM_WEIGHT"}
    assert config.objective.editable == ("train.py",)
    assert config.objective.read_paths == ("~/.cache/autoresearch",)
    # A run is short here: two hypotheses, one pair each.
    (repo / "lab.toml").write_text(re.sub(r"(?m)^budget = 8", "budget = 2", text))
    commit_all(repo, "lab.toml")
    assert (repo / "results.tsv").exists()  # untracked, as in autoresearch, and init keeps it out of git status

    assert main(["check", "--lab", str(repo)]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if not line.startswith("       |")]
    assert all(line.startswith("ok   ") for line in lines[:-1]), out
    assert re.search(r"^ok   baseline run: val_bpb = [0-9.]+ in [0-9.]+ s on [0-9a-f]{12}$", out, re.MULTILINE), out
    assert "       | val_bpb:" in out

    assert main(["run", "--headless", "--lab", str(repo), "--timeout", "150"]) == 0
    out = capsys.readouterr().out
    session_dir = list_sessions(repo)[-1]
    state, _ = final_state(session_dir)
    # The baseline was measured before any agent started, and is in the log like any run.
    kinds = [e.kind for e in read_events(session_dir)]
    first_run, first_agent = kinds.index(K.RUN_FINISHED), kinds.index(K.AGENT_STARTED)
    assert first_run < first_agent
    waiting = [h for h in state.leaderboard() if h.status == S.AWAITING_HUMAN]
    assert waiting, out
    best, rest = waiting[0], waiting[1:]

    assert main(["review", "approve", best.hyp_id, "--lab", str(repo), "--yes", "--reason", "byol", "--who", "t"]) == 0
    assert main(["merge", best.hyp_id, "--lab", str(repo), "--who", "t"]) == 0
    for h in rest:
        assert main(["review", "reject", h.hyp_id, "--lab", str(repo), "--reason", "byol", "--who", "t"]) == 0
    assert git(repo, "log", "-1", "--format=%s").startswith(f"Merge {best.hyp_id}")
    capsys.readouterr()

    out_file = repo / "exported.tsv"
    assert main(["export", "--format", "autoresearch-tsv", "--lab", str(repo), "--out", str(out_file)]) == 0
    rows = list(csv.DictReader(io.StringIO(out_file.read_text()), delimiter="\t"))
    assert list(rows[0]) == ["commit", "val_bpb", "memory_gb", "status", "description"]
    assert rows[0]["description"] == "baseline" and rows[0]["status"] == "keep"
    by_commit = {r["commit"]: r for r in rows[1:]}
    merged = by_commit[str(best.sha)[:7]]
    assert merged["status"] == "keep" and float(merged["val_bpb"]) == pytest.approx(
        best.evidence["candidate_median"], abs=1e-6
    )
    assert {by_commit[str(h.sha)[:7]]["status"] for h in rest} <= {"discard"}
    assert all(float(r["memory_gb"]) == 0.0 for r in rows)  # no GPU here: nothing measured
    # ... but every run that finished said so through its summary block's `peak_vram_mb: 0.0` line.
    finished = [e.data for e in read_events(session_dir) if e.kind == K.RUN_FINISHED and e.data["status"] == "ok"]
    assert finished and all(d["peak_gpu_mem_mb"] == 0.0 and d["peak_gpu_mem_from"] == "output" for d in finished)


def test_imported_results_tsv_is_history_the_planner_dedupes_against(
    autoresearch_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = autoresearch_repo
    _init(repo, capsys)
    commit_all(repo, "lab.toml")
    assert main(["import-results", str(repo / "results.tsv"), "--lab", str(repo)]) == 0
    imported = list_sessions(repo)[-1]
    state, _ = final_state(imported)
    titles = {h.title: h for h in state.hypotheses.values()}
    assert set(titles) == {
        "baseline",
        "Set SMOOTHING to 0.1",
        "Set BIGRAM_WEIGHT to 0.2",
        "deeper n-gram (index error)",
    }
    assert titles["Set SMOOTHING to 0.1"].params == {"SMOOTHING": 0.1}
    assert titles["deeper n-gram (index error)"].status == S.FAILED

    from labconsole.core.dedupe import find_duplicate
    from labconsole.lab.orchestrator.scheduling import Scheduler

    earlier = Scheduler._earlier_sessions(_SchedulerView(repo))  # what a new session's planner compares against
    match = find_duplicate("Set SMOOTHING to 0.1", {"SMOOTHING": 0.1}, earlier)
    assert match is not None and match.of == titles["Set SMOOTHING to 0.1"].hyp_id


class _SchedulerView:
    """Just what Scheduler._earlier_sessions reads: the lab's root and the current session's name."""

    def __init__(self, repo: Path) -> None:
        self._earlier = None
        self.lab = type(
            "L", (), {"repo": type("R", (), {"root": repo})(), "session_dir": repo / "sessions" / "not-yet"}
        )()


def test_import_refuses_a_malformed_tsv_with_its_line(
    autoresearch_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = autoresearch_repo
    _init(repo, capsys)
    bad = repo / "bad.tsv"
    bad.write_text("commit\tval_bpb\tmemory_gb\tstatus\tdescription\nabc\t1.0\t0.0\tmaybe\tx\n")
    assert main(["import-results", str(bad), "--lab", str(repo)]) != 0
    assert "bad.tsv:2: status 'maybe'; allowed: keep, discard, crash" in capsys.readouterr().err
    assert list_sessions(repo) == []


def test_init_never_overwrites_and_needs_git(
    tmp_path: Path, autoresearch_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (autoresearch_repo / "lab.toml").write_text("# mine\n")
    assert main(["init", str(autoresearch_repo)]) != 0
    assert "never overwrites" in capsys.readouterr().err
    assert (autoresearch_repo / "lab.toml").read_text() == "# mine\n"
    plain = tmp_path / "plain"
    plain.mkdir()
    assert main(["init", str(plain)]) != 0
    assert "not a git repository" in capsys.readouterr().err


def test_init_uses_uv_when_there(
    autoresearch_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("labconsole.lab.preflight_init._has_uv", lambda: True)
    _init(autoresearch_repo, capsys)
    assert 'command = "uv run train.py"' in (autoresearch_repo / "lab.toml").read_text()


def test_init_plain_script_and_template(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plain = tmp_path / "bench"
    plain.mkdir()
    (plain / "bench.py").write_text("BLOCK = 128\nprint(f'tflops: {1.0}')\n")
    git(plain, "init", "-q")
    commit_all(plain, "bench")
    out = _init(plain, capsys)
    text = (plain / "lab.toml").read_text()
    assert 'command = "python bench.py"' in text and 'direction = "maximize"' in text and "tflops" in text
    assert "BLOCK = " in text and "a guess" in out
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q")
    git(empty, "commit", "-q", "--allow-empty", "-m", "empty")
    out = _init(empty, capsys)
    assert "[objective] command" in out  # the template says what to decide


def test_check_names_a_missing_gpu_and_does_not_run_the_baseline_without_one(
    autoresearch_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from labconsole.gpu.leases import detect_gpu_count

    if detect_gpu_count()[0]:
        pytest.skip("this machine has a GPU")
    repo = autoresearch_repo
    _init(repo, capsys)
    toml = repo / "lab.toml"
    toml.write_text(toml.read_text().replace("gpus_per_run = 0", "gpus_per_run = 1"))
    commit_all(repo, "lab.toml")
    assert main(["check", "--lab", str(repo)]) == 1
    out = capsys.readouterr().out
    assert re.search(r"^FAIL GPU: lab.toml asks for 1 GPU per run .* but this machine has none", out, re.M), out
    assert "FAIL baseline run: not run: no GPU to lease — fix 'GPU' above, then check again" in out
