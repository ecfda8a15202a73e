"""The harness's reports inside a candidate's evidence: what `review show` prints and `publish` requires.

An evidence bundle lists the candidate's runs with their artifacts (name → blob digest). A run's
``bench.json`` was written by the objective *inside the candidate's run*, so it is hostile input: it is
parsed as JSON only, anything that is not a harness report (schema ``labconsole.bench/1``) is skipped,
and whoever prints it passes the text through :func:`labconsole.core.printable.printable`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from labconsole.core.printable import printable
from labconsole.errors import LabError
from labconsole.gpu.bench_report import format_report
from labconsole.gpu.bench_results import SCHEMA


def bench_reports(bundle: dict[str, Any], read_blob: Callable[[str], bytes]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(digest, report) for each harness report among the bundle's finished candidate runs, in run order."""
    for run in bundle.get("runs") or []:
        if not isinstance(run, dict) or run.get("role") != "candidate" or run.get("status") != "ok":
            continue
        artifacts = run.get("artifacts")
        for digest in artifacts.values() if isinstance(artifacts, dict) else ():
            try:
                report = json.loads(read_blob(str(digest)))
            except (ValueError, TypeError, OSError, LabError):  # missing or corrupt blob, not JSON
                continue
            if isinstance(report, dict) and report.get("schema") == SCHEMA:
                yield str(digest), report


def bench_table(bundle: dict[str, Any], read_blob: Callable[[str], bytes]) -> list[str]:
    """The harness's table from the candidate's newest report in ``bundle``, as printable lines; [] without one."""
    reports = list(bench_reports(bundle, read_blob))
    if not reports:
        return []
    digest, report = reports[-1]
    try:
        table = format_report(report)
    except Exception as exc:  # noqa: BLE001  (written by the candidate's run: any shape may come)
        return [f"bench report {digest[:12]}: unreadable ({type(exc).__name__}); `review show --json` has it raw"]
    head = f"bench report {digest[:12]} (the candidate's last of {len(reports)} runs with one):"
    return [head] + ["  " + printable(line) for line in table.splitlines()]
