"""The Hugging Face Jobs executor: each measurement run is one Job on the Hub (``huggingface_hub``'s jobs API).

The job gets the exact commit as a git bundle inside its environment (base64; a lab whose bundle is too
big for that is refused with one line), checks that the bundle's commit is the one the console asked
for before running anything, runs the objective command, and prints what the console needs between
markers: the exit code, and the metric file and artifacts (base64). While the job runs, each poll also
fetches its logs so far (``follow=False``) and streams the new lines as ``run.log`` events; the console
reads the whole log again when the job ends; the job's container is the run's sandbox (no bubblewrap there), and ``run.finished``
says so (``sandbox = "hf-jobs"``). Labels name the lab, hypothesis, run and commit, so a job on the Hub
points back at the session's evidence. ``cancel`` cancels every job in flight.
"""

from __future__ import annotations

import base64
import shlex
import tempfile
import time
from pathlib import Path
from typing import Any

from labconsole.errors import LabError
from labconsole.events import kinds as K
from labconsole.runs.executor import ExecutedRun, ExecutorBase, ExecutorContext, RunCancelled, RunRequest
from labconsole.runs.metric import MetricError, extract_metric
from labconsole.runs.finish import finish_run, store_output
from labconsole.runs.preflight import hf_jobs_namespace, hub_api
from labconsole.runs.remote_run import SHIP_REF, make_bundle

DEFAULT_IMAGE = "python:3.12"  # Debian with git: the job fetches the bundle with it
MAX_INLINE_BUNDLE = 512 << 10  # bytes of bundle carried in the job's environment
SETUP_S = 300.0  # image pull and checkout, on top of the objective's timeout
POLL_S = 2.0
MARK = "LABCONSOLE-"
REFUSED_RC = 97
SANDBOX_HF = "hf-jobs"
TERMINAL = ("COMPLETED", "CANCELED", "ERROR", "DELETED")

# Runs in the job's container. Everything it reports goes through its log, between markers.
JOB_SCRIPT = """set -e
work=$(mktemp -d) && cd "$work"
python3 -c 'import base64,os,sys; sys.stdout.buffer.write(base64.b64decode(os.environ["LABCONSOLE_BUNDLE_B64"]))' \\
  > commit.bundle
unset LABCONSOLE_BUNDLE_B64
git init -q checkout && cd checkout
git fetch -q ../commit.bundle "{ref}:{ref}"
got=$(git rev-parse "{ref}^{{commit}}")
if [ "$got" != "$LABCONSOLE_COMMIT" ]; then
  echo "{mark}REFUSED commit mismatch: the bundle holds $got, the console asked for $LABCONSOLE_COMMIT"
  exit {refused}
fi
git -c advice.detachedHead=false checkout -q --detach "$got"
set +e
sh -c {command}
rc=$?
for f in {files}; do
  if [ -f "$f" ]; then printf '{mark}FILE %s ' "$f"; base64 -w0 "$f"; echo; fi
done
{protected_check}
echo "{mark}EXIT $rc"
exit $rc
"""


class HfJobsExecutor(ExecutorBase):
    """The :class:`~labconsole.runs.executor.Executor` that runs each run as a Hugging Face Job."""

    def __init__(self, ctx: ExecutorContext, api: Any = None) -> None:
        super().__init__(ctx)
        self.api = api or hub_api()
        self.namespace = hf_jobs_namespace(ctx.config.executor)
        self._jobs: dict[str, str] = {}  # run id -> job id in flight
        self._bundles: dict[str, str] = {}  # commit -> base64 bundle

    def announce_sandbox(self) -> None:
        flavor = self.config.executor.flavor
        reason = f"runs execute as Hugging Face Jobs ({flavor}); the job's container is their sandbox"
        self._log_sandbox("remote", reason, network=True, env=[], read_paths=[])

    def cancel(self) -> None:
        self._cancelled.set()
        with self._lock:
            jobs = list(self._jobs.values())
        for job_id in jobs:
            try:
                self.api.cancel_job(job_id=job_id, namespace=self.namespace)
            except Exception:  # already over, or the Hub is unreachable: the job's own timeout ends it
                pass

    def clean_up_after_crash(self) -> list[str]:
        """Cancel jobs of this lab a dead console left running (found by their labels)."""
        ended: list[str] = []
        try:
            jobs = self.api.list_jobs(namespace=self.namespace)
        except Exception:
            return ended
        for job in jobs:
            labels = job.labels or {}
            if labels.get("labconsole-lab") == self.config.name and job.status.stage not in TERMINAL:
                try:
                    self.api.cancel_job(job_id=job.id, namespace=self.namespace)
                    ended.append(labels.get("labconsole-run", job.id))
                except Exception:
                    pass
        return ended

    def run(self, req: RunRequest, priority: float = 0.0) -> ExecutedRun:
        if self._cancelled.is_set():
            raise RunCancelled(req.run_id)
        obj, ex = self.config.objective, self.config.executor
        self.append(K.RUN_STARTED, "console", req.started(obj.command, gpus=[], executor="hf-jobs"))
        started = time.monotonic()
        where = f"hf-jobs:{ex.flavor}"
        status, returncode, error, output = "failed", None, "", b""
        files: dict[str, bytes] = {}
        touched: list[str] = []
        try:
            job = self.api.run_job(
                image=ex.image or DEFAULT_IMAGE,
                command=["sh", "-c", self._script()],
                env={
                    "LABCONSOLE_COMMIT": req.sha,
                    "LABCONSOLE_SEED": str(req.repeat),
                    "LABCONSOLE_RUN_ID": req.run_id,
                    "LABCONSOLE_BUNDLE_B64": self._bundle(req.sha),
                    "PYTHONUNBUFFERED": "1",
                },
                flavor=ex.flavor,
                timeout=int(ex.timeout_s or obj.timeout_s + SETUP_S),
                namespace=self.namespace,
                labels={
                    "labconsole-lab": self.config.name,
                    "labconsole-hypothesis": req.hyp_id,
                    "labconsole-run": req.run_id,
                    "labconsole-commit": req.sha,
                },
            )
            where = f"hf-jobs:{job.id}"
            with self._lock:
                self._jobs[req.run_id] = job.id
            if self._cancelled.is_set():
                self.api.cancel_job(job_id=job.id, namespace=self.namespace)
            self.log_sink.open(req.run_id, req.hyp_id)
            stage, message, streamed = self._wait(req.run_id, job.id, obj.timeout_s + SETUP_S)
            lines = list(self.api.fetch_job_logs(job_id=job.id, namespace=self.namespace))
            self._stream(req.run_id, lines[streamed:])
            self.log_sink.close(req.run_id)
            status, returncode, error, output, files, touched = self._read(stage, message, lines)
            if status == "ok":
                status, error, metric = self._metric(output, files)
            else:
                metric = None
        except LabError:
            raise
        except Exception as exc:  # the Hub refused the job or went away: a visible failed run
            metric, error = (
                None,
                f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}",
            )
        finally:
            with self._lock:
                self._jobs.pop(req.run_id, None)
            self.log_sink.close(req.run_id)
        if self._cancelled.is_set() and status != "ok":
            status, error = "crashed", "stopped with the console"
        duration = round(time.monotonic() - started, 3)
        error = self.redactor.text(error)[:500]
        kept = {name: data for name, data in files.items() if name in obj.artifacts}
        log_blob, artifacts = store_output(self.put_blob, self.redactor, output, kept)
        return finish_run(
            self.append,
            req,
            status,
            metric,
            returncode,
            duration,
            error,
            log_blob=log_blob,
            artifacts=artifacts,
            sandbox=SANDBOX_HF,
            where=where,
            remote=True,
            tampering=touched,
        )

    # --- parts ------------------------------------------------------------------------------------

    def _script(self) -> str:
        obj = self.config.objective
        files = [obj.metric.file] if obj.metric.kind == "json" else []
        files += [a for a in obj.artifacts if a not in files]
        check = ""
        if obj.protected:
            specs = " ".join(shlex.quote(f":(glob){g}") for g in obj.protected)
            # Stage by content (git add hashes files), so a run that restores size and mtime is still caught.
            check = (
                f"git add -A -- {specs} 2>/dev/null; for p in $(git diff --cached --name-only HEAD -- {specs}); "
                f'do echo "{MARK}PROTECTED $p"; done'
            )
        return JOB_SCRIPT.format(
            ref=SHIP_REF,
            mark=MARK,
            refused=REFUSED_RC,
            command=shlex.quote(obj.command),
            files=" ".join(shlex.quote(f) for f in files) or "''",
            protected_check=check,
        )

    def _bundle(self, sha: str) -> str:
        with self._lock:
            cached = self._bundles.get(sha)
        if cached is not None:
            return cached
        with tempfile.TemporaryDirectory(prefix="labconsole-ship-") as tmp:
            data = make_bundle(self.repo.root, sha, Path(tmp) / "commit.bundle").read_bytes()
        if len(data) > MAX_INLINE_BUNDLE:
            raise LabError(
                f"hf-jobs: the bundle of {sha[:12]} is {len(data) >> 10} KiB, over the "
                f"{MAX_INLINE_BUNDLE >> 10} KiB a job's environment carries; keep large data out of the lab "
                "repository (read it from the Hub in the objective)"
            )
        encoded = base64.b64encode(data).decode("ascii")
        with self._lock:
            self._bundles[sha] = encoded
        return encoded

    def _wait(self, run_id: str, job_id: str, limit_s: float) -> tuple[str, str, int]:
        """Poll the job to its end, streaming its new log lines on each poll: (stage, message, lines streamed)."""
        deadline = time.monotonic() + limit_s + 60  # the job's own timeout ends it first; this is the backstop
        streamed = 0
        while True:
            info = self.api.inspect_job(job_id=job_id, namespace=self.namespace)
            stage = str(getattr(info.status.stage, "value", info.status.stage))
            if stage in TERMINAL:
                return stage, info.status.message or "", streamed
            if time.monotonic() > deadline:
                self.api.cancel_job(job_id=job_id, namespace=self.namespace)
                return "TIMEOUT", f"no end within {limit_s:g} s", streamed
            try:  # the logs so far, whole each time (follow=False returns at once): the new ones stream
                lines = list(self.api.fetch_job_logs(job_id=job_id, namespace=self.namespace, follow=False))
            except Exception:  # a missed poll costs only liveness; the end reads the whole log again
                lines = []
            self._stream(run_id, lines[streamed:])
            streamed = max(streamed, len(lines))
            time.sleep(POLL_S)

    def _stream(self, run_id: str, lines: list[str]) -> None:
        for line in lines:
            if not line.startswith(MARK):  # the job script's markers (base64 files) are not the run's output
                self.log_sink.line(run_id, "stdout", line)

    def _read(
        self, stage: str, message: str, lines: list[str]
    ) -> tuple[str, int | None, str, bytes, dict[str, bytes], list[str]]:
        """(status, returncode, error, the objective's output, files, protected files it changed) from the
        job's end and its log. The marker lines are the job script's; the objective's own lines are kept."""
        files: dict[str, bytes] = {}
        protected: list[str] = []
        kept: list[str] = []
        returncode: int | None = None
        refused = ""
        for line in lines:
            if line.startswith(MARK + "FILE "):
                name, _, data = line[len(MARK) + 5 :].partition(" ")
                files[name] = base64.b64decode(data.strip() or b"")
            elif line.startswith(MARK + "EXIT "):
                returncode = int(line.split()[-1])
            elif line.startswith(MARK + "PROTECTED "):
                protected.append(line[len(MARK) + 10 :].strip())
            elif line.startswith(MARK + "REFUSED "):
                refused = line[len(MARK) + 8 :]
            else:
                kept.append(line)
        output = "\n".join(kept).encode() + (b"\n" if kept else b"")
        protected.sort()
        if refused:
            return "refused", REFUSED_RC, refused, output, files, protected
        if protected:
            why = "run modified protected files: " + ", ".join(protected)
            return "invalid", returncode, why, output, files, protected
        if stage == "TIMEOUT":
            return "timeout", returncode, message, output, files, protected
        if stage == "CANCELED":
            why = "the job was canceled" + (f": {message}" if message else "")
            return "crashed", returncode, why, output, files, protected
        if stage == "COMPLETED" and returncode == 0:
            return "ok", 0, "", output, files, protected
        tail = kept[-1][:200] if kept else ""
        why = f"exit code {returncode}: {tail}" if returncode is not None else f"job {stage.lower()}: {message or tail}"
        return "failed", returncode, why, output, files, protected

    def _metric(self, output: bytes, files: dict[str, bytes]) -> tuple[str, str, float | None]:
        obj = self.config.objective
        with tempfile.TemporaryDirectory(prefix="labconsole-job-") as tmp:
            for name, data in files.items():
                if name == obj.metric.file:  # only the metric file: names come from the job's log
                    Path(tmp, "metric.json").write_bytes(data)
            spec = obj.metric if obj.metric.kind != "json" else type(obj.metric)("json", "metric.json", obj.metric.path)
            try:
                return "ok", "", extract_metric(spec, Path(tmp), output.decode("utf-8", "replace"))
            except MetricError as exc:
                return "failed", f"metric: {exc}", None
