"""The tamper suite (benchmarks/tamper_suite.py) over a real demo session: every attack is caught with a
one-line reason, the untampered session verifies, and `labconsole merge` refuses a forged approval."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

SUITE = Path(__file__).resolve().parents[2] / "benchmarks" / "tamper_suite.py"


def _load_suite() -> Any:
    spec = importlib.util.spec_from_file_location("tamper_suite", SUITE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["tamper_suite"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


# What each case must say somewhere in its output, beyond the first line: the signature or seal layer
# that catches it on its own, not only the external seal that would also notice.
EXPECTED = {
    "edit": "hash does not recompute",
    "delete": "a line was deleted",
    "reorder": "a line was deleted, inserted or reordered",
    "insert": "rewritten: event seq",
    "truncate 1 line": "truncated:",
    "truncate 3 lines": "truncated:",
    "truncate 60 lines": "truncated:",
    "truncate after the last checkpoint": "truncated:",
    "forged approval, recomputed chain": "does not count: no signature",
    "forged approval signed by an unknown key": "signed by an unknown key",
    "approval replayed from another session": "invalid signature",
    "approval of a different sha than merged": "invalid signature",
    "merge of a different sha than approved": "not the approved sha",
    "evidence differs from what was merged": "is not the approved one",
    "swapped blob": "is corrupt",
    "deleted blob": "is missing",
    "swapped public key": "is not a trusted key",
    "merge on main without approval": "outside the gate:",
    "labconsole merge of a forged approval": "does not count: no signature",
}


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    suite = _load_suite()
    work = tmp_path_factory.mktemp("tamper")
    demo = suite.build_demo(work)
    result = suite.run_suite(demo, work / "cases")
    print(f"\ntamper suite: caught {result['caught']}/{result['tried']}")
    for case in result["cases"]:
        print(f"  {'caught' if case['caught'] else 'MISSED'} {case['case']}: {case['reason']}")
    return result


def test_untampered_demo_session_verifies(report: dict[str, Any]) -> None:
    assert report["untampered_exit"] == 0, report["untampered"]
    assert "sealed at seq" in report["untampered"]


def test_every_attack_is_caught_with_a_one_line_reason(report: dict[str, Any]) -> None:
    assert [c["case"] for c in report["cases"]] == list(EXPECTED)
    missed = [c["case"] for c in report["cases"] if not c["caught"]]
    assert not missed, missed
    for case in report["cases"]:
        assert case["reason"] and "\n" not in case["reason"], case
        said = "\n".join(case.get("output", [])) or case["reason"]
        assert EXPECTED[case["case"]] in said, (case["case"], said)
    assert report["caught"] == report["tried"] == len(EXPECTED)


def test_a_hand_merge_is_outside_the_gate_not_a_forgery(report: dict[str, Any]) -> None:
    case = next(c for c in report["cases"] if c["case"] == "merge on main without approval")
    assert case["exit"] == 3 and not any(line.startswith("events.jsonl:") for line in case["output"])
