// Host-side interface of the RMSNorm CUDA kernels. Kept free of torch headers so the
// .cu compiles with plain nvcc and the binding stays a thin C++ layer.
#pragma once
#include <cstdint>
#include <cuda_runtime.h>

namespace rmsnorm {

enum class DType : int { F32 = 0, F16 = 1, BF16 = 2 };

// Which code path a (hidden, dtype, alignment) triple takes. Reported to Python so the
// layer and the docs can say exactly what runs.
enum class Path : int {
  WarpPerRow = 0,    // hidden small enough for one warp per row (no shared memory)
  BlockPerRow = 1,   // one block per row, row cached in registers, 16-byte accesses
  Scalar = 2,        // hidden not a multiple of 16 bytes or pointers unaligned: 2-pass, scalar
  Unsupported = 3,   // hidden too large for the register-cached path
};

// Longest row the register-cached paths hold (8 packets x 512 threads x 16 B = 64 KiB:
// 32768 bf16/fp16 or 16384 fp32 elements). Longer rows take the two-pass Scalar path.
constexpr int64_t kMaxHiddenBytes = 8 * 512 * 16;

Path choose_path(int64_t hidden, int elem_size, bool aligned);

// y = rms_norm(x) * w for `rows` contiguous rows of `hidden` elements.
// If `residual` is non-null this is the fused op: residual <- x + residual (rounded to the
// dtype), y <- rms_norm(residual) * w, and y may alias x (in-place, as vLLM does).
// `vecs_per_thread` = 0 picks the tuned configuration; 1/2/4/8 forces one (for sweeps).
cudaError_t launch(DType dtype, void* y, const void* x, void* residual, const void* w,
                   int64_t rows, int64_t hidden, float eps, int vecs_per_thread,
                   cudaStream_t stream);

}  // namespace rmsnorm
