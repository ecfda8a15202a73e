"""Pure helpers of the lab: params editing, dedupe, evidence statistics, the rules reviewer."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labconsole.agents.backends.rules import review
from labconsole.errors import LabError
from labconsole.core.dedupe import find_duplicate, normalize
from labconsole.core.stats import NoiseFloor
from labconsole.lab.evidence import evidence_hash, summarize
from labconsole.runs.outcome import RunOutcome
from labconsole.core.params import format_value, read_params, write_params

SRC = "import x\nLEARNING_RATE = 0.001  # too low\nN_EMBD = 16\nNAME = 'a'\n"


def test_params_round_trip_keeps_comments() -> None:
    assert read_params(SRC, ["LEARNING_RATE", "N_EMBD", "NAME", "MISSING"]) == {
        "LEARNING_RATE": 0.001,
        "N_EMBD": 16,
        "NAME": "a",
    }
    out = write_params(SRC, {"LEARNING_RATE": 0.0123456789, "N_EMBD": 48})
    assert "LEARNING_RATE = 0.0123456789  # too low" in out  # written in full: a rounded value is another experiment
    assert "LEARNING_RATE = 0.02  # too low" in write_params(SRC, {"LEARNING_RATE": 0.02})  # short where exact
    assert read_params(out, ["N_EMBD"]) == {"N_EMBD": 48}
    with pytest.raises(LabError, match="expected exactly one line 'MISSING = …'"):
        write_params(SRC, {"MISSING": 1})


def test_sweep_edit_of_a_value_above_one_takes() -> None:
    # Issue 23: 6 significant digits were written while the check compared with the proposed value.
    value = 1.4852768638878127
    assert read_params(write_params(SRC, {"LEARNING_RATE": value}), ["LEARNING_RATE"]) == {"LEARNING_RATE": value}


@st.composite
def _space_and_values(draw: st.DrawFn) -> dict[str, object]:
    """A random [search.space] (floats of any magnitude, log ranges, ints, categoricals) and one value of each."""
    values: dict[str, object] = {}
    for i in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["float", "log", "int", "categorical"]))
        if kind == "float":
            a, b = sorted(draw(st.lists(st.floats(-1e30, 1e30, allow_nan=False), min_size=2, max_size=2, unique=True)))
            value: object = draw(st.floats(a, b))
        elif kind == "log":
            exp = draw(st.floats(-300, 300))
            low = 10.0**exp
            value = math.exp(draw(st.floats(math.log(low), math.log(low) + draw(st.floats(0.01, 20)))))
        elif kind == "int":
            a, b = sorted(draw(st.lists(st.integers(-(10**12), 10**12), min_size=2, max_size=2, unique=True)))
            value = draw(st.integers(a, b))
        else:
            value = draw(
                st.sampled_from(
                    draw(
                        st.lists(
                            st.one_of(
                                st.text(max_size=8),
                                st.text(alphabet="#'\"\\ a", max_size=6),
                                st.booleans(),
                                st.integers(),
                                st.floats(allow_nan=False),
                            ),
                            min_size=1,
                            max_size=4,
                        )
                    )
                )
            )
        values[f"P{i}"] = value
    return values


@settings(max_examples=300, deadline=None)
@given(_space_and_values())
def test_sweep_edits_take_for_every_value_of_any_space(values: dict[str, object]) -> None:
    src = "".join(f"{name} = 0  # knob\n" for name in values)
    out = write_params(src, values)
    back = read_params(out, list(values))
    assert back == values
    assert {k: type(v) for k, v in back.items()} == {k: type(v) for k, v in values.items()}
    assert all(line.endswith("  # knob") for line in out.splitlines())


def test_format_value_refuses_nan() -> None:
    with pytest.raises(LabError, match="NaN"):
        format_value(float("nan"))


def test_dedupe_same_change_and_reworded_idea() -> None:
    earlier = [
        {"hyp_id": "h001", "title": "Set LR to 0.01", "params": {"LR": 0.01}},
        {"hyp_id": "h002", "title": "Fuse the residual add into RMSNorm for decode", "params": {}},
    ]
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
    for i, (c, b) in enumerate(zip(cand, base, strict=True)):
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
