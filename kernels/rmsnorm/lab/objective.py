"""The kernel lab's objective: build this checkout's kernel, gate its correctness, benchmark it.

    python lab/objective.py     # run by the console on each candidate's checkout (never by an agent)

1. refuse, in one line and exit 2, where no CUDA GPU or no nvcc is visible;
2. build the extension from this checkout's sources (lab/build.py, cached by source hash) in a
   child process, so this process loads the .so only once, through the kernel's own loader;
3. correctness gate first: rms_norm and fused_add_rms_norm against the fp32 formula at decode,
   batch and prefill row counts; a wrong result prints `incorrect: …` and exits 1 before timing;
4. the bench harness (labconsole.gpu.bench) on the flagship workload, rows4096 (4096 rows x hidden
   4096, bf16): CUDA-graph device time with L2 flushes, a same-size copy timed in the same rounds,
   fresh-input correctness with NaN-poisoned outputs; the report goes to bench.json (evidence);
5. one metric line, `pct_of_copy: <bytes/s as % of the same-size copy>` (lab.toml reads it;
   higher is better), only when the report passed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORKLOAD = "rows4096"  # benchmarks/benchmark_rmsnorm.py: 4096 rows x 4096, bf16
GATE_ROWS = (1, 128, 4096, 8192)  # decode, batched decode, the knob shape (> 2896 rows) twice
HIDDEN = 4096
EPS = 1e-6


def refuse_without_gpu() -> str | None:
    """Why this machine cannot run the objective, in one line; None when it can."""
    try:
        import torch
    except ImportError:
        return "kernel lab objective: needs PyTorch with CUDA, and torch is not installed"
    if not torch.cuda.is_available():
        return (
            f"kernel lab objective: needs a CUDA GPU, and torch {torch.__version__} sees none "
            "(run the kernel lab on a GPU machine)"
        )
    if shutil.which("nvcc") is None and not os.environ.get("CUDA_HOME"):
        return "kernel lab objective: needs nvcc (the CUDA toolkit) on PATH or CUDA_HOME to build the candidate"
    return None


def build_so() -> Path:
    sys.path.insert(0, str(ROOT / "lab"))
    import build as lab_build

    so = lab_build.cached_so(ROOT)
    if so is not None:
        print(f"build: cached {so.parent.name}", flush=True)
        return so
    proc = subprocess.run([sys.executable, str(ROOT / "lab" / "build.py")], capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-30:]
        print("\n".join(tail), file=sys.stderr)
        raise SystemExit(f"build failed: the candidate's sources do not compile (exit {proc.returncode})")
    so = Path(proc.stdout.strip().splitlines()[-1])
    print(f"build: compiled {so.parent.name}", flush=True)
    return so


def kernel_dir_for(so: Path, tmp: Path) -> Path:
    """A kernels-layout folder around the freshly built .so: build/<variant> + this checkout's benchmarks."""
    import torch

    sys.path.insert(0, str(ROOT / "scripts"))
    import build_variants as bv

    variant = bv.variant_name(torch.__version__, torch.version.cuda, torch.compiled_with_cxx11_abi())
    bv.assemble(variant, so, tmp / "build")
    (tmp / "benchmarks").symlink_to(ROOT / "benchmarks")
    return tmp


def _reference(x, weight):  # type: ignore[no-untyped-def]
    import torch

    h = x.float()
    h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + EPS)
    return weight.float() * h.to(x.dtype).float()


def correctness_gate(kernel) -> str | None:  # type: ignore[no-untyped-def]
    """The first wrong result as one line, or None. Outputs are NaN-poisoned before each call."""
    import torch

    from labconsole.gpu.bench_stats import check_output, tolerance_for

    if getattr(kernel, "BACKEND", None) != "cuda":
        return f"the built extension did not load (backend {getattr(kernel, 'BACKEND', None)!r})"
    gen = torch.Generator(device="cuda").manual_seed(20261125)
    for rows in GATE_ROWS:
        x = torch.randn(rows, HIDDEN, device="cuda", dtype=torch.bfloat16, generator=gen)
        r = torch.randn(rows, HIDDEN, device="cuda", dtype=torch.bfloat16, generator=gen)
        w = torch.rand(HIDDEN, device="cuda", dtype=torch.bfloat16, generator=gen) + 0.5
        y = kernel.rms_norm(x, w, EPS)
        check = check_output(y, _reference(x, w), tolerance_for(y.dtype))
        if not check.ok:
            return f"rms_norm at {rows} rows: {check.detail}"
        summed = (x.float() + r.float()).to(x.dtype)
        xo, ro = x.clone(), r.clone()
        kernel.fused_add_rms_norm(xo, ro, w, EPS)
        for name, got, want in (("residual", ro, summed.float()), ("output", xo, _reference(summed, w))):
            check = check_output(got, want, tolerance_for(got.dtype))
            if not check.ok:
                return f"fused_add_rms_norm {name} at {rows} rows: {check.detail}"
    torch.cuda.synchronize()
    return None


def main() -> int:
    why = refuse_without_gpu()
    if why:
        print(why, flush=True)
        return 2
    import subprocess as sp

    head = sp.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    if head:  # the bench's provenance: publish matches it against the approved commit
        os.environ["LABCONSOLE_GIT_COMMIT"] = head
    so = build_so()
    from labconsole.gpu.bench import BenchConfig, format_report, run_bench
    from labconsole.gpu.bench_spec import load_kernel

    with tempfile.TemporaryDirectory(prefix="rmsnorm-lab-") as tmp:
        kdir = kernel_dir_for(so, Path(tmp))
        kernel, how = load_kernel(kdir)
        print(f"kernel: {how}; launch at {WORKLOAD}: {kernel.ops.launch_config(4096, HIDDEN, 'bfloat16')}", flush=True)
        wrong = correctness_gate(kernel)
        if wrong:
            print(f"incorrect: {wrong}", flush=True)
            return 1
        print(f"correctness: ok at rows {', '.join(map(str, GATE_ROWS))} (plain and fused)", flush=True)
        # Short: a candidate's run is one of many in a session; the gate repeats runs, not rounds.
        cfg = BenchConfig(only=[WORKLOAD], budget_s=1.5, host_reps=5, compile_check=False, verify_baselines=False)
        report = run_bench(kdir, cfg).to_dict()
    (Path.cwd() / "bench.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    print(format_report(report), flush=True)
    group = next((g for g in report["groups"] if g.get("candidate") == WORKLOAD), None)
    case = next((c for c in (group or {}).get("cases", []) if c.get("name") == WORKLOAD), None)
    if not report.get("ok") or case is None or case.get("pct_of_copy") is None:
        flags = [
            f"{f.get('kind')}: {f.get('detail')}" for c in (group or {}).get("cases", []) for f in c.get("flags", [])
        ]
        print(f"bench did not pass: {'; '.join(flags[:3]) or (group or {}).get('error') or 'no result'}", flush=True)
        return 1
    print(f"kernel_us: {case['device']['median_us']:.3f}")
    print(f"gbps: {case['gbps']:.1f}")
    print(f"pct_of_copy: {case['pct_of_copy']:.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
