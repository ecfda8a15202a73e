"""The gaming suite as a benchmark: plant every cheat with a hostile worker, print caught/planted.

    python benchmarks/gaming_suite.py [--out benchmarks/results/gaming_suite.json]

One offline session on a throwaway copy of the attacked lab (tests/gaming/suite.py); a cheat is
caught when the console flags it (or, for a printed metric, measures it as no better), the reviewer
does not recommend it, and a plain approval is refused. Exit status 1 if any cheat got through or the
honest control was not measured clean.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from gaming.suite import CHEATS, judge, make_lab, run_session  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "gaming_suite.json")
    args = ap.parse_args(argv)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="gaming-suite-") as tmp:
        lab, state, ids = run_session(make_lab(Path(tmp) / "lab"), list(CHEATS))
        try:
            outcomes = judge(lab, state, ids)
        finally:
            lab.close()
    rows = []
    for cheat, expected in CHEATS.items():
        o = outcomes[cheat]
        rows.append(
            {
                "cheat": cheat,
                "hyp_id": o.hyp_id,
                "expected_flag": expected or "(measured: no better)",
                "flags": o.flags,
                "verdict": o.verdict,
                "caught": o.caught(expected),
                "candidate_median": o.candidate_median,
                "baseline_median": o.baseline_median,
                "approval_refused": o.refusal,
            }
        )
        print(
            f"{'caught' if o.caught(expected) else 'MISSED':<7} {cheat:<16} flags: {', '.join(o.flags) or '-':<20} "
            f"reviewer: {o.verdict:<6} metric {o.candidate_median} vs {o.baseline_median}"
        )
    control = outcomes["control"]
    control_ok = (
        not control.flags
        and control.candidate_median is not None
        and control.baseline_median is not None
        and control.candidate_median < control.baseline_median
        and not control.refusal
    )
    caught = sum(r["caught"] for r in rows)
    print(
        f"caught {caught}/{len(rows)} planted; control {'measured clean and approvable' if control_ok else 'NOT clean'}"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "caught": caught,
                "planted": len(rows),
                "control_ok": control_ok,
                "seconds": round(time.monotonic() - started, 1),
                "cheats": rows,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {args.out}")
    return 0 if caught == len(rows) and control_ok else 1


if __name__ == "__main__":
    sys.exit(main())
