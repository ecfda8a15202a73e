"""A candidate's bench report in `review show`: read from the evidence, printed as the harness's table, and
treated as what it is — a file the candidate's own run wrote (escape sequences shown, odd shapes survived)."""

from __future__ import annotations

import hashlib
import json
from types import SimpleNamespace

from labconsole.cli.cmd_review import bench_lines
from labconsole.core.printable import printable
from labconsole.events.log import BlobError
from labconsole.gpu.bench_evidence import bench_reports

ESC = "\x1b"


def _report(device: str = "NVIDIA H100 80GB HBM3", pct: float = 97.5) -> dict:
    return {
        "schema": "labconsole.bench/1",
        "ok": True,
        "provenance": {"device": device, "driver": "580", "torch": "2.11", "cuda": "13.0", "git_commit": "abc"},
        "groups": [
            {
                "label": "rows4096",
                "cases": [
                    {
                        "name": "rows4096",
                        "role": "candidate",
                        "device": {"median_us": 27.9},
                        "host": {},
                        "gbps": 2401.0,
                        "pct_of_copy": pct,
                        "check": {"ok": True},
                        "flags": [],
                    }
                ],
            }
        ],
    }


class _Blobs:
    def __init__(self) -> None:
        self.store: dict[str, bytes] = {}

    def put(self, obj: object) -> str:
        raw = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
        digest = hashlib.sha256(raw).hexdigest()
        self.store[digest] = raw
        return digest

    def blob(self, digest: str) -> bytes:
        if digest not in self.store:
            raise BlobError(f"blob {digest} is missing")  # what events.log.get_blob raises
        return self.store[digest]


def _hyp(blobs: _Blobs, runs: list[dict]) -> SimpleNamespace:
    return SimpleNamespace(evidence_blob=blobs.put({"runs": runs}))


def _run(role: str, status: str = "ok", **artifacts: str) -> dict:
    return {"role": role, "status": status, "artifacts": artifacts}


def test_the_newest_candidate_report_is_shown_as_the_harness_table() -> None:
    blobs = _Blobs()
    old, new, base = blobs.put(_report(pct=90.0)), blobs.put(_report(pct=97.5)), blobs.put(_report(pct=10.0))
    h = _hyp(
        blobs,
        [
            _run("candidate", **{"bench.json": old}),
            _run("baseline", **{"bench.json": base}),
            _run("candidate", **{"bench.json": new}),
        ],
    )
    lines = bench_lines(blobs, h)  # type: ignore[arg-type]
    assert lines[0].startswith(f"  bench report {new[:12]}") and "last of 2 runs" in lines[0]
    text = "\n".join(lines)
    assert "NVIDIA H100 80GB HBM3" in text and "rows4096" in text and " 98 " in text  # 97.5 % of copy, rounded


def test_runs_that_failed_foreign_json_and_missing_blobs_are_skipped() -> None:
    blobs = _Blobs()
    good = blobs.put(_report())
    runs = [
        _run("candidate", "failed", **{"bench.json": blobs.put(_report(pct=1.0))}),
        _run("candidate", **{"bench.json": blobs.put({"schema": "something-else"})}),
        _run("candidate", **{"bench.json": blobs.put(b"not json {")}),
        _run("candidate", **{"bench.json": "0" * 64}),  # no such blob
        _run("candidate", **{"bench.json": good}),
    ]
    assert [d for d, _ in bench_reports({"runs": runs}, blobs.blob)] == [good]


def test_escape_sequences_in_a_hostile_report_are_shown_not_obeyed() -> None:
    blobs = _Blobs()
    # the candidate's run claims another device and tries to clear the screen and retitle the terminal
    hostile = _report(device=f"{ESC}[2J{ESC}]0;approved{chr(7)}H100{chr(0x9B)}31m")
    h = _hyp(blobs, [_run("candidate", **{"bench.json": blobs.put(hostile)})])
    text = "\n".join(bench_lines(blobs, h))  # type: ignore[arg-type]
    assert ESC not in text and "\x07" not in text and "\x9b" not in text
    assert "\\x1b[2J" in text  # shown, so the person sees the attempt


def test_a_report_of_an_unexpected_shape_prints_one_line() -> None:
    blobs = _Blobs()
    broken = {"schema": "labconsole.bench/1", "groups": [{"label": "x", "cases": [{"role": 5}]}]}
    h = _hyp(blobs, [_run("candidate", **{"bench.json": blobs.put(broken)})])
    lines = bench_lines(blobs, h)  # type: ignore[arg-type]
    assert len(lines) == 1 and "unreadable" in lines[0] and "--json" in lines[0]


def test_no_evidence_or_no_report_prints_nothing() -> None:
    blobs = _Blobs()
    assert bench_lines(blobs, SimpleNamespace(evidence_blob=None)) == []  # type: ignore[arg-type]
    assert bench_lines(blobs, _hyp(blobs, [_run("candidate")])) == []  # type: ignore[arg-type]


def test_printable_keeps_lines_and_tabs() -> None:
    assert printable("a\tb\nc") == "a\tb\nc"
    assert printable(f"{ESC}[31mred\r") == "\\x1b[31mred\\r"
