"""Tamper suite: attack a real demo session as someone with write access to its lab, count what audit catches.

    python benchmarks/tamper_suite.py [--out benchmarks/results/tamper_suite.json]

Builds the offline demo lab (sweep agents), runs a headless session, approves and merges the best
candidate from the CLI (signed with a throw-away key under a temporary $XDG_CONFIG_HOME), starts a
second session, then applies each attack to a fresh copy of the lab and runs ``labconsole audit verify``.
A case is caught when verify exits non-zero; its first output line is the one-line reason.
The attacker can rewrite files and recompute the hash chain, but does not hold the person's key.
Prints caught/tried and writes JSON. ``tests/audit/test_tamper_suite.py`` runs the same cases.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from throwaway_keys import throwaway_keys  # noqa: E402  (a sibling script)


@dataclass(frozen=True)
class Demo:
    lab: Path
    session: str  # the session with the approval, merge and close seal
    other: str  # a second, short session of the same lab
    hyp: str  # the approved and merged candidate
    sha: str  # its approved commit
    unapproved: Path  # a copy of the lab taken before the person approved anything


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def build_demo(workdir: Path) -> Demo:
    """A real session: sweep agents, measured candidates, a signed approval and merge through the CLI."""
    from labconsole.cli import main
    from labconsole.cli.headless import run_headless
    from labconsole.demo import create_demo_lab
    from labconsole.lab import state as S
    from labconsole.lab.service import Lab

    lab = create_demo_lab(workdir / "lab")
    toml = lab / "lab.toml"
    text = re.sub(r"(?m)^budget\s*=\s*\d+", "budget = 2", toml.read_text())
    text = re.sub(r"(?m)^worker\s*=.*$", 'worker = { backend = "sweep", count = 2 }', text)
    toml.write_text(re.sub(r"(?m)^repeats\s*=\s*\d+", "repeats = 2", text))
    git(lab, "commit", "-qam", "tamper suite settings")
    first = Lab.start_session(lab)
    try:
        state = run_headless(first, timeout_s=300, echo=False)
    finally:
        first.close()
    waiting = [h for h in state.leaderboard() if h.status == S.AWAITING_HUMAN]
    if not waiting:
        raise RuntimeError("the demo session produced no candidate to approve")
    best = waiting[0]
    unapproved = workdir / "unapproved"
    shutil.copytree(lab, unapproved, symlinks=True)
    with contextlib.redirect_stdout(io.StringIO()):
        assert (
            main(
                [
                    "review",
                    "approve",
                    best.hyp_id,
                    "--lab",
                    str(lab),
                    "--yes",
                    "--who",
                    "tester",
                    "--reason",
                    "tamper suite",
                ]
            )
            == 0
        )
        assert main(["merge", best.hyp_id, "--lab", str(lab), "--who", "tester"]) == 0
    second = Lab.start_session(lab)
    second.close()
    return Demo(lab, first.session_id, second.session_id, best.hyp_id, str(best.sha), unapproved)


# --------------------------------------------------------------------------- the attacker's tools


def lines_of(session: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (session / "events.jsonl").read_text().splitlines()]


def write(session: Path, events: list[dict[str, Any]], rechain_from: int | None = 0) -> None:
    """Write events back; from ``rechain_from`` on, renumber seq and recompute prev/hash (a valid chain)."""
    from labconsole.events.log import GENESIS, canonical_json, compute_hash

    out: list[str] = []
    prev = GENESIS
    for i, ev in enumerate(events):
        rechain = rechain_from is not None and i >= rechain_from
        if rechain:
            ev = {**ev, "seq": i, "prev": prev}
        # The log's own encoding of the hashed fields: a forged line must look like an honest one.
        body = canonical_json({k: ev[k] for k in ("seq", "ts", "kind", "actor", "data")})
        if rechain:
            ev["hash"] = compute_hash(prev, body)
        out.append(f'{body[:-1]},"prev":"{ev["prev"]}","hash":"{ev["hash"]}"}}')
        prev = ev["hash"]
    (session / "events.jsonl").write_text("".join(line + "\n" for line in out))


def index_of(events: list[dict[str, Any]], kind: str, last: bool = False) -> int:
    found = [i for i, ev in enumerate(events) if ev["kind"] == kind]
    return found[-1] if last else found[0]


def checkpoints(events: list[dict[str, Any]]) -> list[int]:
    return [i for i, ev in enumerate(events) if ev["kind"] == "seal.checkpoint"]


# --------------------------------------------------------------------------- the cases


def edit(d: Demo, s: Path) -> None:
    ev = lines_of(s)
    i = index_of(ev, "run.finished")
    raw = (s / "events.jsonl").read_text().splitlines()
    raw[i] = raw[i].replace('"status":"ok"', '"status":"failed"') if '"status":"ok"' in raw[i] else raw[i] + " "
    (s / "events.jsonl").write_text("\n".join(raw) + "\n")


def delete(d: Demo, s: Path) -> None:
    raw = (s / "events.jsonl").read_text().splitlines()
    del raw[len(raw) // 2]
    (s / "events.jsonl").write_text("\n".join(raw) + "\n")


def reorder(d: Demo, s: Path) -> None:
    raw = (s / "events.jsonl").read_text().splitlines()
    i = len(raw) // 2
    raw[i], raw[i + 1] = raw[i + 1], raw[i]
    (s / "events.jsonl").write_text("\n".join(raw) + "\n")


def insert(d: Demo, s: Path) -> None:
    ev = lines_of(s)
    i = index_of(ev, "decision.approved")
    ev.insert(
        i,
        {
            "seq": 0,
            "ts": ev[i]["ts"],
            "kind": "note",
            "actor": "console",
            "prev": "",
            "hash": "",
            "data": {"text": "all candidates were reviewed"},
        },
    )
    write(s, ev, rechain_from=i)  # a chain that verifies line by line


def truncate(n: int) -> Callable[[Demo, Path], None]:
    def cut(d: Demo, s: Path) -> None:
        raw = (s / "events.jsonl").read_text().splitlines()
        (s / "events.jsonl").write_text("\n".join(raw[:-n]) + "\n")

    cut.__name__ = f"truncate_{n}"
    return cut


def truncate_after_checkpoint(d: Demo, s: Path) -> None:
    """Cut back to an earlier checkpoint: the log then ends with a valid signed seal."""
    ev = lines_of(s)
    keep = checkpoints(ev)[-2]
    write(s, ev[: keep + 1], rechain_from=None)


def forged_approval(d: Demo, s: Path) -> None:
    """Turn the rejection-free tail into an approval and merge of a commit, chain recomputed, no key."""
    ev = lines_of(s)
    i = index_of(ev, "decision.approved")
    forged = {**ev[i], "data": {k: v for k, v in ev[i]["data"].items() if k != "signature"}}
    forged["data"]["reason"] = "looks good to me"
    ev[i] = forged
    write(s, ev, rechain_from=i)


def forged_with_unknown_key(d: Demo, s: Path) -> None:
    """A properly signed approval, but by the attacker's own key."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from labconsole.events.signing import Signer, sign_decision

    key = Ed25519PrivateKey.generate()
    from cryptography.hazmat.primitives import serialization

    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()
    signer = Signer(key, public, Path("/attacker"))
    ev = lines_of(s)
    i = index_of(ev, "decision.approved")
    data = {k: v for k, v in ev[i]["data"].items() if k != "signature"}
    data["signature"] = sign_decision(
        signer, session_id=d.session, seq=i, prev=ev[i]["prev"], kind=ev[i]["kind"], actor=ev[i]["actor"], data=data
    )
    ev[i] = {**ev[i], "data": data}
    write(s, ev, rechain_from=i)


def replayed_approval(d: Demo, s: Path) -> None:
    """The other session's log gains this session's signed approval (and merge), chain recomputed."""
    source = lines_of(s)
    other = s.parent / d.other
    ev = lines_of(other)
    approval = source[index_of(source, "decision.approved")]
    merge = source[index_of(source, "merge.completed")]
    ev[-1:-1] = [approval, merge]
    write(other, ev, rechain_from=len(ev) - 3)
    shutil.copytree(s / "blobs", other / "blobs", dirs_exist_ok=True)


def approval_sha_differs(d: Demo, s: Path) -> None:
    ev = lines_of(s)
    i = index_of(ev, "decision.approved")
    ev[i]["data"]["sha"] = git(d.lab, "rev-parse", f"{d.sha}^")
    write(s, ev, rechain_from=i)


def merge_sha_differs(d: Demo, s: Path) -> None:
    """The log claims the merge brought in a different commit than the approved one."""
    ev = lines_of(s)
    i = index_of(ev, "merge.completed")
    ev[i]["data"]["sha"] = git(d.lab, "rev-parse", f"{d.sha}^")
    write(s, ev, rechain_from=i)


def evidence_differs(d: Demo, s: Path) -> None:
    ev = lines_of(s)
    i = index_of(ev, "merge.completed")
    ev[i]["data"]["evidence_hash"] = "0" * 64
    write(s, ev, rechain_from=i)


def swapped_blob(d: Demo, s: Path) -> None:
    ev = lines_of(s)
    digest = ev[index_of(ev, "evidence.recorded")]["data"]["blob"]
    (s / "blobs" / digest).write_text('{"runs": []}')


def deleted_blob(d: Demo, s: Path) -> None:
    ev = lines_of(s)
    (s / "blobs" / ev[index_of(ev, "evidence.recorded")]["data"]["blob"]).unlink()


def swapped_public_key(d: Demo, s: Path) -> None:
    """Rewrite the whole session under the attacker's key: key recorded, every decision and seal re-signed,
    the external seal in git rewritten too."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from labconsole.events.seal import Sealer
    from labconsole.events.signing import SIGNED_KINDS, Signer, sign_decision

    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()
    signer = Signer(key, public, Path("/attacker"))
    sealer = Sealer(signer, d.session, d.lab)
    ev = lines_of(s)
    ev[0]["data"]["signing_key"] = public
    write(s, ev, rechain_from=0)
    ev = lines_of(s)
    for i in range(len(ev)):  # re-sign in order: each signature covers the prev hash of its line
        if ev[i]["kind"] in SIGNED_KINDS:
            data = {k: v for k, v in ev[i]["data"].items() if k != "signature"}
            data["signature"] = sign_decision(
                signer,
                session_id=d.session,
                seq=i,
                prev=ev[i]["prev"],
                kind=ev[i]["kind"],
                actor=ev[i]["actor"],
                data=data,
            )
            ev[i]["data"] = data
        elif ev[i]["kind"] == "seal.checkpoint":
            ev[i]["data"] = sealer.checkpoint(i - 1, ev[i - 1]["hash"], ev[i]["data"].get("reason", "close"))
        write(s, ev, rechain_from=i)
        ev = lines_of(s)
    sealer.sealed(len(ev) - 1, ev[-1]["hash"])
    sealer.flush()


def merge_without_approval(d: Demo, s: Path) -> None:
    """A commit merged into main by hand, with no approval in any session."""
    git(d.lab, "checkout", "-q", "-b", "sneaky")
    (d.lab / "sneaky.txt").write_text("merged by hand\n")
    git(d.lab, "add", "sneaky.txt")
    git(d.lab, "commit", "-qm", "sneaky change")
    main_branch = json.loads((s / "events.jsonl").read_text().splitlines()[0])["data"]["main_branch"]
    git(d.lab, "checkout", "-q", main_branch)
    git(d.lab, "merge", "-q", "--no-ff", "-m", "Merge sneaky", "sneaky")


CASES: list[tuple[str, Callable[[Demo, Path], None]]] = [
    ("edit", edit),
    ("delete", delete),
    ("reorder", reorder),
    ("insert", insert),
    ("truncate 1 line", truncate(1)),
    ("truncate 3 lines", truncate(3)),
    ("truncate 60 lines", truncate(60)),
    ("truncate after the last checkpoint", truncate_after_checkpoint),
    ("forged approval, recomputed chain", forged_approval),
    ("forged approval signed by an unknown key", forged_with_unknown_key),
    ("approval replayed from another session", replayed_approval),
    ("approval of a different sha than merged", approval_sha_differs),
    ("merge of a different sha than approved", merge_sha_differs),
    ("evidence differs from what was merged", evidence_differs),
    ("swapped blob", swapped_blob),
    ("deleted blob", deleted_blob),
    ("swapped public key", swapped_public_key),
    ("merge on main without approval", merge_without_approval),
]


def verify(lab: Path, session: Path) -> tuple[int, str, list[str]]:
    from labconsole.cli import main

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(["audit", "verify", str(session), "--lab", str(lab)])
    lines = buf.getvalue().splitlines()
    reason = next(
        (ln for ln in lines if not ln.startswith(("OK ", "seq ", "note:", "warning:"))), lines[0] if lines else ""
    )
    return rc, reason, lines


def run_case(demo: Demo, name: str, attack: Callable[[Demo, Path], None], workdir: Path) -> dict[str, Any]:
    lab = workdir / re.sub(r"[^a-z0-9]+", "-", name.lower())
    shutil.copytree(demo.lab, lab, symlinks=True)
    copy = Demo(lab, demo.session, demo.other, demo.hyp, demo.sha, demo.unapproved)
    session = lab / "sessions" / (demo.other if attack is replayed_approval else demo.session)
    attack(copy, lab / "sessions" / demo.session)
    rc, reason, lines = verify(lab, session)
    return {"case": name, "caught": rc != 0, "exit": rc, "reason": reason, "output": lines}


def merge_forged_approval(demo: Demo) -> dict[str, Any]:
    """Before the person approved anything: append an approval with a valid chain and no signature (what any
    writer of the file can do), then ask `labconsole merge` to merge it. It must refuse, in one line."""
    from labconsole.cli import main

    session = demo.unapproved / "sessions" / demo.session
    ev = lines_of(session)
    evidence = [e for e in ev if e["kind"] == "evidence.recorded" and e["data"]["hyp_id"] == demo.hyp][-1]
    ev.append(
        {
            "seq": 0,
            "ts": ev[-1]["ts"],
            "kind": "decision.approved",
            "actor": "human:tester",
            "prev": "",
            "hash": "",
            "data": {
                "hyp_id": demo.hyp,
                "sha": demo.sha,
                "who": "tester",
                "reason": "forged",
                "evidence_hash": evidence["data"]["evidence_hash"],
            },
        }
    )
    write(session, ev, rechain_from=len(ev) - 1)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = main(["merge", demo.hyp, "--lab", str(demo.unapproved), "--who", "tester"])
    merged = git(demo.unapproved, "log", "-1", "--format=%s").startswith(f"Merge {demo.hyp}")
    return {
        "case": "labconsole merge of a forged approval",
        "caught": rc != 0 and not merged,
        "exit": rc,
        "reason": err.getvalue().strip(),
    }


def run_suite(demo: Demo, workdir: Path) -> dict[str, Any]:
    baseline_rc, baseline_reason, _ = verify(demo.lab, demo.lab / "sessions" / demo.session)
    results = [run_case(demo, name, attack, workdir) for name, attack in CASES]
    results.append(merge_forged_approval(demo))
    caught = sum(r["caught"] for r in results)
    return {
        "untampered_exit": baseline_rc,
        "untampered": baseline_reason,
        "caught": caught,
        "tried": len(results),
        "cases": results,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "tamper_suite.json")
    args = ap.parse_args(argv)
    with throwaway_keys(prefix="labconsole-tamper-") as work:
        t0 = time.perf_counter()
        demo = build_demo(work)
        built = time.perf_counter() - t0
        report = run_suite(demo, work / "cases")
    report["build_demo_s"] = round(built, 1)
    for r in report["cases"]:
        print(f"{'caught' if r['caught'] else 'MISSED':<7} {r['case']:<44} exit {r['exit']}  {r['reason']}")
    print(
        f"caught {report['caught']}/{report['tried']} (the untampered session verifies with exit "
        f"{report['untampered_exit']})"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0 if report["caught"] == report["tried"] and report["untampered_exit"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
