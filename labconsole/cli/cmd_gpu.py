"""``labconsole gpu [--json] [--watch] [--interval S]``: the telemetry snapshot from the shell."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from labconsole.gpu.telemetry import DEFAULT_INTERVAL_S, MIN_INTERVAL_S, GpuTelemetry, GpuSnapshot


def register(sub: Any) -> None:
    p = sub.add_parser("gpu", help="show GPU telemetry (utilization, memory, power, clocks, processes)")
    p.add_argument("--json", action="store_true", help="print the snapshot as JSON (one object per line with --watch)")
    p.add_argument("--watch", action="store_true", help="refresh until interrupted")
    p.add_argument(
        "--interval",
        type=float,
        default=DEFAULT_INTERVAL_S,
        help=f"seconds between refreshes with --watch (minimum {MIN_INTERVAL_S})",
    )
    p.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)  # --watch: stop after N (tests)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, telemetry: GpuTelemetry | None = None) -> int:
    tel = telemetry or GpuTelemetry()
    interval = max(args.interval, MIN_INTERVAL_S)
    shown = 0
    try:
        while True:
            snap = tel.snapshot(max_age=0.0)
            if args.json:
                print(json.dumps(snap.to_dict()), flush=True)
            else:
                if args.watch and sys.stdout.isatty():
                    print("\x1b[H\x1b[2J", end="")  # clear screen between frames
                print(format_snapshot(snap), flush=True)
            shown += 1
            if not args.watch or not snap.available or (args.count and shown >= args.count):
                return 0  # no GPU is a state, not an error
            time.sleep(interval)
    except KeyboardInterrupt:
        return 0
    finally:
        tel.close()


def _fmt(value: Any, spec: str = "", suffix: str = "") -> str:
    return "n/a" if value is None else f"{value:{spec}}{suffix}"


def _gib(n: int | None) -> str:
    return "n/a" if n is None else f"{n / 2**30:.1f}"


def format_snapshot(snap: GpuSnapshot) -> str:
    """A plain-text table; the same rows the TUI's GPU panel shows."""
    if not snap.available:
        return snap.reason or "no GPU"
    lines = [f"driver {snap.driver_version or 'n/a'}"]
    header = f"{'GPU':>3}  {'name':<24} {'util':>5} {'mem GiB':>13} {'power W':>11} {'SM MHz':>6} {'mem MHz':>7} {'temp':>5}  throttle"
    lines.append(header)
    for g in snap.gpus:
        if g.error:
            lines.append(f"{g.index:>3}  {g.error}")
            continue
        mem = f"{_gib(g.mem_used_bytes)}/{_gib(g.mem_total_bytes)}"
        power = f"{_fmt(g.power_w, '.0f')}/{_fmt(g.power_limit_w, '.0f')}"
        throttle = "n/a" if g.throttle_reasons is None else (",".join(g.throttle_reasons) or "-")
        lines.append(
            f"{g.index:>3}  {(g.name or 'n/a')[:24]:<24} {_fmt(g.util_pct, '.0f', '%'):>5} {mem:>13} {power:>11} "
            f"{_fmt(g.sm_clock_mhz):>6} {_fmt(g.mem_clock_mhz):>7} {_fmt(g.temperature_c, '', 'C'):>5}  {throttle}"
        )
        for p in g.processes:
            lines.append(f"       pid {p.pid:<8} {_gib(p.used_mem_bytes):>6} GiB  {p.owner or '-':<20} {p.name or ''}")
    h = snap.host
    if h.cpu_pct is not None:
        lines.append(f"host  cpu {h.cpu_pct:.0f}%  ram {_gib(h.ram_used_bytes)}/{_gib(h.ram_total_bytes)} GiB")
    return "\n".join(lines)
