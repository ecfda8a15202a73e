#!/usr/bin/env bash
# The kernel lab end to end on one GPU machine, in one command (no network), from the repository root:
#
#   bash kernels/rmsnorm/scripts/kernel_lab_device.sh [HYPOTHESES]      # default 4
#
# 1. installs the wheels carried in kernels/rmsnorm/.whl (kernels_lab_wheels.sh lists and fetches them)
#    and puts this checkout's labconsole first on the interpreter's path (a .pth file);
# 2. `labconsole demo --kernel --headless`: a fresh copy of the kernel lab in a temp git repository,
#    the baseline run, then the sweep backend for HYPOTHESES hypotheses until candidates await review;
# 3. approves the best candidate the reviewer passed (`labconsole review approve`, signed with a key
#    created on first use: the person's key), merges it, builds the merged sources' compiled variant
#    (lab/build.py assemble: the cached .so the session measured) and publishes to a local folder;
# 4. copies the session (events.jsonl, report.md, and the whole dir with its blobs as session.tgz)
#    to $OUT/kernel_lab_session/ and prints a summary. At most 8 files come back from $OUT.
set -u
N=${1:-4}
K=kernels/rmsnorm
REPO=$(pwd)
OUT=${OUT:-/tmp/kernel-lab-out}
DEST=$OUT/kernel_lab_session
LAB=/tmp/kernel-lab
DIST=/tmp/kernel-lab-dist
mkdir -p "$DEST"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
export XDG_CONFIG_HOME=/tmp/kernel-lab-config RMSNORM_LAB_CACHE=/tmp/kernel-lab-cache
export GIT_AUTHOR_NAME="kernel lab" GIT_AUTHOR_EMAIL=lab@labconsole.invalid
export GIT_COMMITTER_NAME="kernel lab" GIT_COMMITTER_EMAIL=lab@labconsole.invalid
rm -rf "$LAB" "$DIST" "$XDG_CONFIG_HOME"
T0=$(date +%s)
say() { echo "=== $* (+$(( $(date +%s) - T0 )) s)"; }

say "setup"
if ls $K/.whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
    $K/.whl/*.whl || { echo "wheel install failed"; exit 1; }
fi
# The checkout (labconsole) and the carried wheels ahead of the image's packages, for every process the
# lab starts too (runs get an allow-listed environment, so PYTHONPATH would not reach them).
SITE=$(python3 -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
echo "import sys; sys.path[:0] = [p for p in ('$REPO', '/tmp/site') if p not in sys.path]" > "$SITE/zz_kernel_lab.pth"
LC="python3 -m labconsole"
missing=$(python3 - <<'PY'
import importlib
names = ["labconsole.cli", "kernels", "optuna", "rapidfuzz", "git", "yaml", "psutil", "pynvml", "cryptography",
         "scipy", "textual", "torch.utils.cpp_extension"]
bad = []
for n in names:
    try:
        importlib.import_module(n)
    except Exception as exc:  # noqa: BLE001
        bad.append(f"{n} ({type(exc).__name__}: {exc})"[:160])
print("; ".join(bad))
PY
)
[ -n "$missing" ] && { echo "missing Python packages: $missing -- carry their wheels in $K/.whl (scripts/kernel_lab_wheels.sh)"; exit 1; }
command -v ninja >/dev/null || { echo "ninja not on PATH: torch.utils.cpp_extension needs it to build the candidates"; exit 1; }
nvidia-smi --query-gpu=name,driver_version,clocks.sm,temperature.gpu --format=csv,noheader
python3 -c "import torch, kernels; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'kernels', kernels.__version__)"

say "session: $N hypotheses"
timeout 440 $LC demo --kernel --dir "$LAB" --headless --budget "$N" --timeout 400 2>&1 | tee "$DEST/run.log"
SESSION=$(ls -d "$LAB"/sessions/*/ 2>/dev/null | tail -1)
[ -z "$SESSION" ] && { echo "no session was started (see run.log)"; exit 1; }
SESSION=${SESSION%/}
$LC review list --lab "$LAB" --all 2>&1 | tee "$DEST/review.txt"

# The demo suggests the best candidate the reviewer passed (or, lacking one, the best awaiting review).
HYP=$(grep -oE "labconsole review approve h[0-9]+" "$DEST/run.log" | tail -1 | awk '{print $4}')
if [ -n "$HYP" ]; then
  say "approve, merge, publish $HYP"
  $LC review show "$HYP" --lab "$LAB" 2>&1 | tee "$DEST/review_show.txt" | head -60
  # Where runs were not in bubblewrap (none on the image) the candidate is flagged sandbox-degraded:
  # the person overrides that flag, saying why. Elsewhere there is nothing to override.
  OVR=()
  grep -q "sandbox-degraded" "$DEST/review_show.txt" && OVR=(--override sandbox-degraded)
  $LC review approve "$HYP" --lab "$LAB" --yes "${OVR[@]}" \
    --reason "kernel lab on the lent GPU machine: best measured candidate; no bubblewrap on the image" 2>&1
  $LC merge "$HYP" --lab "$LAB" 2>&1
  (cd "$LAB" && python3 lab/build.py assemble) 2>&1 | tail -2
  $LC publish "$LAB" --lab "$LAB" --out "$DIST" 2>&1 | tee "$DEST/publish.txt"
  $LC report --lab "$LAB" --session "$SESSION" > /dev/null 2>&1 || true
else
  echo "no candidate awaits review: nothing approved, merged or published (see review.txt)"
fi

say "collect"
$LC audit verify "$SESSION" 2>&1 | tail -5 | tee -a "$DEST/publish.txt"
cp "$SESSION/events.jsonl" "$DEST/"
[ -f "$SESSION/report.md" ] && cp "$SESSION/report.md" "$DEST/"
# What a CPU machine needs to verify the session later: the person's public key (to trust) and the lab's
# git history (the audit's cross-check of every merge against an approval), beside the session dir.
$LC keys show > "$(dirname "$SESSION")/signer.pub" 2>/dev/null || true
git -C "$LAB" bundle create "$(dirname "$SESSION")/lab.bundle" --all 2>&1 | tail -1
tar -czf "$DEST/session.tgz" -C "$(dirname "$SESSION")" "$(basename "$SESSION")" signer.pub lab.bundle
echo
echo "=== summary"
echo "lab: $LAB  session: $(basename "$SESSION")  hypotheses asked: $N"
grep -E "baseline|pct_of_copy" "$DEST/run.log" | grep -viE "^\s*$" | head -5
cat "$DEST/review.txt"
[ -n "$HYP" ] && echo "approved and merged: $HYP  (main now $(git -C "$LAB" rev-parse --short HEAD))"
[ -n "$HYP" ] && grep -E "^(approved|assembled|load check|not uploaded|uploaded)" "$DEST/publish.txt"
ls -la "$DEST"
say "done"
