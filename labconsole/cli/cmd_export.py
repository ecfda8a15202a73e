"""``labconsole export --format autoresearch-tsv`` and ``labconsole import-results results.tsv``: a lab's
records in autoresearch's results.tsv, both ways (labconsole/lab/results_tsv.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from labconsole.cli.common import add_lab_args, lab_root
from labconsole.events import kinds as K
from labconsole.events.log import read_events
from labconsole.lab.results_tsv import params_of, read_tsv, session_rows, write_tsv
from labconsole.lab.service import Lab
from labconsole.lab.session import final_state, new_session_id, resolve_session
from labconsole.lab.state import next_hyp_id

FORMATS = ("autoresearch-tsv",)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export", help="write a session's decisions in another tool's format (autoresearch's results.tsv)"
    )
    add_lab_args(p)
    p.add_argument("--format", choices=FORMATS, default="autoresearch-tsv")
    p.add_argument("--out", type=Path, default=None, help="the file to write (default: stdout)")
    p.set_defaults(func=export)
    i = sub.add_parser(
        "import-results",
        help="read an autoresearch results.tsv as history: the planner will not propose what it already tried",
    )
    add_lab_args(i, session=False)
    i.add_argument("tsv", type=Path, help="the results.tsv")
    i.set_defaults(func=import_results)


def export(args: argparse.Namespace) -> int:
    root = lab_root(args)
    session_dir = resolve_session(root, args.session)
    state, _ = final_state(session_dir)
    metric = str(state.objective.get("name") or "metric")
    text = write_tsv(session_rows(state, read_events(session_dir)), metric)
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {args.out} ({text.count(chr(10)) - 1} rows from session {session_dir.name})")
    return 0


def import_results(args: argparse.Namespace) -> int:
    """The rows become the hypotheses of a session of their own (``…-imported``), which the scheduler reads
    like any earlier session: the planner's dedupe and the researcher's history see them. Nothing is
    measured or decided: each row says what the person recorded, in its rationale."""
    root = lab_root(args)
    rows = read_tsv(args.tsv)  # a malformed file fails here, before anything is written
    # The Lab service is the one writer of session logs; this session never starts agents.
    with Lab.start_session(root, new_session_id() + "-imported") as lab:
        lab.append(K.NOTE, "console", {"text": f"imported {len(rows)} rows of {args.tsv} as history"})
        metric = lab.config.objective.name
        for row in rows:
            hyp_id = next_hyp_id(lab.state)
            lab.append(
                K.HYP_PROPOSED,
                "console",
                {
                    "hyp_id": hyp_id,
                    "title": row.description,
                    "params": params_of(row.description),
                    "rationale": f"results.tsv: commit {row.commit}, {metric} {row.metric:g}, status {row.status}",
                    "source": f"imported from {args.tsv.name}",
                    "proposer": "import",
                },
            )
            if row.status == "crash":
                lab.append(
                    K.HYP_FAILED,
                    "console",
                    {"hyp_id": hyp_id, "step": "measure", "reason": "crash (recorded in results.tsv)"},
                )
        lab.append(K.SESSION_STOPPED, "console", {"reason": "import finished"})
        session_id = lab.session_id
    print(f"imported {len(rows)} rows of {args.tsv} as session {session_id}: the planner treats them as tried")
    return 0
