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
  Vectorized = 0,    // rows a multiple of 16 bytes, at most kMaxHiddenBytes: 16-byte accesses,
                     // the row cached in registers (launch shape: Config)
  Scalar = 2,        // hidden not a multiple of 16 bytes or pointers unaligned: scalar accesses
  Unsupported = 3,   // hidden <= 0
};

// Longest row the register-cached paths hold (8 packets x 512 threads x 16 B = 64 KiB:
// 32768 bf16/fp16 or 16384 fp32 elements). Longer rows take the two-pass Scalar path.
constexpr int64_t kMaxHiddenBytes = 8 * 512 * 16;

// Launch shape of the vectorized path. lanes = 8, 16 or 32: that many lanes per row, 256
// threads per block (warp_row_kernel); lanes = 0: one block of `threads` threads per row
// (block_row_kernel). nv = 16-byte packets each thread holds (1, 2, 4, 8 or 16).
// min_blocks = 6 (with nv = 2, <= 256 threads): the register-capped variant for occupancy.
struct Config {
  int lanes = 0;
  int nv = 1;
  int threads = 0;
  int min_blocks = 0;
};

Path choose_path(int64_t hidden, int elem_size, bool aligned);

// The tuned launch shape for `rows` rows of `npack` 16-byte packets (plain or fused op).
Config choose_config(int npack, int64_t rows, bool fused);

// y = rms_norm(x) * w for `rows` contiguous rows of `hidden` elements.
// If `residual` is non-null this is the fused op: residual <- x + residual (rounded to the
// dtype), y <- rms_norm(residual) * w, and y may alias x (in-place, as vLLM does).
// `forced` = nullptr picks the tuned launch shape; otherwise it is used as given (sweeps),
// and a shape that cannot cover the row returns cudaErrorInvalidConfiguration.
cudaError_t launch(DType dtype, void* y, const void* x, void* residual, const void* w,
                   int64_t rows, int64_t hidden, float eps, const Config* forced,
                   cudaStream_t stream);

}  // namespace rmsnorm
