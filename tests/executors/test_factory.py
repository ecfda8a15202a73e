"""[executor] in lab.toml, and the one-line refusals before any agent starts: bad kind, no cluster, no token."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from labconsole.core.config import load_config
from labconsole.errors import ConfigError, LabError
from labconsole.runs.factory import build_executor
from labconsole.runs.preflight import check_ray_address, preflight
from labconsole.runs.local import LocalExecutor

BASE = """
[objective]
name = "loss"
command = "python objective.py"
metric = "json:result.json#loss"
[search]
file = "objective.py"
[search.space]
lr = { type = "float", low = 0.001, high = 0.1 }
"""


def lab_toml(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "lab.toml"
    path.write_text(BASE + extra)
    return path


def closed_port() -> int:
    with socket.socket() as s:  # bound then closed: nothing listens there afterwards
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_default_is_local_and_builds_the_local_executor(tmp_path: Path) -> None:
    config = load_config(lab_toml(tmp_path, ""))
    assert config.executor.kind == "local" and config.resources.executor == "local"
    preflight(config)
    executor = build_executor(config, repo=None, append=lambda *a: None, put_blob=lambda b: "", runs_dir=tmp_path)
    assert isinstance(executor, LocalExecutor)


def test_executor_table_is_parsed(tmp_path: Path) -> None:
    config = load_config(
        lab_toml(
            tmp_path,
            """
[executor]
kind = "hf-jobs"
flavor = "a10g-small"
timeout_s = 900
namespace = "my-org"
image = "pytorch/pytorch:2.6.0-cuda12.4-cudnn9-devel"
""",
        )
    )
    ex = config.executor
    assert (ex.kind, ex.flavor, ex.timeout_s, ex.namespace, ex.image) == (
        "hf-jobs",
        "a10g-small",
        900.0,
        "my-org",
        "pytorch/pytorch:2.6.0-cuda12.4-cudnn9-devel",
    )
    assert config.resources.executor == "hf-jobs"
    assert load_config(lab_toml(tmp_path, '[executor]\nkind = "ray"\n')).executor.address == "auto"


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ('[executor]\nkind = "slurm"\n', "[executor] kind is 'slurm'; allowed: 'local', 'ray', 'hf-jobs'"),
        ('[executor]\nkind = "ray"\nadress = "auto"\n', "[executor] adress is not a known field"),
        ('[executor]\nkind = "ray"\naddress = ""\n', "[executor] address is empty"),
        ('[executor]\nkind = "hf-jobs"\ntimeout_s = -1\n', "[executor] timeout_s is -1; must be >= 0"),
        ('[resources]\nexecutor = "ray"\n[executor]\nkind = "hf-jobs"\n', "but [resources] executor is 'ray'"),
    ],
)
def test_bad_executor_config_is_one_line_naming_the_field(tmp_path: Path, extra: str, needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(lab_toml(tmp_path, extra))
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_unreachable_ray_cluster_is_refused_in_one_line(tmp_path: Path) -> None:
    port = closed_port()
    with pytest.raises(LabError) as err:
        check_ray_address(f"127.0.0.1:{port}")
    assert f"'127.0.0.1:{port}': no Ray cluster answers there" in str(err.value)
    with pytest.raises(LabError, match="expected 'auto', 'HOST:PORT'"):
        check_ray_address("just-a-name")


def test_auto_without_a_cluster_says_how_to_start_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path / "no-ray-here"))
    with pytest.raises(LabError, match="no Ray cluster runs here"):
        check_ray_address("auto")
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{closed_port()}")
    with pytest.raises(LabError, match="no Ray cluster answers there"):
        check_ray_address("auto")


def test_a_listening_address_passes(tmp_path: Path) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        address = f"127.0.0.1:{server.getsockname()[1]}"
        assert check_ray_address(address) == address


def test_hf_jobs_without_a_token_is_refused_before_anything_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # no stored token either
    monkeypatch.setenv("HF_TOKEN_PATH", str(tmp_path / "hf" / "token"))
    config = load_config(lab_toml(tmp_path, '[executor]\nkind = "hf-jobs"\n'))
    with pytest.raises(LabError) as err:
        preflight(config)
    assert (
        str(err.value) == '[executor] kind = "hf-jobs" needs a Hugging Face token: set HF_TOKEN or run `hf auth login`'
    )


def test_a_session_on_an_unreachable_cluster_stops_before_any_agent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import subprocess

    from labconsole.cli import main
    from labconsole.demo import create_demo_lab
    from labconsole.events.log import read_events

    pytest.importorskip("ray", reason="the check of a Ray address needs the ray extra")
    lab = create_demo_lab(tmp_path / "lab")
    port = closed_port()
    (lab / "lab.toml").write_text(
        (lab / "lab.toml").read_text() + f'\n[executor]\nkind = "ray"\naddress = "127.0.0.1:{port}"\n'
    )
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "ray"], cwd=lab, check=True)
    assert main(["run", "--lab", str(lab), "--headless", "--timeout", "30"]) == 2
    err = capsys.readouterr().err.strip()
    # The refusal is one line (earlier lines may be set-up notes, e.g. a signing key created on first use).
    last = err.splitlines()[-1]
    assert last.startswith("labconsole: [executor] address") and "Traceback" not in err
    assert f"'127.0.0.1:{port}': no Ray cluster answers there" in last
    kinds = (
        [e.kind for d in (lab / "sessions").iterdir() for e in read_events(d)] if (lab / "sessions").is_dir() else []
    )
    assert "agent.started" not in kinds and "run.started" not in kinds
