"""The eval runner with an in-process executor: matrix, concurrency limit, resume, GPU not-run, outputs."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from evals.conftest import write_suite
from evals.fake_agent import MARKER
from labconsole.cli import main
from labconsole.core.usage import Usage
from labconsole.errors import LabError
from labconsole.evals import (
    AgentOutcome,
    EvalConfig,
    EvalRunner,
    ModelSpec,
    list_eval_runs,
    load_cases,
    load_results,
)
from labconsole.evals.report import table, to_csv, to_json
from labconsole.evals.results import ATTEMPT_FINISHED, ATTEMPT_STARTED, EVAL_FINISHED, EVAL_STARTED
from labconsole.events.audit import verify_session
from labconsole.events.log import read_events
from labconsole.skills import load_skill


class CountingExecutor:
    """Writes the answer (42 only when the skill is on), counting attempts in flight."""

    def __init__(self, delay: float = 0.0, expect_parallel: int = 0) -> None:
        self.delay = delay
        self.lock = threading.Lock()
        self.inflight = self.max_inflight = self.calls = 0
        # With expect_parallel=K the first attempts wait (up to 5 s) until K run at once, so a pool
        # that honours the limit reaches it deterministically even on a loaded machine.
        self.expect_parallel = expect_parallel
        self.reached = threading.Event()

    def run(self, req):
        with self.lock:
            self.inflight += 1
            self.calls += 1
            self.max_inflight = max(self.max_inflight, self.inflight)
            if self.inflight >= self.expect_parallel:
                self.reached.set()
        try:
            if self.expect_parallel:
                self.reached.wait(5)
            time.sleep(self.delay)
            (req.workdir / "answer.txt").write_text("42\n" if req.with_skill else "41\n")
            req.transcript.parent.mkdir(parents=True, exist_ok=True)
            req.transcript.write_text(json.dumps({"skill_seen": req.with_skill}) + "\n")
            usage = Usage(
                input_tokens=100,
                output_tokens=10,
                cost_usd=0.01,
                tool_calls=2,
                repair_attempts=1 if req.with_skill else 0,
            )
            return AgentOutcome(ok=True, usage=usage, wall_s=self.delay)
        finally:
            with self.lock:
                self.inflight -= 1


def config(root: Path, out: Path, **kw) -> EvalConfig:
    skills, evals = root / "skills", root / "evals"
    return EvalConfig(
        skill=load_skill(skills / "answer-skill"),
        cases=load_cases(evals, "answer-skill"),
        models=[ModelSpec.parse("fake:a"), ModelSpec.parse("fake:b@http://127.0.0.1:1/v1")],
        out_dir=out,
        trackio=False,
        **kw,
    )


def test_matrix_concurrency_and_lift(tmp_path):
    write_suite(tmp_path)
    ex = CountingExecutor(delay=0.01, expect_parallel=3)
    cfg = config(tmp_path, tmp_path / "out", repeats=3, concurrency=3)
    report = EvalRunner(cfg, ex).run()
    assert report.planned == report.ran == 2 * 2 * 2 * 3 == ex.calls
    assert ex.max_inflight == 3, "the pool must use, and never exceed, the concurrency limit"
    res = report.results
    assert len(res.records) == 24 and res.finished
    for s in res.summaries:
        assert s.with_skill.pass_rate == 1.0 and s.without_skill.pass_rate == 0.0 and s.lift == 1.0
        assert s.with_skill.ci_low > 0.6 and s.without_skill.ci_high < 0.4  # Wilson, n=6
        assert s.with_skill.cost_per_pass == pytest.approx(0.01) and s.without_skill.cost_per_pass is None
        assert s.with_skill.repair_attempts == 6
    failed = next(r for r in res.records if not r.with_skill)
    assert {c.name: c.status for c in failed.checks} == {
        "protected-files": "pass",
        "scope": "pass",
        "answer": "fail",
        "number": "fail",
    }
    ok = next(r for r in res.records if r.with_skill)
    assert (cfg.out_dir / ok.transcript).is_file() and len(ok.transcript_sha256) == 64
    # Session events: one started + one result per attempt, a valid hash chain.
    kinds = [e.kind for e in read_events(cfg.out_dir)]
    assert kinds[0] == EVAL_STARTED and kinds[-1] == EVAL_FINISHED
    assert kinds.count(ATTEMPT_STARTED) == kinds.count(ATTEMPT_FINISHED) == 24
    assert verify_session(cfg.out_dir).ok
    # Renderings.
    assert "+100%" in table(res)
    assert to_csv(res).count("\n") == 25
    assert len(json.loads(to_json(res))["attempts"]) == 24


def test_concurrency_one_is_serial(tmp_path):
    write_suite(tmp_path)
    ex = CountingExecutor(delay=0.02)
    EvalRunner(config(tmp_path, tmp_path / "out", concurrency=1), ex).run()
    assert ex.max_inflight == 1 and ex.calls == 8


def test_resume_skips_completed_and_refuses_to_mix(tmp_path):
    write_suite(tmp_path)
    out = tmp_path / "out"
    EvalRunner(config(tmp_path, out, concurrency=2), CountingExecutor(0)).run()
    with pytest.raises(LabError, match="--resume"):
        EvalRunner(config(tmp_path, out), CountingExecutor(0)).run()
    again = CountingExecutor(0)
    report = EvalRunner(config(tmp_path, out, resume=True), again).run()
    assert again.calls == 0 and report.skipped == 8 and report.ran == 0
    # More repeats later: only the new attempts run.
    more = CountingExecutor(0)
    report = EvalRunner(config(tmp_path, out, resume=True, repeats=2), more).run()
    assert more.calls == 8 and len(report.results.records) == 16


def test_gpu_checks_are_not_run_without_a_gpu(tmp_path):
    write_suite(tmp_path, gpu_case=True)
    res = EvalRunner(config(tmp_path, tmp_path / "out", gpu=False), CountingExecutor(0)).run().results
    b_with = [r for r in res.records if r.case == "answer-b" and r.with_skill]
    assert b_with and all(r.status == "not-run" for r in b_with)
    assert all(c.status == "not-run" for r in b_with for c in r.checks if c.name == "gpu-bench")
    s = res.summaries[0]
    assert s.with_skill.passes == 1 and s.with_skill.incomplete == 1 and s.with_skill.pass_rate == 1.0
    res = EvalRunner(config(tmp_path, tmp_path / "out2", gpu=True), CountingExecutor(0)).run().results
    assert all(r.status == "pass" for r in res.records if r.with_skill)


def test_protected_edit_fails_and_is_restored(tmp_path):
    write_suite(tmp_path)

    class Cheater(CountingExecutor):
        def run(self, req):
            (req.workdir / "keep.txt").write_text("changed\n")
            return super().run(req)

    res = EvalRunner(config(tmp_path, tmp_path / "out"), Cheater(0)).run().results
    r = next(r for r in res.records if r.with_skill)
    assert r.status == "fail" and r.protected_touched == ["keep.txt"]
    assert (tmp_path / "out" / "work" / r.attempt_id / "keep.txt").read_text() == "do not touch\n"


def test_executor_crash_is_an_infrastructure_error_not_a_skill_failure(tmp_path):
    write_suite(tmp_path)

    class Broken:
        def run(self, req):
            raise RuntimeError("backend exploded")

    res = EvalRunner(config(tmp_path, tmp_path / "out"), Broken()).run().results
    assert all(r.status == "error" and r.infra_error and "exploded" in r.agent_error for r in res.records)
    s = res.summaries[0].with_skill
    assert s.errors == 2 and s.fails == 0 and s.pass_rate is None  # no evidence either way
    text = table(res)
    assert "infrastructure errors (8, excluded from the pass rates):" in text
    assert "answer-a__fake_a__with__r0: the eval harness failed: RuntimeError: backend exploded" in text


class ScriptedExecutor(CountingExecutor):
    """Writes the right answer every time, and ends the agent as ``outcome`` says."""

    def __init__(self, outcome: AgentOutcome) -> None:
        super().__init__()
        self.outcome = outcome

    def run(self, req):
        (req.workdir / "answer.txt").write_text("42\n")
        return AgentOutcome(
            ok=self.outcome.ok,
            error=self.outcome.error,
            infra=self.outcome.infra,
            usage=Usage(tool_calls=3, repair_attempts=1),
        )


def test_an_agent_error_never_passes_even_when_the_checks_do(tmp_path):
    write_suite(tmp_path)
    ex = ScriptedExecutor(AgentOutcome(ok=False, error="worker agent w: finished after 3 turns without a result"))
    res = EvalRunner(config(tmp_path, tmp_path / "out"), ex).run().results
    assert all(r.status == "fail" and not r.infra_error for r in res.records)
    assert res.summaries[0].with_skill.pass_rate == 0.0


def test_infra_errors_exit_non_zero_unless_allowed(tmp_path, capsys):
    write_suite(tmp_path)
    out = tmp_path / "out"
    ex = ScriptedExecutor(
        AgentOutcome(
            ok=False, infra=True, error="worker agent w: backend openai failed to start: OPENAI_API_KEY is not set"
        )
    )
    EvalRunner(config(tmp_path, out), ex).run()
    assert main(["eval", "show", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "8 attempt(s) ended in an infrastructure error" in err and "OPENAI_API_KEY is not set" in err
    assert "--allow-errors" in err
    assert main(["eval", "show", "--out", str(out), "--allow-errors"]) == 0


def test_results_record_provenance_and_the_table_shows_tools_and_repairs(tmp_path):
    write_suite(tmp_path)
    res = EvalRunner(config(tmp_path, tmp_path / "out"), CountingExecutor(0)).run().results
    r = res.records[0]
    assert r.backend == "fake" and len(r.skill_hash) == 16 and len(r.case_hash) == 16
    assert r.harness.startswith("labconsole ") and r.repo_commit  # the test runs inside the repo's checkout
    head, _, first = table(res).splitlines()[:3]
    assert "tools w/wo" in head and "repairs w/wo" in head
    assert " 4/4 " in first and " 2/0 " in first  # 2 attempts an arm: 2 tool calls each; repairs only with
    started = next(e for e in read_events(tmp_path / "out") if e.kind == EVAL_STARTED).data
    assert started["skill_hash"] == r.skill_hash and set(started["case_hashes"]) == {"answer-a", "answer-b"}


def test_compare_names_what_changed(tmp_path, capsys):
    write_suite(tmp_path)
    EvalRunner(config(tmp_path, tmp_path / "a"), CountingExecutor(0)).run()
    skill_md = tmp_path / "skills" / "answer-skill" / "SKILL.md"
    skill_md.write_text(skill_md.read_text() + "\nOne more hint.\n")
    readme = tmp_path / "evals" / "answer-skill" / "answer-b" / "fixture" / "README.md"
    readme.write_text("Write the answer (a number) to answer.txt\n")
    cfg = config(tmp_path, tmp_path / "b")
    EvalRunner(cfg, ScriptedExecutor(AgentOutcome(ok=True))).run()
    assert main(["eval", "--compare", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    assert "  case answer-b: " in out and "  case answer-a" not in out
    assert (
        "what changed:" in out
        and "  skill: " in out
        and "harness" not in out.split("what changed:")[1].split("\n\n")[0]
    )
    assert "fake:a  without  0% (0/2)    100% (2/2)  +100%" in out
    assert "answer-a  fake:a  without: 0/1 -> 1/1" in out
    assert main(["eval", "--compare", str(tmp_path / "a"), str(tmp_path / "nothing")]) == 2
    assert "nothing: no eval results there" in capsys.readouterr().err


def test_cli_show_csv_json(tmp_path, capsys):
    write_suite(tmp_path)
    out = tmp_path / "out"
    EvalRunner(config(tmp_path, out), CountingExecutor(0)).run()
    assert main(["eval", "show", "--out", str(out), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["skill"] == "answer-skill" and data["summary"][0]["lift"] == 1.0
    assert main(["eval", "show", "--out", str(out), "--csv"]) == 0
    assert capsys.readouterr().out.startswith("attempt_id,case,model")
    assert main(["eval", "show", "--out", str(out)]) == 0
    assert "lift" in capsys.readouterr().out
    assert load_results(tmp_path / "nothing").records == []
    assert list_eval_runs(tmp_path) == [out]


def test_model_spec_parsing():
    spec = ModelSpec.parse("openai:gpt-4.1@http://127.0.0.1:9/v1")
    assert (spec.backend, spec.model, spec.base_url, spec.label) == (
        "openai",
        "gpt-4.1",
        "http://127.0.0.1:9/v1",
        "openai:gpt-4.1",
    )
    assert ModelSpec.parse("codex:gpt-5.5").base_url is None
    with pytest.raises(LabError):
        ModelSpec.parse("no-colon")
    assert MARKER  # the fake agent's marker is what the suite's skill carries
