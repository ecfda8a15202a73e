#!/usr/bin/env bash
# One device call: build the CUDA variant, run the GPU tests, benchmark, e2e. Run from the
# repository root on the device machine:  bash kernels/rmsnorm/scripts/device_run.sh SHA STAGES...
# Stages: build test errors tune retune bench quick e2e e2e-small e2e-compiled. Outputs land in $OUT (at most 8 files).
set -u
SHA=${1:?commit sha}; shift
K=kernels/rmsnorm
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site \
  $K/.whl/kernels-*.whl $K/.whl/liger_kernel-*.whl || exit 1
export PYTHONPATH=/tmp/site
# The image's huggingface_hub may predate what kernels 0.17 imports: then carry a newer one.
python3 -c "import kernels" 2>/dev/null || { python3 -m pip install -q --no-index --no-deps --no-compile \
  --target /tmp/site-hub $K/.whl/fallback/*.whl && export PYTHONPATH=/tmp/site-hub:/tmp/site; }
python3 -c "import kernels, huggingface_hub, transformers, torch; print('kernels', kernels.__version__, 'hf_hub', huggingface_hub.__version__, 'transformers', transformers.__version__, 'torch', torch.__version__)"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv
for stage in "$@"; do
  echo "=== $stage $(date -u +%T)"
  case $stage in
    build)
      python3 $K/scripts/build_variants.py compile /tmp/ext > $OUT/build.log 2>&1 || { tail -60 $OUT/build.log; exit 1; }
      grep -iE "warning|error|toolchain|libstdc" $OUT/build.log | head -20
      echo "CXX=${CXX:-} CC=${CC:-}"; ls /usr/bin/g++* /usr/bin/gcc* 2>&1 | head -4
      SO=$(tail -1 $OUT/build.log)
      cp $SO $OUT/ && ls -la $OUT/_rmsnorm_lc_cuda.so
      python3 $K/scripts/build_variants.py assemble --so $SO ;;
    test)
      timeout 300 python3 -m pytest tests/kernels -q -x -p no:cacheprovider > $OUT/tests.log 2>&1
      echo "pytest rc=$?"; tail -25 $OUT/tests.log ;;
    errors)
      # Each C++ error path in its own process; a crash gets a host backtrace from cuda-gdb.
      for c in $(python3 $K/scripts/error_paths.py --list); do
        timeout 120 python3 $K/scripts/error_paths.py $c; rc=$?
        if [ $rc -ge 128 ] || [ $rc -lt 0 ]; then
          echo "$c: crashed (rc=$rc); backtrace:"
          timeout 240 cuda-gdb -batch -ex run -ex bt --args python3 $K/scripts/error_paths.py $c 2>&1 | grep -vE "^\[(New|Thread|Detaching)" | tail -40
        fi
      done ;;
    retune)
      # The sweep's fastest shapes become rmsnorm/tuned_shapes.h; a later "build" compiles them in.
      python3 $K/scripts/tune_table.py $OUT/rmsnorm_tune.json && cp $K/rmsnorm/tuned_shapes.h $OUT/ ;;
    tune)
      timeout 300 python3 $K/benchmarks/run_device.py --out $OUT/rmsnorm_tune.json --commit $SHA --only-tune > $OUT/tune.log 2>&1
      echo "tune rc=$?"; tail -70 $OUT/tune.log | cut -c1-260 ;;
    bench|quick)
      q=""; [ $stage = quick ] && q="--quick"
      timeout 360 python3 $K/benchmarks/run_device.py --out $OUT/rmsnorm_bench.json --commit $SHA $q > $OUT/bench.log 2>&1
      echo "bench rc=$?"; tail -40 $OUT/bench.log ;;
    e2e|e2e-small)
      n=36; [ $stage = e2e-small ] && n=4
      timeout 330 python3 $K/benchmarks/e2e_qwen3.py --kernel-dir $K --layers $n \
        --budget-s 270 --out $OUT/rmsnorm_e2e.json > $OUT/e2e.log 2>&1
      echo "e2e rc=$?"; tail -20 $OUT/e2e.log ;;
    e2e-compiled)
      # one graph in dynamo's cache per timed block, A B B A blocks (see the script's docstring)
      B=${E2E_BUDGET_S:-420}
      timeout $((B + 120)) python3 $K/benchmarks/e2e_compiled.py --kernel-dir $K --budget-s $B --reps ${E2E_REPS:-30} \
        --out $OUT/rmsnorm_e2e_compiled.json > $OUT/e2e_compiled.log 2>&1
      echo "e2e-compiled rc=$?"; tail -30 $OUT/e2e_compiled.log ;;
  esac
done
echo "=== done $(date -u +%T)"
