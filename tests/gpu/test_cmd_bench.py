"""``labconsole bench``: needs CUDA unless --cpu-smoke; JSON out; exit code follows the flags."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from labconsole.cli import main

FIXTURES = Path(__file__).parent / "fixtures"


def cpu_smoke(fixture: str, *extra: str) -> int:
    """``labconsole bench`` on a fixture kernel directory, CPU smoke mode, one small shape, short budget."""
    small = ["--budget", "0.1", "--shapes", "rows=4", "--shapes", "hidden=32"]
    return main(["bench", str(FIXTURES / fixture), "--cpu-smoke", *small, *extra])


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_bench_without_cuda_says_so(capsys) -> None:
    assert main(["bench", str(FIXTURES / "rmsnorm_bench")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("labconsole: labconsole bench needs a CUDA GPU") and "\n" not in err


def test_bench_missing_dir_is_user_error(capsys, tmp_path: Path) -> None:
    assert main(["bench", str(tmp_path / "nope"), "--cpu-smoke"]) == 2
    assert "no such kernel directory" in capsys.readouterr().err


def test_cpu_smoke_writes_json_and_session_evidence(capsys, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    rc = cpu_smoke("rmsnorm_bench", "--only", "f_rms_norm", "--json", str(out), "--session", str(tmp_path / "sess"))
    data = json.loads(out.read_text())
    assert rc == (0 if data["ok"] else 1)
    assert [g["label"] for g in data["groups"]] == ["rows=4,hidden=32"]
    assert len(list((tmp_path / "sess" / "evidence").glob("bench-rmsnorm_bench-*.json"))) == 1
    assert "f_rms_norm" in capsys.readouterr().out


def test_cpu_smoke_exit_code_is_1_when_a_cheat_is_caught(tmp_path: Path) -> None:
    assert cpu_smoke("planted_cheats") == 1
