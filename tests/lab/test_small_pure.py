"""Pure helpers of the lab: params editing, dedupe, evidence statistics, the rules reviewer."""

import pytest

from labconsole.agents.backends.rules import review
from labconsole.errors import LabError
from labconsole.core.dedupe import find_duplicate, normalize
from labconsole.core.stats import NoiseFloor
from labconsole.lab.evidence import evidence_hash, summarize
from labconsole.runs.outcome import RunOutcome
from labconsole.core.params import read_params, write_params

SRC = "import x\nLEARNING_RATE = 0.001  # too low\nN_EMBD = 16\nNAME = 'a'\n"


def test_params_round_trip_keeps_comments() -> None:
    assert read_params(SRC, ["LEARNING_RATE", "N_EMBD", "NAME", "MISSING"]) == {"LEARNING_RATE": 0.001, "N_EMBD": 16, "NAME": "a"}
    out = write_params(SRC, {"LEARNING_RATE": 0.0123456789, "N_EMBD": 48})
    assert "LEARNING_RATE = 0.0123457  # too low" in out
    assert read_params(out, ["N_EMBD"]) == {"N_EMBD": 48}
    with pytest.raises(LabError, match="expected exactly one line 'MISSING = …'"):
        write_params(SRC, {"MISSING": 1})


def test_dedupe_same_change_and_reworded_idea() -> None:
    earlier = [{"hyp_id": "h001", "title": "Set LR to 0.01", "params": {"LR": 0.01}},
               {"hyp_id": "h002", "title": "Fuse the residual add into RMSNorm for decode", "params": {}}]
    same = find_duplicate("Use learning rate 1e-2", {"LR": 0.010000000001}, earlier)
    assert same is not None and same.of == "h001" and same.similarity == 1.0
    # Different values are different experiments, however alike the titles read.
    assert find_duplicate("Set LR to 0.02", {"LR": 0.02}, earlier) is None
    reworded = find_duplicate("fuse residual add into the RMSNorm for decode!", {}, earlier)
    assert reworded is not None and reworded.of == "h002"
    assert find_duplicate("Write a softmax kernel", {}, earlier) is None
    assert normalize("  Fuse   THE add! ") == "fuse the add"


def _runs(cand: list[float], base: list[float]) -> list[RunOutcome]:
    out = []
    for i, (c, b) in enumerate(zip(cand, base)):
        out.append(RunOutcome(f"b{i}", "baseline", i, "ok", b, 1.0))
        out.append(RunOutcome(f"c{i}", "candidate", i, "ok", c, 1.0))
    return out


def test_summary_effect_and_noise_rule() -> None:
    s = summarize(_runs([1.0, 1.1, 1.05], [2.0, 2.1, 1.9]), "minimize")
    assert s["candidate_median"] == 1.05 and s["baseline_median"] == 2.0
    assert s["effect"] == pytest.approx(0.475)
    assert s["significant"] is True
    overlapping = summarize(_runs([1.0, 2.2, 1.05], [2.0, 2.1, 1.9]), "minimize")
    assert overlapping["significant"] is False
    maximize = summarize(_runs([3.0, 3.1], [2.0, 2.1]), "maximize")
    assert maximize["effect"] > 0 and maximize["significant"]
    failed = summarize([RunOutcome("c0", "candidate", 0, "timeout", None, 9.0)], "minimize")
    assert failed["candidate_ok"] == 0 and failed["effect"] is None
    assert failed["decision"] == "inconclusive" and failed["repeats_used"] == 0


def test_summary_carries_the_gate_decision() -> None:
    s = summarize(_runs([1.0, 1.1, 1.05], [2.0, 2.1, 1.9]), "minimize")
    assert s["decision"] == "improved" and s["repeats_used"] == 3
    assert s["ci_low"] < s["effect"] < s["ci_high"] and 0 < s["p_value"] < 0.025
    assert s["noise_floor"] == s["threshold"] and s["threshold"] > 0  # min_effect 0: the noise floor
    # A failed candidate run leaves its pair out of the paired comparison.
    runs = _runs([1.0, 1.1, 1.05], [2.0, 2.1, 1.9])
    runs[1] = RunOutcome("c0", "candidate", 0, "crashed", None, 1.0)
    assert summarize(runs, "minimize")["repeats_used"] == 2
    # Noise against a session's noise floor: not improved, whichever way the medians fell.
    floor = NoiseFloor.from_groups([[2.0, 2.02], [2.0, 1.98], [2.01, 2.0]] * 5)
    noise = summarize(_runs([1.995, 2.01, 1.99], [2.0, 2.005, 2.0]), "minimize", floor=floor)
    assert noise["decision"] in ("inconclusive", "no evidence") and noise["significant"] is False


def test_evidence_hash_is_canonical() -> None:
    assert evidence_hash({"a": 1, "b": [1, 2]}) == evidence_hash({"b": [1, 2], "a": 1})
    assert evidence_hash({"a": 1}) != evidence_hash({"a": 2})


def test_rules_reviewer() -> None:
    good = {**summarize(_runs([1.0, 1.1], [2.0, 2.1]), "minimize"), "protected_changes": [], "stale": False}
    assert review(good)[0] == "pass"
    assert review({**good, "protected_changes": ["prepare.py"]}) == ("reject", ["edits protected files: prepare.py"])
    assert review({**good, "stale": True, "base_sha": "abc"})[0] == "flag"
    worse = {**summarize(_runs([3.0, 3.1], [2.0, 2.1]), "minimize"), "protected_changes": []}
    assert review(worse)[0] == "reject"
    noisy = {**summarize(_runs([1.9, 2.15], [2.0, 2.2]), "minimize"), "protected_changes": []}
    verdict, reasons = review(noisy)
    assert verdict == "flag" and "within run-to-run noise" in reasons[0]
    small = {**good, "decision": "no evidence", "significant": False, "threshold": 0.6}
    assert review(small) == ("flag", ["improvement +48.78% is below the threshold 60.00% that matters (no evidence)"])
    assert review({**good, "decision": "worse"})[0] == "reject"
    gamed = {**summarize(_runs([0.1, 0.1], [2.0, 2.1]), "minimize"), "protected_changes": []}
    assert "implausibly large" in " ".join(review(gamed)[1])
