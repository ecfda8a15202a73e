"""The kernel bench's "faster" goes through the same statistics as the experiment gate."""

from labconsole.core.stats import IMPROVED, NO_EVIDENCE, WORSE
from labconsole.gpu.bench_stats import compare_timings, faster, summarize


def test_timings_get_the_gate_vocabulary() -> None:
    base = [10.0, 10.3, 10.1, 10.2, 10.4, 10.0, 10.2, 10.1, 10.3, 10.2]
    assert compare_timings([x * 0.9 for x in base], base).decision == IMPROVED
    assert compare_timings([x * 1.1 for x in base], base).decision == WORSE
    # 0.5% faster on a quiet measurement: real perhaps, but under the 2% that makes a kernel "faster".
    long = base * 10
    assert compare_timings([x * 0.995 for x in long], long).decision == NO_EVIDENCE


def test_faster_uses_samples_and_keeps_them_out_of_the_report() -> None:
    copy = summarize([6.0, 6.2, 6.4, 6.6, 7.0])
    assert faster(summarize([1.1, 1.2, 1.2, 1.3, 1.4]), copy)
    assert not faster(summarize([5.4, 5.6, 5.7, 6.3, 6.5]), copy)  # the medians differ, the spreads overlap
    assert "samples" not in copy.to_dict() and copy.samples == (6.0, 6.2, 6.4, 6.6, 7.0)
