"""wait_streaming with real processes: an escaped child that holds the output open cannot hold up the console."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

from labconsole.runs import output_pump
from labconsole.runs.output_pump import wait_streaming

# The run's process starts a child in a new session (out of reach of a process-group kill) that keeps the
# inherited stdout open for a minute, prints, and exits 0.
ESCAPES = textwrap.dedent(
    """
    import subprocess, sys
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    print("metric: 1.0", flush=True)
    """
)


def _start(code: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )


def test_an_escaped_child_holding_the_output_gets_a_grace_not_the_runs_timeout() -> None:
    proc = _start(ESCAPES)
    lines: list[str] = []
    t0 = time.monotonic()
    output, timed_out = wait_streaming(proc, 120.0, lines.append, lambda p: p.kill())
    took = time.monotonic() - t0
    assert not timed_out and proc.returncode == 0
    assert b"metric: 1.0" in output and lines == ["metric: 1.0\n"]
    # the old code read until the run's deadline (120 s here): the console's stop waited on a stray child
    assert took < output_pump.EXIT_GRACE_S + 10, took


def test_a_run_past_its_timeout_is_killed_and_says_so() -> None:
    proc = _start("import time; print('started', flush=True); time.sleep(60)")
    output, timed_out = wait_streaming(proc, 1.0, lambda _: None, lambda p: p.kill())
    assert timed_out and output == b"started\n" and proc.returncode is not None
