"""What signing and sealing cost: `review approve`'s extra time, and `audit verify` of a 1M-event session.

    python benchmarks/bench_audit.py [--events 1000000] [--approvals 40] [--out benchmarks/results/audit_cpu.json]

1. Approve: in a real Lab on the demo lab (a throw-away key under a temporary $XDG_CONFIG_HOME), the
   decision event appended as before (``Lab.append``, no sealer) against ``Lab.append_signed`` (ed25519
   signature, append, signed checkpoint, the seal written to git and the state dir), interleaved; the
   gate checks around them are the same either way. Target: < 50 ms extra (median and p90 reported).
2. Verify: the same 1M synthetic events (benchmarks/bench_eventlog.py's session mix) written unsigned
   and sealed (every decision signed, a checkpoint after each and every 1000 events, an external seal),
   then timed in one run: the audit as it was before sealing (``audit.py`` at the commit before this
   work, loaded from git) on the unsigned log, today's audit on the unsigned log, and today's on the
   sealed one (in byte ranges on up to 8 processes, and on one). Target: sealed < 10 s. Ratios against
   the pre-seal audit are printed and written.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from throwaway_keys import throwaway_keys  # noqa: E402  (a sibling script)

BEFORE_SEALING = "bc7cef4"  # the commit this work started from: audit.py without signatures or seals


def bench_approve(work: Path, n: int) -> dict[str, Any]:
    from labconsole.demo import create_demo_lab
    from labconsole.events import kinds as K
    from labconsole.lab.service import Lab

    lab_dir = create_demo_lab(work / "lab")
    lab = Lab.start_session(lab_dir)
    plain_ms: list[float] = []
    signed_ms: list[float] = []
    try:
        sealer = lab._sealer
        for i in range(2 * n):  # the reducer folds an approval into its hypothesis: propose them first
            lab.append(K.HYP_PROPOSED, "agent:bench", {"hyp_id": f"b{i:04d}", "title": "bench", "params": {}})
        for i in range(n):

            def data(hyp: str, i: int = i) -> dict[str, Any]:
                return {
                    "hyp_id": hyp,
                    "sha": f"{i:040x}",
                    "evidence_hash": f"{i:064x}",
                    "who": "bench",
                    "reason": "bench",
                    "flags": [],
                }

            lab._sealer = None  # as before this work: the decision appended, nothing signed or sealed
            t = time.perf_counter()
            lab.append(K.DECISION_APPROVED, "human:bench", data(f"b{2 * i:04d}"))
            plain_ms.append((time.perf_counter() - t) * 1000)
            lab._sealer = sealer
            t = time.perf_counter()
            lab.append_signed(K.DECISION_APPROVED, "bench", data(f"b{2 * i + 1:04d}"))
            signed_ms.append((time.perf_counter() - t) * 1000)
    finally:
        lab.close()
    extra = [s - p for s, p in zip(signed_ms, plain_ms, strict=True)]
    return {
        "approvals": n,
        "plain_ms_median": round(statistics.median(plain_ms), 2),
        "signed_ms_median": round(statistics.median(signed_ms), 2),
        "extra_ms_median": round(statistics.median(extra), 2),
        "extra_ms_p90": round(sorted(extra)[int(0.9 * (len(extra) - 1))], 2),
        "target_extra_ms": 50,
    }


def _write(
    session_dir: Path, items: Iterator[tuple[str, str, dict[str, Any]]], *, sealed: bool, every: int = 1000
) -> int:
    """A chained log in bulk (the writer's encoding); sealed: signed decisions and checkpoints as the Lab does."""
    from labconsole.events import kinds as K
    from labconsole.events.log import GENESIS, LOG_NAME, _body, _line, compute_hash
    from labconsole.events.seal import Sealer
    from labconsole.events.signing import SIGNED_KINDS, load_signer, sign_decision

    session_dir.mkdir(parents=True, exist_ok=True)
    session_id = session_dir.name
    signer = load_signer(announce=False) if sealed else None
    sealer = Sealer(signer, session_id, session_dir.parent.parent) if signer else None
    state = {"seq": -1, "prev": GENESIS, "checkpoint": -1}
    with open(session_dir / LOG_NAME, "w", encoding="utf-8", buffering=1 << 22) as f:

        def emit(kind: str, actor: str, data: dict[str, Any]) -> None:
            seq = state["seq"] + 1
            body = _body(seq, round(1.7e9 + seq * 0.01, 6), kind, actor, data)
            digest = compute_hash(str(state["prev"]), body)
            f.write(_line(body, str(state["prev"]), digest) + "\n")
            state["seq"], state["prev"] = seq, digest

        def checkpoint(reason: str) -> None:
            assert sealer is not None
            emit(K.SEAL_CHECKPOINT, "console", sealer.checkpoint(int(state["seq"]), str(state["prev"]), reason))
            state["checkpoint"] = state["seq"]

        for kind, actor, data in items:
            if kind == K.SESSION_STARTED:
                data = {**data, "session_id": session_id}
                if signer:
                    data["signing_key"] = signer.public_hex
            if signer and kind in SIGNED_KINDS:
                actor = "human:bench"
                data = {
                    **data,
                    "signature": sign_decision(
                        signer,
                        session_id=session_id,
                        seq=int(state["seq"]) + 1,
                        prev=str(state["prev"]),
                        kind=kind,
                        actor=actor,
                        data=data,
                    ),
                }
            emit(kind, actor, data)
            if sealer and (kind in SIGNED_KINDS or int(state["seq"]) - int(state["checkpoint"]) >= every):
                checkpoint("decision" if kind in SIGNED_KINDS else "periodic")
        if sealer:
            checkpoint("close")
    if sealer:
        sealer.sealed(int(state["seq"]), str(state["prev"]))
        sealer.flush()
    return int(state["seq"]) + 1


def _audit_before() -> Any:
    """``labconsole/events/audit.py`` as it was before sealing, imported from git beside today's modules."""
    source = subprocess.run(
        ["git", "show", f"{BEFORE_SEALING}:labconsole/events/audit.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path = Path(tempfile.mkdtemp(prefix="audit-before-")) / "audit_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("audit_before", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["audit_before"] = module  # its dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def _cpu_s() -> float:
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def bench_verify(work: Path, n: int) -> dict[str, Any]:
    from bench_eventlog import synthetic_events

    from labconsole.events.audit import MAX_WORKERS, MIN_CORES, verify_session

    unsigned = work / "lab" / "sessions" / "unsigned"
    sealed = work / "lab" / "sessions" / "sealed"
    t = time.perf_counter()
    n_unsigned = _write(unsigned, synthetic_events(n, seed=3), sealed=False)
    n_sealed = _write(sealed, synthetic_events(n, seed=3), sealed=True)
    written_s = time.perf_counter() - t
    before = _audit_before()
    timings: dict[str, float] = {}
    outcome: dict[str, Any] = {}
    loads: dict[str, float] = {}
    for name, fn, session in (
        ("pre_seal_audit_unsigned_s", before.verify_session, unsigned),
        ("audit_unsigned_s", verify_session, unsigned),
        ("audit_sealed_s", verify_session, sealed),
        ("audit_sealed_one_process_s", functools.partial(verify_session, workers=1), sealed),
    ):
        cpu = _cpu_s()
        t = time.perf_counter()
        result = fn(session, live=False)
        timings[name] = round(time.perf_counter() - t, 2)
        loads[name[:-2] + "_load_avg_1m"] = round(os.getloadavg()[0], 2)  # other users of the cores, at its end
        # CPU seconds of this process: on a shared machine wall time says more about the load than the work.
        # Not for the runs on several processes: forkserver workers are not our children, rusage misses them.
        if session is unsigned or "one_process" in name:
            timings[name[:-2] + "_cpu_s"] = round(_cpu_s() - cpu, 2)
        outcome[name[:-2] + "_status"] = getattr(result, "seal_status", "") or "n/a"
        # the synthetic blob names are stand-ins (not stored): those are the only problems expected
        outcome[name[:-2] + "_non_blob_problems"] = sum("blob" not in p.message for p in result.problems)
    return {
        "events_unsigned": n_unsigned,
        "events_sealed": n_sealed,
        "write_s": round(written_s, 1),
        **timings,
        "ratio_sealed_vs_pre_seal": round(timings["audit_sealed_s"] / timings["pre_seal_audit_unsigned_s"], 2),
        "ratio_unsigned_vs_pre_seal": round(timings["audit_unsigned_s"] / timings["pre_seal_audit_unsigned_s"], 2),
        # CPU seconds on one process: what the work costs, whatever the machine's load does to wall time
        "ratio_sealed_one_process_cpu_vs_pre_seal_cpu": round(
            timings["audit_sealed_one_process_cpu_s"] / timings["pre_seal_audit_unsigned_cpu_s"], 2
        ),
        "target_sealed_s": 10,
        "workers": f"{os.cpu_count()} cores: audit_sealed_s on up to {MAX_WORKERS} processes from {MIN_CORES} cores",
        **outcome,
        **loads,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--approvals", type=int, default=40)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "audit_cpu.json")
    args = ap.parse_args(argv)
    from bench_eventlog import machine_info

    with throwaway_keys(prefix="labconsole-bench-audit-") as work:
        report: dict[str, Any] = {
            "benchmark": "audit",
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "machine": machine_info(work),
            "load_avg": os.getloadavg(),
        }
        report["approve"] = a = bench_approve(work / "approve", args.approvals)
        print(
            f"approve: {a['plain_ms_median']} ms unsigned, {a['signed_ms_median']} ms signed+sealed; extra "
            f"median {a['extra_ms_median']} ms, p90 {a['extra_ms_p90']} ms (target < 50 ms)"
        )
        report["verify"] = v = bench_verify(work / "verify", args.events)
        print(
            f"verify {v['events_sealed']:,} events sealed: {v['audit_sealed_s']} s (target < 10 s); unsigned "
            f"{v['events_unsigned']:,}: pre-seal audit {v['pre_seal_audit_unsigned_s']} s, today's "
            f"{v['audit_unsigned_s']} s; sealed on one process {v['audit_sealed_one_process_s']} s "
            f"(CPU: pre-seal {v['pre_seal_audit_unsigned_cpu_s']} s, sealed on one process "
            f"{v['audit_sealed_one_process_cpu_s']} s); "
            f"ratio sealed/pre-seal {v['ratio_sealed_vs_pre_seal']} wall, "
            f"{v['ratio_sealed_one_process_cpu_vs_pre_seal_cpu']} CPU on one process; load {report['load_avg'][0]:.1f}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
