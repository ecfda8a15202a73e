"""One measurement run away from the console: ship the exact commit, check it there, run it in the sandbox.

The console side makes a git bundle holding exactly one commit (:func:`make_bundle`), without touching
the lab repository's refs. The remote side (:func:`run_from_bundle`, executed by a Ray worker) fetches
the bundle into an empty repository, refuses to run unless ``HEAD`` is the commit the console asked
for, and runs the objective under the same sandbox builder as local runs (``runs/run_sandbox.py``).
It returns a plain dict (:class:`RemoteResult` fields) so that nothing but builtins crosses the wire.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from labconsole.core.config import Objective
from labconsole.runs.limits import Limiter, RunLimits
from labconsole.runs.metric import MetricError, extract_metric
from labconsole.runs.output_pump import wait_streaming
from labconsole.runs.run_sandbox import SANDBOX_DEGRADED, SandboxStatus, prepare

MAX_LOG_BYTES = 4 << 20  # the same cap as local runs: the last 4 MiB of the output
PUSH_S = 0.25  # how often a run's new lines go to the console's queue
MAX_BATCH_LINES = 500  # lines per push; more in one interval are dropped here and counted
SHIP_REF = "refs/labconsole/ship"
COMMIT_MISMATCH = "commit mismatch"


@dataclass
class RemoteResult:
    status: str  # ok | failed | timeout | crashed | invalid | refused
    metric: float | None = None
    returncode: int | None = None
    error: str = ""
    output: bytes = b""
    artifacts: dict[str, bytes] = field(default_factory=dict)
    tampering: list[str] = field(default_factory=list)
    sandbox: str = ""
    duration_s: float = 0.0
    node_id: str = ""  # the Ray node it ran on ("" outside Ray)
    node_ip: str = ""


# --- console side ---------------------------------------------------------------------------------


def make_bundle(repo_root: Path, sha: str, dest: Path) -> Path:
    """A bundle of ``sha`` (and its history) at ``dest``. Built in a scratch repository that borrows the
    lab's objects (git alternates), so the lab's refs are never written."""
    common = _git(repo_root, "rev-parse", "--path-format=absolute", "--git-common-dir").strip()
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="labconsole-bundle-") as scratch:
        _git(Path(scratch), "init", "-q", "--bare")
        Path(scratch, "objects", "info", "alternates").write_text(os.path.join(common, "objects") + "\n")
        _git(Path(scratch), "update-ref", SHIP_REF, sha)
        _git(Path(scratch), "bundle", "create", "-q", str(dest), SHIP_REF)
    return dest


# --- remote side ----------------------------------------------------------------------------------


def checkout_bundle(bundle: Path, sha: str, dest: Path) -> str:
    """Check out the bundle's commit at ``dest`` (a fresh clone with a real ``.git`` dir); returns the
    commit it got. Raises :class:`ValueError` (``commit mismatch …``) unless that is ``sha``."""
    dest.mkdir(parents=True)
    _git(dest, "init", "-q")
    _git(dest, "fetch", "-q", str(bundle), f"{SHIP_REF}:{SHIP_REF}")
    got = _git(dest, "rev-parse", f"{SHIP_REF}^{{commit}}").strip()
    if got != sha:
        raise ValueError(f"{COMMIT_MISMATCH}: the bundle holds {got[:12]}, the console asked for {sha[:12]}")
    _git(dest, "-c", "advice.detachedHead=false", "checkout", "-q", "--detach", got)
    return got


def protected_changes(checkout: Path, globs: list[str]) -> list[str]:
    """Protected paths the run modified, added or deleted, by content hash (git's stat cache can be fooled)."""
    if not globs:
        return []
    specs = [f":(glob){g}" for g in globs] + [f":(glob)**/{g}" for g in globs if "/" not in g]
    tracked = _git(checkout, "ls-files", "-s", "-z", "--", *specs).split("\0")
    changed: set[str] = set()
    for line in filter(None, tracked):
        meta, path = line.split("\t", 1)
        mode, oid = meta.split()[:2]
        f = checkout / path
        if mode == "160000":
            continue
        if mode == "120000":
            if not f.is_symlink() or _blob_oid(os.readlink(f).encode()) != oid:
                changed.add(path)
        elif f.is_symlink() or not f.is_file() or _blob_oid(f.read_bytes()) != oid:
            changed.add(path)
    added = _git(checkout, "ls-files", "-o", "-z", "--", *specs).split("\0")
    changed.update(p for p in added if p)
    return sorted(changed)


def run_from_bundle(
    bundle_bytes: bytes,
    sha: str,
    objective: Objective,
    run_vars: dict[str, str],
    gpu_env: dict[str, str],
    log_queue: Any = None,
) -> dict[str, Any]:
    """The remote half of one run: check out ``sha`` from the bundle, run the objective sandboxed, read the
    metric, check protected files. Every failure is a result, never an exception. With ``log_queue`` (a
    ``ray.util.queue.Queue`` the console drains) the run's lines go there as it prints them."""
    import time

    started = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix="labconsole-remote-"))
    status = SandboxStatus.here()
    result = RemoteResult("failed", sandbox=status.mode)
    result.node_id, result.node_ip, gpu_env = _placement(gpu_env)
    try:
        if status.mode == SANDBOX_DEGRADED and objective.require_sandbox:
            result.status, result.error = "refused", f"[objective] require_sandbox = true but {status.reason}"
            return _done(result, started)
        bundle = scratch / "commit.bundle"
        bundle.write_bytes(bundle_bytes)
        workdir = scratch / "checkout"
        try:
            checkout_bundle(bundle, sha, workdir)
        except (ValueError, subprocess.CalledProcessError) as exc:
            result.status = "refused"
            result.error = str(exc) if isinstance(exc, ValueError) else f"bundle unreadable: {_stderr(exc)}"
            return _done(result, started)
        bundle.unlink()
        # The scratch dir plays the lab root: hidden from the run, its checkout bound back on top.
        prepared = prepare(objective, objective.command, workdir, scratch, run_vars, gpu_env, status)
        result.sandbox = prepared.sandbox
        run_id = run_vars.get("LABCONSOLE_RUN_ID", "remote")
        pusher = LinePusher(log_queue, run_id)
        try:
            result.status, result.returncode, result.output, result.error = _execute(
                run_id, prepared.prefix, prepared.command, prepared.env, workdir, objective, pusher.line
            )
        finally:
            pusher.close()  # the last lines are in the queue before the result is: the console drains them first
        if result.status == "ok":
            try:
                result.metric = extract_metric(objective.metric, workdir, result.output.decode("utf-8", "replace"))
            except MetricError as exc:
                result.status, result.error = "failed", f"metric: {exc}"
        result.artifacts = {
            name: (workdir / name).read_bytes() for name in objective.artifacts if (workdir / name).is_file()
        }
        result.tampering = protected_changes(workdir, list(objective.protected))
        if result.tampering:
            result.status = "invalid"
            result.error = "run modified protected files: " + ", ".join(result.tampering)
    except Exception as exc:  # a run that cannot even start is a failed run
        result.status, result.error = "failed", f"{type(exc).__name__}: {exc}"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return _done(result, started)


def _placement(gpu_env: dict[str, str]) -> tuple[str, str, dict[str, str]]:
    """(node id, node ip, the run's GPU environment) when running as a Ray task; Ray sets
    ``CUDA_VISIBLE_DEVICES`` in the worker to the GPUs it granted the task."""
    try:
        import ray

        node_id, node_ip = ray.get_runtime_context().get_node_id(), ray.util.get_node_ip_address()
    except Exception:  # not in a Ray worker (a test calling this directly)
        return "", "", {k: v for k, v in gpu_env.items() if v != "ray"}
    if gpu_env.get("CUDA_VISIBLE_DEVICES") == "ray":
        gpu_env = {"CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES", "")}
    return node_id, node_ip, gpu_env


def _done(result: RemoteResult, started: float) -> dict[str, Any]:
    import time

    result.output = result.output[-MAX_LOG_BYTES:]
    result.duration_s = round(time.monotonic() - started, 3)
    return asdict(result)


class LinePusher:
    """Sends a run's lines to the console's queue in batches, from a thread, so a slow queue never slows the
    run; past :data:`MAX_BATCH_LINES` per push, or when the queue is full or gone, lines are counted, not sent."""

    def __init__(self, queue: Any, run_id: str) -> None:
        self.queue, self.run_id = queue, run_id
        self._lines: list[str] = []
        self._dropped = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="run-lines", daemon=True)
        if queue is not None:
            self._thread.start()

    def line(self, text: str) -> None:
        if self.queue is None:
            return
        with self._lock:
            if len(self._lines) < MAX_BATCH_LINES:
                self._lines.append(text)
            else:
                self._dropped += 1

    def close(self) -> None:
        if self.queue is None:
            return
        self._stop.set()
        self._thread.join()
        self._push()

    def _loop(self) -> None:
        while not self._stop.wait(PUSH_S):
            self._push()

    def _push(self) -> None:
        with self._lock:
            lines, dropped = self._lines, self._dropped
            self._lines, self._dropped = [], 0
        if not lines and not dropped:
            return
        try:
            self.queue.put((self.run_id, lines, dropped), block=False)
        except Exception:  # full, or the console went away: the result still carries the whole output
            with self._lock:
                self._dropped += len(lines) + dropped


def _execute(
    run_id: str,
    prefix: list[str],
    command: list[str],
    env: dict[str, str],
    cwd: Path,
    objective: Objective,
    on_line: Any = None,
) -> tuple[str, int | None, bytes, str]:
    """Run the prepared command with the objective's limits and timeout: (status, returncode, output, error)."""
    limiter = Limiter(run_id, RunLimits(objective.memory_mb, objective.max_processes))
    try:
        argv = prefix + limiter.inner(command, bool(prefix))
        proc = subprocess.Popen(
            limiter.outer(argv),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=limiter.preexec if limiter.how == "rlimit" else None,
        )
        # A cancelled task interrupts the wait: wait_streaming takes the run's process group with it.
        output, timed_out = wait_streaming(
            proc, objective.timeout_s, on_line or (lambda text: None), lambda p: _kill_group(p.pid)
        )
        if timed_out:
            return "timeout", proc.returncode, output, f"timed out after {objective.timeout_s:g} s"
        rc = proc.returncode
        if rc == 0:
            return "ok", 0, output, ""
        hit = limiter.hit(rc, output)
        if rc < 0:
            return "crashed", rc, output, hit or f"killed by signal {-rc}"
        tail = output.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
        return "failed", rc, output, hit or f"exit code {rc}: {tail[0][:200]}"
    finally:
        limiter.close()


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _blob_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _git(cwd: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


def _stderr(exc: subprocess.CalledProcessError) -> str:
    return (exc.stderr or "").strip().splitlines()[-1:][0] if (exc.stderr or "").strip() else str(exc)
