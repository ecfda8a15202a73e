"""``labconsole publish``: refused without an approval of the exact commit with passing GPU bench evidence;
assembled, load-checked and logged when there is one."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from labconsole.cli import main
from labconsole.events import kinds as K
from labconsole.events.audit import verify_session
from labconsole.events.log import EventLog, compute_hash, read_events
from labconsole.events.signing import load_signer, sign_decision
from labconsole.lab.evidence import canonical, evidence_hash

KERNEL = Path(__file__).resolve().parents[2] / "kernels" / "rmsnorm"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(KERNEL, root / "kernels" / "rmsnorm", ignore=shutil.ignore_patterns("__pycache__"))
    (root / ".gitignore").write_text("sessions/\ndist/\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "kernel")
    return root


def bench_report(sha: str, ok: bool = True, cuda: str | None = "13.0") -> dict:
    return {
        "schema": "labconsole.bench/1",
        "ok": ok,
        "groups": [],
        "flags": [],
        "provenance": {"git_commit": sha, "cuda": cuda, "device": "NVIDIA H100 80GB HBM3", "driver": "580.159.04"},
    }


def record_session(
    root: Path, sha: str, report: dict | None, approve: bool = True, approve_sha: str | None = None, sign: bool = True
) -> Path:
    """A session log as the console writes it: measured candidate, evidence with the bench artifact, approval."""
    session = root / "sessions" / "s1"
    with EventLog.open(session) as log:
        log.append(K.SESSION_STARTED, "console", {"session_id": "s1", "lab": "kernels", "baseline_sha": sha})
        log.append(K.HYP_PROPOSED, "agent:researcher", {"hyp_id": "h001", "title": "vectorized RMSNorm", "params": {}})
        artifacts = {"bench.json": log.put_blob(json.dumps(report))} if report is not None else {}
        run = {
            "run_id": "h001-m1-c0",
            "role": "candidate",
            "repeat": 0,
            "status": "ok",
            "metric": 2600.0,
            "duration_s": 30.0,
            "error": "",
            "artifacts": artifacts,
        }
        bundle = {"hyp_id": "h001", "sha": sha, "runs": [run]}
        digest = evidence_hash(bundle)
        log.append(
            K.EVIDENCE_RECORDED,
            "console",
            {"hyp_id": "h001", "evidence_hash": digest, "blob": log.put_blob(canonical(bundle)), "summary": {}},
        )
        if approve:
            data = {"hyp_id": "h001", "sha": approve_sha or sha, "evidence_hash": digest, "who": "ana"}
            if sign:  # as the console does: the person's key signs the decision where it sits in the log
                assert log.last is not None
                data["signature"] = sign_decision(
                    load_signer(),
                    session_id="s1",
                    seq=log.last.seq + 1,
                    prev=log.last.hash,
                    kind=K.DECISION_APPROVED,
                    actor="human:ana",
                    data=data,
                )
            log.append(K.DECISION_APPROVED, "human:ana", data)
    return session


def publish(root: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main(["publish", str(root / "kernels" / "rmsnorm"), "--lab", str(root), *extra])
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.mark.parametrize(
    "case,expected",
    [
        ("no-session", "no human approval of commit"),
        ("not-approved", "no human approval of commit"),
        ("other-commit", "no human approval of commit"),
        ("no-bench", "its evidence has no benchmark report"),
        ("bench-failed", "its benchmark report did not pass on a GPU"),
        ("cpu-smoke", "its benchmark report did not pass on a GPU"),
        ("unsigned", "the approval does not count (no signature)"),
        ("forged-signature", "the approval does not count (invalid signature"),
    ],
)
def test_refusals(repo: Path, capsys: pytest.CaptureFixture[str], case: str, expected: str) -> None:
    sha = git(repo, "rev-parse", "HEAD")
    if case == "not-approved":
        record_session(repo, sha, bench_report(sha), approve=False)
    elif case == "other-commit":
        record_session(repo, sha, bench_report(sha), approve_sha="0" * 40)
    elif case == "no-bench":
        record_session(repo, sha, None)
    elif case == "bench-failed":
        record_session(repo, sha, bench_report(sha, ok=False))
    elif case == "cpu-smoke":
        record_session(repo, sha, bench_report(sha, cuda=None))
    elif case == "unsigned":  # appended by whoever can write the log, with a chain that verifies
        record_session(repo, sha, bench_report(sha), sign=False)
    elif case == "forged-signature":  # a real signature, lifted onto an approval it was not made for
        session = record_session(repo, sha, bench_report(sha))
        lines = (session / "events.jsonl").read_text().splitlines()
        approval = json.loads(lines[-1])
        approval["data"]["reason"] = "forged"
        body = json.dumps(
            {k: approval[k] for k in ("seq", "ts", "kind", "actor", "data")},
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
        lines[-1] = f'{body[:-1]},"prev":"{approval["prev"]}","hash":"{compute_hash(approval["prev"], body)}"}}'
        (session / "events.jsonl").write_text("\n".join(lines) + "\n")
    rc, out, err = publish(repo, capsys)
    assert rc == 2 and expected in err and "\n" not in err.strip()
    assert not (repo / "dist").exists()


def test_dirty_kernel_dir_is_refused(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sha = git(repo, "rev-parse", "HEAD")
    record_session(repo, sha, bench_report(sha))
    (repo / "kernels" / "rmsnorm" / "README.md").write_text("edited after approval\n")
    rc, _out, err = publish(repo, capsys)
    assert rc == 2 and "has uncommitted changes; only an approved commit is published" in err


def test_approved_commit_is_assembled_checked_and_logged(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    sha = git(repo, "rev-parse", "HEAD")
    session = record_session(repo, sha, bench_report(sha))
    rc, out, err = publish(repo, capsys, "--who", "bo")
    assert rc == 0, err
    folder = repo / "dist" / "kernels" / f"rmsnorm-{sha[:12]}"
    assert f"assembled: {folder}" in out
    assert (folder / "README.md").exists() and (folder / "build.toml").exists()
    assert (folder / "build" / "torch-cuda" / "__init__.py").exists()
    assert not list(folder.rglob("__pycache__"))
    provenance = json.loads((folder / "PROVENANCE.json").read_text())
    assert provenance["commit"] == sha and provenance["approved_by"] == "ana" and provenance["hypothesis"] == "h001"
    assert json.loads((folder / "benchmarks" / "approved_results.json").read_text())["ok"] is True
    # Without a GPU the kernels loader finds no variant for this machine, and says so.
    assert (
        "load check (kernels.get_local_kernel): not possible here" in out
        or "load check (kernels.get_local_kernel): ok" in out
    )
    assert "not uploaded: pass --repo-id" in out
    published = [e for e in read_events(session) if e.kind == K.PUBLISH_COMPLETED]
    assert len(published) == 1 and published[0].actor == "human:bo" and published[0].data["sha"] == sha
    assert verify_session(session).ok
