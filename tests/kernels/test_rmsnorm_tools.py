"""CPU-only tests of rmsnorm's launch-shape tooling: the tune-table generator
(scripts/tune_table.py -> rmsnorm/tuned_shapes.h) and the shapes a sweep may force
(benchmarks/run_device.py: shapes_for)."""

from __future__ import annotations

import json
import re

import pytest
from rmsnorm_helpers import KERNEL_DIR, ROOT, import_script

tune = import_script("scripts/tune_table.py", "rmsnorm_tune_table")
run_device = import_script("benchmarks/run_device.py", "rmsnorm_run_device")

SWEEP = ROOT / "benchmarks" / "results" / "rmsnorm_tune_h100_b523730.json"
HEADER = KERNEL_DIR / "rmsnorm" / "tuned_shapes.h"
ENTRY = re.compile(r"^\s*\{(\d+), (true|false), (\w+), (\d+), (\d+), (\d+)\},  // (.*)$")


def _entries(text: str) -> list[tuple[int, bool, str, int, int, int, str]]:
    """The kTunedShapes rows of a rendered header: (npack, fused, max_rows, nv, lanes, min_blocks, comment)."""
    out = []
    for line in text.splitlines():
        m = ENTRY.match(line)
        if m:
            out.append((int(m[1]), m[2] == "true", m[3], int(m[4]), int(m[5]), int(m[6]), m[7]))
    return out


def _winners(spec: str) -> dict[str, dict[str, float]]:
    """A sweep in which each key measured one shape, its winner: "h2048_rows1=b1 h2048_rows16=b2"."""
    return {key: {shape: 1.0} for key, shape in (item.split("=") for item in spec.split())}


def _picks(table: dict, npack: int, fused: bool = False) -> dict[int, tuple[int, int, int]]:
    return {r: (nv, lanes, mb) for r, nv, lanes, mb, _ in table[(npack, fused)]}


# --- auto_shape ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("desc", "expected"),
    [
        ("block_per_row nv=2 threads=256", (2, 0, 0)),
        ("block_per_row nv=1 threads=1024", (1, 0, 0)),
        ("block_per_row nv=2 threads=256 min_blocks=6", (2, 0, 6)),
        ("warp_per_row lanes=32 nv=8 threads=256", (8, 32, 0)),
        ("warp_per_row lanes=16 nv=16 threads=128", (16, 16, 0)),
        ("vectorized", None),
        ("scalar", None),
        ("unsupported", None),
        ("", None),
    ],
)
def test_auto_shape_parses_launch_config_strings(desc: str, expected) -> None:
    assert tune.auto_shape(desc) == expected


# --- choose -------------------------------------------------------------------------------


def test_choose_picks_fastest_shape_per_row_count() -> None:
    sweep = {
        "h2048_rows1": {"b1": 2.0, "b2": 3.0, "b4": 4.0},
        "h2048_rows16": {"b1": 5.0, "b2": 3.0, "b4": 4.0},
        "h2048_rows128": {"b1": 9.0, "b2": 8.0, "b4": 7.0},
    }
    table = tune.choose(sweep, 0.01)
    assert list(table) == [(256, False)]  # hidden 2048 bf16 = 4096 bytes = 256 packets
    assert _picks(table, 256) == {1: (1, 0, 0), 16: (2, 0, 0), 128: (4, 0, 0)}
    why = {r: w for r, *_, w in table[(256, False)]}
    assert why[16] == "b2 3.00 us"


def test_choose_ignores_non_shape_candidates_even_when_fastest() -> None:
    # copy_sm (the copy baseline) is always measured and often fastest; it is not a shape.
    sweep = {"h2048_rows1": {"copy_sm": 0.5, "b1": 3.0, "b2": 2.0, "note": "x", "b4": None}}
    assert _picks(tune.choose(sweep, 0.01), 256) == {1: (2, 0, 0)}


def test_choose_decodes_register_capped_and_warp_shape_names() -> None:
    sweep = {
        "h4096_rows2048": {"b1": 20.0, "b2": 15.0, "b2o6": 14.0, "w16": 30.0},
        "h4096_rows16": {"b1": 5.0, "b2o6": 6.0, "w16": 3.0},
    }
    picks = _picks(tune.choose(sweep, 0.01), 512)
    assert picks[2048] == (2, 0, 6)  # b2o6: nv 2, a block per row, min_blocks 6
    assert picks[16] == (16, 32, 0)  # w16: nv 16, a warp (32 lanes) per row


def test_choose_keeps_rule_default_within_margin() -> None:
    sweep = {
        # auto 10.05 <= 10.0 * 1.01: the rule default (nv 4) is kept over b1.
        "h2048_rows1": {"b1": 10.0, "b4": 10.3, "auto": 10.05, "auto_is": "block_per_row nv=4 threads=64"},
        # auto 10.2 > 10.1: beaten by more than the margin, b1 wins.
        "h2048_rows16": {"b1": 10.0, "b4": 10.3, "auto": 10.2, "auto_is": "block_per_row nv=4 threads=64"},
        # exactly equal, even with margin 0 handled below: kept.
        "h2048_rows128": {"b1": 10.0, "auto": 10.0, "auto_is": "block_per_row nv=2 threads=128 min_blocks=6"},
    }
    table = tune.choose(sweep, 0.01)
    assert _picks(table, 256) == {1: (4, 0, 0), 16: (1, 0, 0), 128: (2, 0, 6)}
    why = {r: w for r, *_, w in table[(256, False)]}
    assert why[1] == "rule default kept (10.05 us vs best b1 10.00)"
    assert why[16] == "b1 10.00 us"

    # a larger margin keeps the default for rows 16 too; margin 0 still keeps a tie
    assert _picks(tune.choose(sweep, 0.05), 256)[16] == (4, 0, 0)
    assert _picks(tune.choose(sweep, 0.0), 256) == {1: (1, 0, 0), 16: (1, 0, 0), 128: (2, 0, 6)}


def test_choose_rule_default_needs_parsable_description_and_numeric_time() -> None:
    sweep = {
        "h2048_rows1": {"b1": 10.0, "b2": 11.0, "auto": 9.0},  # no auto_is
        "h2048_rows16": {"b1": 10.0, "b2": 11.0, "auto": 9.0, "auto_is": "vectorized"},
        "h2048_rows128": {"b1": 10.0, "b2": 11.0, "auto": None, "auto_is": "block_per_row nv=4 threads=64"},
    }
    assert _picks(tune.choose(sweep, 0.01), 256) == {1: (1, 0, 0), 16: (1, 0, 0), 128: (1, 0, 0)}


def test_choose_groups_by_row_length_and_op_and_sorts_rows_numerically() -> None:
    sweep = _winners("h4096_rows128=b1 h4096_rows2=b2 h4096_rows16=b4 fused_h4096_rows2=b8 h8192_rows1=b16")
    table = tune.choose(sweep, 0.01)
    assert set(table) == {(512, False), (512, True), (1024, False)}
    assert [r for r, *_ in table[(512, False)]] == [2, 16, 128]  # not string order (128, 16, 2)
    assert _picks(table, 512, fused=True) == {2: (8, 0, 0)}
    assert _picks(table, 1024) == {1: (16, 0, 0)}


def test_choose_ignores_keys_not_matching_pattern_and_rows_without_shapes() -> None:
    sweep = {
        **_winners("copy_peak=b1 h2048=b1 h2048_rows=b1 fp16_h2048_rows1=b1 h2048_rows1_extra=b1 xh2048_rows1=b1"),
        "h2048_rows16": {"copy_sm": 1.0, "auto": 1.0, "auto_is": "block_per_row nv=1 threads=256"},
        "h2048_rows4": {"bx": 1.0, "w": 2.0, "b2o": 3.0, "c2": 0.1},
    }
    assert tune.choose(sweep, 0.01) == {}
    sweep["h2048_rows8"] = {"b2": 1.0}
    assert _picks(tune.choose(sweep, 0.01), 256) == {8: (2, 0, 0)}


# --- render -------------------------------------------------------------------------------


def test_render_boundaries_are_integer_geometric_means_and_last_is_int64_max() -> None:
    sweep = _winners(
        "h2048_rows1=b1 h2048_rows16=b2 h2048_rows128=b4 h2048_rows65536=w8 fused_h2048_rows3=b1 fused_h2048_rows5=b2o6"
    )
    text = tune.render(tune.choose(sweep, 0.01), "sweep.json")
    assert text.splitlines()[0] == "// Generated by scripts/tune_table.py from sweep.json -- do not edit by hand."
    got = [e[:6] for e in _entries(text)]
    assert got == [
        (256, False, "4", 1, 0, 0),  # sqrt(1*16) = 4
        (256, False, "45", 2, 0, 0),  # sqrt(16*128) = 45.25 -> 45
        (256, False, "2896", 4, 0, 0),  # sqrt(128*65536) = 2896.3 -> 2896
        (256, False, "INT64_MAX", 8, 32, 0),
        (256, True, "3", 1, 0, 0),  # sqrt(15) = 3.87 -> 3 (floor, not round)
        (256, True, "INT64_MAX", 2, 0, 6),
    ]
    comments = [e[6] for e in _entries(text)]
    assert comments[0] == "rows 1: b1 1.00 us"
    assert comments[-1] == "rows 5: b2o6 1.00 us"
    assert "never matches" not in text


def test_render_single_row_count_gets_int64_max() -> None:
    text = tune.render(tune.choose({"h8192_rows512": {"b4": 7.0}}, 0.01), "s")
    assert [e[:6] for e in _entries(text)] == [(1024, False, "INT64_MAX", 4, 0, 0)]


def test_render_empty_sweep_has_never_matching_placeholder() -> None:
    text = tune.render(tune.choose({"bogus": {"b1": 1.0}}, 0.01), "empty.json")
    entries = _entries(text)
    assert len(entries) == 1
    npack, fused, max_rows, nv, lanes, mb, comment = entries[0]
    assert (npack, fused, max_rows) == (0, False, "0")  # npack 0 never matches a real row
    assert nv >= 1 and "never matches" in comment
    assert "inline constexpr TunedShape kTunedShapes[] = {" in text
    assert text.rstrip().endswith("}  // namespace rmsnorm")


def test_main_writes_header_with_provenance_and_reads_bare_or_wrapped_sweeps(tmp_path) -> None:
    sweep = _winners("h2048_rows1=b1 h2048_rows16=b2")
    wrapped = tmp_path / "wrapped.json"
    wrapped.write_text(json.dumps({"provenance": {"device": "GPUX", "commit": "abc1234"}, "tuning_bf16": sweep}))
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps(sweep))
    out_w, out_b = tmp_path / "w.h", tmp_path / "b.h"
    assert tune.main([str(wrapped), "--out", str(out_w)]) == 0
    assert tune.main([str(bare), "--out", str(out_b)]) == 0
    w, b = out_w.read_text(), out_b.read_text()
    assert (
        w.splitlines()[0]
        == "// Generated by scripts/tune_table.py from wrapped.json (GPUX, commit abc1234) -- do not edit by hand."
    )
    assert b.splitlines()[0] == "// Generated by scripts/tune_table.py from bare.json -- do not edit by hand."
    assert w.splitlines()[1:] == b.splitlines()[1:]
    assert [e[:6] for e in _entries(w)] == [(256, False, "4", 1, 0, 0), (256, False, "INT64_MAX", 2, 0, 0)]


def test_main_margin_option_is_applied(tmp_path) -> None:
    sweep = {"h2048_rows1": {"b1": 10.0, "auto": 10.3, "auto_is": "block_per_row nv=4 threads=64"}}
    src = tmp_path / "s.json"
    src.write_text(json.dumps(sweep))
    out = tmp_path / "t.h"
    tune.main([str(src), "--out", str(out)])
    assert _entries(out.read_text())[0][3] == 1
    tune.main([str(src), "--out", str(out), "--margin", "0.05"])
    assert _entries(out.read_text())[0][3] == 4


def test_committed_header_matches_committed_sweep(tmp_path) -> None:
    """Regenerating tuned_shapes.h from the committed sweep reproduces the committed header
    (except line 1, which names the source file and commit)."""
    out = tmp_path / "t.h"
    assert tune.main([str(SWEEP), "--out", str(out)]) == 0
    regenerated = out.read_text().splitlines()
    committed = HEADER.read_text().splitlines()
    assert regenerated[0].startswith("// Generated by scripts/tune_table.py from ")
    assert committed[0].startswith("// Generated by scripts/tune_table.py from ")
    assert regenerated[1:] == committed[1:]
    assert len(_entries(HEADER.read_text())) == 40  # 3 plain row lengths + fused 512, 10 row counts each


# --- run_device.shapes_for ----------------------------------------------------------------


def _thread_cap(nv: int) -> int:
    return 256 if nv >= 16 else 512 if nv >= 8 else 1024


@pytest.mark.parametrize(
    ("npack", "expected"),
    [
        (256, {"b1": (1, 0), "b2": (2, 0), "b4": (4, 0), "b8": (8, 0), "b2o6": (2, 0, 6), "w8": (8, 32)}),
        (
            512,
            {
                "b1": (1, 0),
                "b2": (2, 0),
                "b4": (4, 0),
                "b8": (8, 0),
                "b16": (16, 0),
                "b2o6": (2, 0, 6),
                "w16": (16, 32),
            },
        ),
        (1024, {"b1": (1, 0), "b2": (2, 0), "b4": (4, 0), "b8": (8, 0), "b16": (16, 0)}),
    ],
)
def test_shapes_for_swept_row_lengths(npack: int, expected: dict) -> None:
    assert run_device.shapes_for(npack) == expected


@pytest.mark.parametrize("npack", [256, 512, 1024])
def test_shapes_for_respects_thread_limits_and_row_coverage(npack: int) -> None:
    shapes = run_device.shapes_for(npack)
    blocks = {k: v for k, v in shapes.items() if v[1] == 0 and len(v) == 2}
    assert blocks
    for name, (nv, _) in blocks.items():
        threads = -(-npack // nv)
        assert 32 <= threads <= _thread_cap(nv), (name, threads)
        assert name == f"b{nv}"
    # every nv whose block would fit the limits is offered
    fitting = {nv for nv in (1, 2, 4, 8, 16) if 32 <= -(-npack // nv) <= _thread_cap(nv)}
    assert {v[0] for v in blocks.values()} == fitting

    assert ("b2o6" in shapes) == (-(-npack // 2) <= 256)
    if "b2o6" in shapes:
        assert shapes["b2o6"] == (2, 0, 6)

    warps = {k: v for k, v in shapes.items() if k.startswith("w")}
    assert len(warps) <= 1
    for name, (nv, lanes) in warps.items():
        assert lanes == 32 and name == f"w{nv}"
        assert 32 * nv >= npack  # one warp covers the whole row
        assert nv == 1 or 32 * (nv // 2) < npack  # and it is the smallest nv that does
    if npack <= 32 * 16:
        assert warps, "a warp shape covering the row exists and should be offered"


def test_shapes_for_names_are_parsed_by_tune_table_consistently() -> None:
    """Every shape a sweep forces must decode in tune_table to the same (nv, lanes, min_blocks)."""
    for npack in (256, 512, 1024):
        for name, shape in run_device.shapes_for(npack).items():
            table = tune.choose({f"h{npack * 8}_rows1": {name: 1.0}}, 0.01)
            nv, lanes, mb = _picks(table, npack)[1]
            assert (nv, lanes, mb) == (shape[0], shape[1], shape[2] if len(shape) > 2 else 0), name
