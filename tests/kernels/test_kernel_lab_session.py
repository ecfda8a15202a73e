"""The kernel lab's recorded GPU session (benchmarks/results/kernel_lab/): a CPU machine verifies, reviews
and replays it the way a user would, from the committed files alone.

The folder holds the session directory exactly as the console left it on the GPU machine, the signing
person's public key (`signer.pub`) and the lab's git history (`lab.bundle`, every ref: branches and the
session's seal ref). A reader trusts the key, rebuilds the lab from the bundle and runs the CLI.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from labconsole.events.log import get_blob
from labconsole.gpu.bench_evidence import bench_reports

REPO = Path(__file__).resolve().parents[2]
RECORDED = REPO / "benchmarks" / "results" / "kernel_lab"


def _session_dir() -> Path:
    found = sorted(p for p in RECORDED.iterdir() if p.is_dir() and (p / "events.jsonl").is_file())
    assert len(found) == 1, f"{RECORDED}: expected one recorded session, found {[p.name for p in found]}"
    return found[0]


def _events(session: Path) -> list[dict]:
    return [json.loads(line) for line in (session / "events.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def reader(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A fresh reader's machine: its own config/state dirs, the lab rebuilt from the bundle, the session in it."""
    base = tmp_path_factory.mktemp("reader")
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(base / "config"),
        "XDG_STATE_HOME": str(base / "state"),
        "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }
    lab = base / "lab"
    subprocess.run(["git", "init", "-q", str(lab)], check=True)
    subprocess.run(["git", "-C", str(lab), "fetch", "-q", str(RECORDED / "lab.bundle"), "+refs/*:refs/*"], check=True)
    subprocess.run(["git", "-C", str(lab), "checkout", "-q", "main"], check=True)
    session = _session_dir()
    shutil.copytree(session, lab / "sessions" / session.name)
    return {"env": env, "lab": lab, "session": lab / "sessions" / session.name}


def _cli(reader: dict, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "labconsole", *args], env=reader["env"], capture_output=True, text=True, timeout=120
    )


def _trust(reader: dict) -> None:
    out = _cli(reader, "keys", "trust", str(RECORDED / "signer.pub"), "--name", "kernel-lab-device")
    assert out.returncode == 0, out.stderr


def _approved(session: Path) -> str:
    approvals = [e["data"]["hyp_id"] for e in _events(session) if e["kind"] == "decision.approved"]
    assert approvals, "the recorded session has no approval"
    return approvals[-1]


def test_recorded_session_is_a_gpu_kernel_lab_with_bench_evidence() -> None:
    session = _session_dir()
    events = _events(session)
    started = next(e for e in events if e["kind"] == "session.started")
    assert "rmsnorm" in json.dumps(started["data"])
    hyp = _approved(session)
    # The approved candidate's evidence carries the harness's report from a CUDA device, read the way
    # `review show` and `publish` read it.
    evidence = next(
        e["data"]["blob"] for e in events if e["kind"] == "evidence.recorded" and e["data"]["hyp_id"] == hyp
    )
    bundle = json.loads(get_blob(session, evidence))
    reports = [report for _, report in bench_reports(bundle, lambda digest: get_blob(session, digest))]
    assert reports, f"{hyp}'s evidence holds no bench report"
    prov = reports[-1]["provenance"]
    assert prov.get("cuda") and "H100" in str(prov.get("device")), prov
    merged = [e for e in events if e["kind"] == "merge.completed" and e["data"]["hyp_id"] == hyp]
    assert merged, f"{hyp} was approved but not merged"


def test_untrusted_reader_is_told_which_key_to_trust(reader: dict, tmp_path: Path) -> None:
    # its own config dir: the other tests trust the key in the shared one, in whatever order they run
    untrusted = {**reader, "env": {**reader["env"], "XDG_CONFIG_HOME": str(tmp_path / "config")}}
    out = _cli(untrusted, "audit", "verify", str(reader["session"]), "--lab", str(reader["lab"]))
    assert out.returncode != 0
    assert "labconsole keys trust" in out.stdout + out.stderr


def test_recorded_session_verifies_on_a_cpu_machine(reader: dict) -> None:
    _trust(reader)
    out = _cli(reader, "audit", "verify", str(reader["session"]), "--lab", str(reader["lab"]))
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.startswith("OK "), out.stdout
    assert "every merge approved" in out.stdout


def test_one_changed_byte_fails_verification(reader: dict, tmp_path: Path) -> None:
    _trust(reader)
    forged = tmp_path / "sessions" / reader["session"].name
    shutil.copytree(reader["session"], forged)
    log = forged / "events.jsonl"
    text = log.read_text(encoding="utf-8")
    i = text.index('"pct_of_copy"')
    log.write_text(text[:i] + '"pct_of_cop_"' + text[i + len('"pct_of_copy"') :], encoding="utf-8")
    out = _cli(reader, "audit", "verify", str(forged), "--lab", str(reader["lab"]))
    assert out.returncode != 0 and "FAILED" in out.stdout + out.stderr


def test_review_show_prints_the_bench_table(reader: dict) -> None:
    hyp = _approved(reader["session"])
    out = _cli(reader, "review", "show", hyp, "--lab", str(reader["lab"]))
    assert out.returncode == 0, out.stderr
    assert "pct_of_copy" in out.stdout
    # the harness's own table from the candidate's bench.json evidence: device, the case and the copy yardstick
    table = out.stdout.split("bench report", 1)[1]
    assert "NVIDIA H100" in table and "rows4096" in table and "copy" in table, table[:800]
    assert "approved" in out.stdout or "merged" in out.stdout


def test_replay_summary_reaches_the_merge(reader: dict) -> None:
    out = _cli(reader, "replay", str(reader["session"]), "--summary")
    assert out.returncode == 0, out.stderr
    hyp = _approved(reader["session"])
    # approved, merged, then published: replay ends where the person left it, with who signed the approval
    assert any(line.strip().startswith(hyp) and "published" in line for line in out.stdout.splitlines()), out.stdout
    assert "approved by kernel-lab-device" in out.stdout


def test_report_regenerated_from_the_log_shows_the_decisions(reader: dict) -> None:
    out = _cli(reader, "report", "--lab", str(reader["lab"]), "--session", reader["session"].name)
    assert out.returncode == 0, out.stderr
    hyp = _approved(reader["session"])
    assert "improved" in out.stdout and hyp in out.stdout
    decisions = out.stdout.split("## Human decisions", 1)[1]
    assert "approved" in decisions and hyp in decisions, decisions[:500]
