#!/bin/sh
# Reference solution, second half (solution/ adds build.toml, the package and the card): the fixture's
# kernel, binding and test move into the kernels layout. Moved, not rewritten: sources_unchanged wants
# the .cu byte for byte, and the fixture stays the one copy of these files in the repository.
set -e
mkdir -p csrc torch-ext tests
mv rmsnorm.cu csrc/rmsnorm.cu
mv binding.cpp torch-ext/torch_binding.cpp
sed 's/^    from rmsnorm_ops import rms_norm$/    from rmsnorm_lab import rms_norm/' test_rmsnorm.py >tests/test_rmsnorm.py
rm test_rmsnorm.py
grep -q '^    from rmsnorm_lab import rms_norm$' tests/test_rmsnorm.py
