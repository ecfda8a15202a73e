"""Escape suite: hostile code tries every escape through each backend's door; prints blocked/tried per backend.

Backends: ``sweep`` (its candidates are measured: the hostile script is the objective), ``tool-loop`` (the
openai/anthropic backends' ``run_command``), ``claude-code`` and ``codex`` (the real CLIs against the local
scripted model server, when installed: ``LABCONSOLE_NPM_PREFIX`` or ``.labconsole-cache/npm``). A CLI agent
shares the host network by design (its model endpoint), so ``network_tcp`` is not tried for agents.

    PYTHONPATH=. python benchmarks/escape_suite.py [--out benchmarks/results/escape_suite.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import pytest  # noqa: E402  (its MonkeyPatch sets the fake HOME and the secret for the world)

from labconsole.core.sandbox import bwrap_path  # noqa: E402
from tests.escape.runners import AGENT_CASES, cli_agent, cli_path, measured, tool_loop  # noqa: E402
from tests.escape.world import CASES, make_world  # noqa: E402


def one(name: str, runner, cases: tuple[str, ...], *args) -> dict:
    mp = pytest.MonkeyPatch()
    world = make_world(mp)
    started = time.monotonic()
    try:
        results, _ = runner(world, *args)
        damage = world.damage()
    finally:
        world.close()
        mp.undo()
    escaped = sorted(c for c in cases if results.get(c) == "escaped")
    not_tried = sorted(c for c in cases if c not in results)
    return {
        "backend": name,
        "tried": len(cases) - len(not_tried),
        "blocked": sum(results.get(c) == "blocked" for c in cases),
        "escaped": escaped,
        "not_tried": not_tried,
        "damage": damage,
        "seconds": round(time.monotonic() - started, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "escape_suite.json")
    args = parser.parse_args()
    rows = [one("sweep", measured, CASES), one("tool-loop", tool_loop, CASES)]
    for backend in ("claude-code", "codex"):
        if cli_path(backend) is None:
            rows.append({"backend": backend, "skipped": "CLI not installed (tests/helpers/install_clis.sh)"})
            continue
        home = Path(tempfile.mkdtemp(prefix="escape-home-"))
        try:
            rows.append(one(backend, cli_agent, AGENT_CASES, backend, home))
        finally:
            shutil.rmtree(home, ignore_errors=True)
    print(f"sandbox: {'bwrap ' + str(bwrap_path()) if bwrap_path() else 'NONE (degraded)'}")
    for row in rows:
        if "skipped" in row:
            print(f"{row['backend']:12s} skipped: {row['skipped']}")
            continue
        extra = f"  escaped: {', '.join(row['escaped'])}" if row["escaped"] else ""
        print(f"{row['backend']:12s} blocked {row['blocked']}/{row['tried']}{extra}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"host": platform.node(), "bwrap": bwrap_path(), "cases": list(CASES), "backends": rows}, indent=2)
        + "\n"
    )
    print(f"wrote {args.out}")
    return 0 if all(not r.get("escaped") and not r.get("damage") for r in rows if "skipped" not in r) else 1


if __name__ == "__main__":
    sys.exit(main())
