// RMSNorm and fused residual-add + RMSNorm for Hopper (sm_90), bf16 / fp16 / fp32.
//
// Numerics follow transformers' Qwen3RMSNorm exactly, up to reduction order:
//   v   = x                      (fused: v = dtype(x + residual), written back to residual)
//   inv = rsqrt(mean(float(v)^2) + eps)          -- fp32 accumulation
//   y   = dtype(float(dtype(float(v) * inv)) * float(w))
// i.e. the normalized value is rounded to the input dtype before the weight multiply,
// as `self.weight * hidden_states.to(input_dtype)` does.
#include "rmsnorm.h"
#include "lab_knobs.h"
#include "tuned_shapes.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace rmsnorm {
namespace {

template <typename T> __device__ __forceinline__ float to_f(T v);
template <> __device__ __forceinline__ float to_f<float>(float v) { return v; }
template <> __device__ __forceinline__ float to_f<__half>(__half v) { return __half2float(v); }
template <> __device__ __forceinline__ float to_f<__nv_bfloat16>(__nv_bfloat16 v) {
  return __bfloat162float(v);
}

template <typename T> __device__ __forceinline__ T from_f(float v);
template <> __device__ __forceinline__ float from_f<float>(float v) { return v; }
template <> __device__ __forceinline__ __half from_f<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

// A 16-byte packet of T: one ld/st.global.v4 per thread per access.
template <typename T>
struct alignas(16) Pack {
  static constexpr int N = 16 / sizeof(T);
  T v[N];
};

template <typename T>
__device__ __forceinline__ Pack<T> load_pack(const T* p) {
  uint4 raw = *reinterpret_cast<const uint4*>(p);
  return *reinterpret_cast<Pack<T>*>(&raw);
}

// Read-only data (x in the plain op, the weight): the non-coherent path is safe.
template <typename T>
__device__ __forceinline__ Pack<T> load_pack_ro(const T* p) {
  uint4 raw = __ldg(reinterpret_cast<const uint4*>(p));
  return *reinterpret_cast<Pack<T>*>(&raw);
}

template <typename T>
__device__ __forceinline__ void store_pack(T* p, const Pack<T>& v) {
  *reinterpret_cast<uint4*>(p) = *reinterpret_cast<const uint4*>(&v);
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Every warp ends up with the block total, so one barrier suffices (no broadcast step).
// blockDim.x must be a multiple of 32.
__device__ __forceinline__ float block_sum(float v) {
  __shared__ float partial[32];
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  v = warp_sum(v);
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  const int nwarps = blockDim.x >> 5;
  v = lane < nwarps ? partial[lane] : 0.f;
  return warp_sum(v);
}

// Loads the row's packets into registers (and, when fused, adds and writes back the
// residual), returning this thread's partial sum of squares.
template <typename T, int NV, bool FUSED>
__device__ __forceinline__ float load_row(Pack<T> (&v)[NV], const T* x, T* res, int first,
                                          int stride, int npack) {
  constexpr int N = Pack<T>::N;
  // Issue every load before the first use so NV packets are in flight at once.
#pragma unroll
  for (int i = 0; i < NV; ++i) {
    const int p = first + i * stride;
    if (p < npack) v[i] = FUSED ? load_pack(x + p * N) : load_pack_ro(x + p * N);
  }
  Pack<T> r[NV];
  if constexpr (FUSED) {
#pragma unroll
    for (int i = 0; i < NV; ++i) {
      const int p = first + i * stride;
      if (p < npack) r[i] = load_pack(res + p * N);
    }
  }
  float ss = 0.f;
#pragma unroll
  for (int i = 0; i < NV; ++i) {
    const int p = first + i * stride;
    if (p < npack) {
#pragma unroll
      for (int j = 0; j < N; ++j) {
        if constexpr (FUSED) v[i].v[j] = from_f<T>(to_f(v[i].v[j]) + to_f(r[i].v[j]));
        const float f = to_f(v[i].v[j]);
        ss += f * f;
      }
      if constexpr (FUSED) store_pack(res + p * N, v[i]);
    }
  }
  return ss;
}

template <typename T, int NV>
__device__ __forceinline__ void store_row(const Pack<T> (&v)[NV], const Pack<T> (&w)[NV], T* y,
                                          float inv, int first, int stride, int npack) {
  constexpr int N = Pack<T>::N;
#pragma unroll
  for (int i = 0; i < NV; ++i) {
    const int p = first + i * stride;
    if (p < npack) {
      Pack<T> o;
#pragma unroll
      for (int j = 0; j < N; ++j) {
        const float n = to_f(from_f<T>(to_f(v[i].v[j]) * inv));
        o.v[j] = from_f<T>(n * to_f(w[i].v[j]));
      }
      store_pack(y + p * N, o);
    }
  }
}

// NV = 16 packets per thread: the weight is read after the reduction, 4 packets at a time
// (loads issued together, then the 4 stores), instead of being held through the reduction,
// which would double the registers the row needs. (One pack at a time was measured 3-5x
// slower: the compiler cannot hoist a weight load above the previous store to y.)
template <typename T, int NV>
__device__ __forceinline__ void store_row_lazy_w(const Pack<T> (&v)[NV], const T* weight, T* y,
                                                 float inv, int first, int stride, int npack) {
  constexpr int N = Pack<T>::N;
  constexpr int G = 4;
  static_assert(NV % G == 0, "NV must be a multiple of 4");
#pragma unroll
  for (int g = 0; g < NV; g += G) {
    Pack<T> w[G];
#pragma unroll
    for (int i = 0; i < G; ++i) {
      const int p = first + (g + i) * stride;
      if (p < npack) w[i] = load_pack_ro(weight + p * N);
    }
#pragma unroll
    for (int i = 0; i < G; ++i) {
      const int p = first + (g + i) * stride;
      if (p < npack) {
        Pack<T> o;
#pragma unroll
        for (int j = 0; j < N; ++j) {
          const float n = to_f(from_f<T>(to_f(v[g + i].v[j]) * inv));
          o.v[j] = from_f<T>(n * to_f(w[i].v[j]));
        }
        store_pack(y + p * N, o);
      }
    }
  }
}

template <typename T, int NV>
__device__ __forceinline__ void load_weight(Pack<T> (&w)[NV], const T* weight, int first,
                                            int stride, int npack) {
  constexpr int N = Pack<T>::N;
#pragma unroll
  for (int i = 0; i < NV; ++i) {
    const int p = first + i * stride;
    if (p < npack) w[i] = load_pack_ro(weight + p * N);
  }
}

// One block per row; the row stays in registers between the reduction and the scale, so
// x is read from DRAM exactly once. NV <= 8: the weight load is issued before the reduction
// and overlaps its barrier and shuffles; NV = 16 reads it after (store_row_lazy_w).
// MINB > 0 asks ptxas for MINB resident blocks of <= 256 threads per SM (fewer registers:
// NV = 2 fits 40 registers without spilling, 6 blocks per SM instead of 5).
// (Tried and reverted, v3: capping NV = 2 at 32 registers spilled and cost 20% at 4096 rows.)
// MAXT > 0 states the block size exactly (the lab's knob shape), so MINB caps registers for it.
template <typename T, int NV, bool FUSED, int MINB, int MAXT = 0>
__global__ void __launch_bounds__(MAXT > 0 ? MAXT : (MINB > 0 || NV >= 16 ? 256 : NV >= 8 ? 512 : 1024),
                                  MINB > 0 ? MINB : 1)
    block_row_kernel(T* y, const T* x, T* res, const T* __restrict__ weight, int npack,
                     float inv_hidden, float eps) {
  const size_t off = static_cast<size_t>(blockIdx.x) * npack * Pack<T>::N;
  Pack<T> v[NV];
  float ss = load_row<T, NV, FUSED>(v, x + off, FUSED ? res + off : nullptr, threadIdx.x,
                                    blockDim.x, npack);
  if constexpr (NV <= 8) {
    Pack<T> w[NV];
    load_weight<T, NV>(w, weight, threadIdx.x, blockDim.x, npack);
    ss = block_sum(ss);
    store_row<T, NV>(v, w, y + off, rsqrtf(ss * inv_hidden + eps), threadIdx.x, blockDim.x, npack);
  } else {
    ss = block_sum(ss);
    store_row_lazy_w<T, NV>(v, weight, y + off, rsqrtf(ss * inv_hidden + eps), threadIdx.x,
                            blockDim.x, npack);
  }
}

// LANES lanes (8, 16 or 32) per row: short rows (Qwen3's q/k norm over head_dim 128 = 16
// packets: two rows per warp), and long rows when there are enough of them that one warp
// per row fills the GPU (finer-grained than a block per row, so the last wave is shorter).
// No shared memory, no barrier; every lane stays alive through the shuffles, rows past the
// end just skip their loads and stores.
template <int LANES>
__device__ __forceinline__ float group_sum(float v) {
#pragma unroll
  for (int o = LANES / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// (NV = 16 capped at 128 registers for 2 blocks per SM spilled in bf16: left uncapped.)
template <typename T, int NV, int LANES, bool FUSED>
__global__ void __launch_bounds__(256)
    warp_row_kernel(T* y, const T* x, T* res, const T* __restrict__ weight, int64_t rows,
                    int npack, float inv_hidden, float eps) {
  constexpr int N = Pack<T>::N;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * (blockDim.x / LANES) + threadIdx.x / LANES;
  const int lane = threadIdx.x % LANES;
  // Out-of-range rows get npack 0: no memory access, but the lanes still shuffle.
  const int n = row < rows ? npack : 0;
  const size_t off = row < rows ? static_cast<size_t>(row) * npack * N : 0;
  Pack<T> v[NV];
  float ss = load_row<T, NV, FUSED>(v, x + off, FUSED ? res + off : nullptr, lane, LANES, n);
  if constexpr (NV <= 8) {
    Pack<T> w[NV];
    load_weight<T, NV>(w, weight, lane, LANES, n);
    ss = group_sum<LANES>(ss);
    store_row<T, NV>(v, w, y + off, rsqrtf(ss * inv_hidden + eps), lane, LANES, n);
  } else {
    ss = group_sum<LANES>(ss);
    store_row_lazy_w<T, NV>(v, weight, y + off, rsqrtf(ss * inv_hidden + eps), lane, LANES, n);
  }
}

// Rows that are not a multiple of 16 bytes (odd hidden sizes: rows start at any 2-byte
// boundary) or unaligned pointers: scalar accesses, but still one DRAM pass with EPT
// elements per thread held in registers and all loads issued before the reduction.
template <typename T, int EPT, bool FUSED>
__global__ void __launch_bounds__(512)
    scalar_row_kernel(T* y, const T* x, T* res, const T* __restrict__ weight, int64_t hidden,
                      float inv_hidden, float eps) {
  const size_t off = static_cast<size_t>(blockIdx.x) * hidden;
  float v[EPT];
  float ss = 0.f;
#pragma unroll
  for (int i = 0; i < EPT; ++i) {
    const int64_t c = threadIdx.x + static_cast<int64_t>(i) * blockDim.x;
    v[i] = c < hidden ? to_f(x[off + c]) : 0.f;
  }
#pragma unroll
  for (int i = 0; i < EPT; ++i) {
    const int64_t c = threadIdx.x + static_cast<int64_t>(i) * blockDim.x;
    if constexpr (FUSED) {
      if (c < hidden) {
        const T s = from_f<T>(v[i] + to_f(res[off + c]));
        res[off + c] = s;
        v[i] = to_f(s);
      }
    }
    ss += v[i] * v[i];
  }
  ss = block_sum(ss);
  const float inv = rsqrtf(ss * inv_hidden + eps);
#pragma unroll
  for (int i = 0; i < EPT; ++i) {
    const int64_t c = threadIdx.x + static_cast<int64_t>(i) * blockDim.x;
    if (c < hidden) y[off + c] = from_f<T>(to_f(from_f<T>(v[i] * inv)) * to_f(weight[c]));
  }
}

// Fallback for scalar rows too long to cache (> 16 x 512 elements): two passes over the
// row (the second mostly hits L2). Correct for any hidden size.
template <typename T, bool FUSED>
__global__ void __launch_bounds__(512)
    loop_row_kernel(T* y, const T* x, T* res, const T* __restrict__ weight, int64_t hidden,
                    float inv_hidden, float eps) {
  const size_t off = static_cast<size_t>(blockIdx.x) * hidden;
  float ss = 0.f;
  for (int64_t i = threadIdx.x; i < hidden; i += blockDim.x) {
    float f = to_f(x[off + i]);
    if constexpr (FUSED) {
      const T s = from_f<T>(f + to_f(res[off + i]));
      res[off + i] = s;
      f = to_f(s);
    }
    ss += f * f;
  }
  ss = block_sum(ss);
  const float inv = rsqrtf(ss * inv_hidden + eps);
  // Same thread-to-index mapping as pass 1, so each thread rereads only what it wrote.
  const T* src = FUSED ? res : x;
  for (int64_t i = threadIdx.x; i < hidden; i += blockDim.x) {
    const float n = to_f(from_f<T>(to_f(src[off + i]) * inv));
    y[off + i] = from_f<T>(n * to_f(weight[i]));
  }
}

int round_up(int v, int m) { return (v + m - 1) / m * m; }

// The kernel lab's knob shape (lab_knobs.h), checked here so a bad edit fails the build.
constexpr int kKnobNpack = 512;
constexpr int64_t kKnobMinRows = 2896;  // the tuned table's 4096-row bucket and up
constexpr int kKnobNv = knobs::PACKETS_PER_THREAD;
static_assert(kKnobNv == 1 || kKnobNv == 2 || kKnobNv == 4 || kKnobNv == 8 || kKnobNv == 16,
              "lab_knobs.h: PACKETS_PER_THREAD must be 1, 2, 4, 8 or 16");
static_assert(knobs::MIN_RESIDENT_THREADS >= 0 && knobs::MIN_RESIDENT_THREADS <= 2048,
              "lab_knobs.h: MIN_RESIDENT_THREADS must be 0..2048 (an SM holds 2048 threads)");
constexpr int kKnobThreads = kKnobNpack / kKnobNv;
// At most 32 resident blocks per SM on sm_90; min blocks x threads never exceeds 2048.
constexpr int kKnobMinBlocks =
    knobs::MIN_RESIDENT_THREADS / kKnobThreads > 32 ? 32 : knobs::MIN_RESIDENT_THREADS / kKnobThreads;

bool is_knob_shape(const Config& c) {
  return kKnobMinBlocks > 0 && c.lanes == 0 && c.nv == kKnobNv && c.min_blocks == kKnobMinBlocks &&
         c.threads <= kKnobThreads;
}

constexpr int kScalarThreads = 512;

// The vectorized paths' launch shape, for rows of `npack` 16-byte packets.
Config config_for(int npack, int64_t rows, int nv, int lanes, int min_blocks = 0) {
  Config c;
  c.lanes = lanes;
  c.nv = nv;
  c.min_blocks = min_blocks;
  c.threads = lanes > 0 ? 256 : round_up((npack + nv - 1) / nv, 32);
  return c;
}

bool config_ok(const Config& c, int npack) {
  const bool nv_ok = c.nv == 1 || c.nv == 2 || c.nv == 4 || c.nv == 8 || c.nv == 16;
  if (!nv_ok) return false;
  if (c.lanes > 0)  // a group of lanes must cover the row with nv packets each
    return (c.lanes == 8 || c.lanes == 16 || c.lanes == 32) && c.lanes * c.nv >= npack;
  if (c.min_blocks != 0 && !(c.nv == 2 && c.min_blocks == 6 && c.threads <= 256) && !is_knob_shape(c))
    return false;
  return c.threads >= 32 && c.threads <= (c.nv >= 16 ? 256 : c.nv >= 8 ? 512 : 1024);
}

template <typename T, bool FUSED>
cudaError_t launch_vectorized(T* y, const T* x, T* res, const T* w, int64_t rows, int npack,
                              float inv_hidden, float eps, const Config& c, cudaStream_t stream) {
  if (c.lanes > 0) {
    const int64_t rows_per_block = c.threads / c.lanes;
    const unsigned grid = static_cast<unsigned>((rows + rows_per_block - 1) / rows_per_block);
#define RMS_WARP(NVV, L)                                                                  \
  if (c.nv == NVV && c.lanes == L) {                                                      \
    warp_row_kernel<T, NVV, L, FUSED><<<grid, c.threads, 0, stream>>>(y, x, res, w, rows, \
                                                                     npack, inv_hidden, eps); \
    return cudaGetLastError();                                                            \
  }
    RMS_WARP(1, 8) RMS_WARP(2, 8) RMS_WARP(1, 16) RMS_WARP(2, 16) RMS_WARP(4, 16)
    RMS_WARP(1, 32) RMS_WARP(2, 32) RMS_WARP(4, 32) RMS_WARP(8, 32) RMS_WARP(16, 32)
#undef RMS_WARP
    return cudaErrorInvalidConfiguration;
  }
  const unsigned grid = static_cast<unsigned>(rows);
  if constexpr (kKnobMinBlocks > 0) {
    if (is_knob_shape(c)) {
      block_row_kernel<T, kKnobNv, FUSED, kKnobMinBlocks, kKnobThreads>
          <<<grid, c.threads, 0, stream>>>(y, x, res, w, npack, inv_hidden, eps);
      return cudaGetLastError();
    }
  }
#define RMS_BLOCK(NVV, MB)                                                                     \
  if (c.nv == NVV && c.min_blocks == MB) {                                                     \
    block_row_kernel<T, NVV, FUSED, MB><<<grid, c.threads, 0, stream>>>(y, x, res, w, npack,   \
                                                                       inv_hidden, eps);       \
    return cudaGetLastError();                                                                 \
  }
  RMS_BLOCK(1, 0) RMS_BLOCK(2, 0) RMS_BLOCK(4, 0) RMS_BLOCK(8, 0) RMS_BLOCK(16, 0)
  RMS_BLOCK(2, 6)
#undef RMS_BLOCK
  return cudaErrorInvalidConfiguration;
}

template <typename T, bool FUSED>
cudaError_t launch_scalar(T* y, const T* x, T* res, const T* w, int64_t rows, int64_t hidden,
                          float inv_hidden, float eps, cudaStream_t stream) {
  const unsigned row_grid = static_cast<unsigned>(rows);
  const int64_t ept = (hidden + kScalarThreads - 1) / kScalarThreads;
#define RMS_SCALAR(E) \
  scalar_row_kernel<T, E, FUSED><<<row_grid, kScalarThreads, 0, stream>>>(y, x, res, w, hidden, inv_hidden, eps)
  if (ept <= 1) RMS_SCALAR(1);
  else if (ept <= 2) RMS_SCALAR(2);
  else if (ept <= 4) RMS_SCALAR(4);
  else if (ept <= 8) RMS_SCALAR(8);
  else if (ept <= 16) RMS_SCALAR(16);
  else
    loop_row_kernel<T, FUSED><<<row_grid, kScalarThreads, 0, stream>>>(y, x, res, w, hidden,
                                                                       inv_hidden, eps);
#undef RMS_SCALAR
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_dtype(void* y, const void* x, void* res, const void* w, int64_t rows,
                         int64_t hidden, float eps, const Config* forced, bool vectorized,
                         cudaStream_t s) {
  const float inv_hidden = 1.f / static_cast<float>(hidden);
  T* yt = static_cast<T*>(y);
  const T* xt = static_cast<const T*>(x);
  T* rt = static_cast<T*>(res);
  const T* wt = static_cast<const T*>(w);
  if (!vectorized) {
    return res ? launch_scalar<T, true>(yt, xt, rt, wt, rows, hidden, inv_hidden, eps, s)
               : launch_scalar<T, false>(yt, xt, nullptr, wt, rows, hidden, inv_hidden, eps, s);
  }
  const int npack = static_cast<int>(hidden * sizeof(T) / 16);
  const Config c = forced ? *forced : choose_config(npack, rows, res != nullptr);
  if (!config_ok(c, npack)) return cudaErrorInvalidConfiguration;
  return res ? launch_vectorized<T, true>(yt, xt, rt, wt, rows, npack, inv_hidden, eps, c, s)
             : launch_vectorized<T, false>(yt, xt, nullptr, wt, rows, npack, inv_hidden, eps, c, s);
}

}  // namespace

// Launch shapes measured fastest on the H100 for the row lengths a sweep covered
// (tuned_shapes.h, generated from the sweep's JSON); other row lengths take the rule below.
// Rule: few rows (decode): the most threads per row, so each thread's serial chain is
// shortest; many rows: more packets per thread keep more bytes in flight per SM.
Config choose_config(int npack, int64_t rows, bool fused) {
  if (npack == kKnobNpack && !fused && rows > kKnobMinRows)  // the kernel lab's knobs (lab_knobs.h)
    return config_for(npack, rows, kKnobNv, 0, kKnobMinBlocks);
  for (const TunedShape& t : kTunedShapes) {
    if (t.npack == npack && t.fused == fused && rows <= t.max_rows)
      return config_for(npack, rows, t.nv, t.lanes, t.min_blocks);
  }
  if (npack <= 4 * 32) {  // short rows: a group of 8, 16 or 32 lanes per row
    const int lanes = npack <= 8 ? 8 : npack <= 16 ? 16 : 32;
    const int nv = lanes < 32 || npack <= 32 ? 1 : npack <= 64 ? 2 : 4;
    return config_for(npack, rows, nv, lanes);
  }
  int nv;
  if (rows <= 256 && npack <= 1024) nv = 1;
  else if (npack <= 256) nv = 1;
  else if (npack <= 512) nv = 2;
  else if (npack <= 2048) nv = 4;
  else nv = 8;
  return config_for(npack, rows, nv, 0);
}

Path choose_path(int64_t hidden, int elem_size, bool aligned) {
  if (hidden <= 0) return Path::Unsupported;
  const int64_t bytes = hidden * elem_size;
  if (!aligned || bytes % 16 != 0 || bytes > kMaxHiddenBytes) return Path::Scalar;
  return Path::Vectorized;
}

cudaError_t launch(DType dtype, void* y, const void* x, void* residual, const void* w,
                   int64_t rows, int64_t hidden, float eps, const Config* forced,
                   cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  const int es = dtype == DType::F32 ? 4 : 2;
  auto addr_ok = [](const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; };
  const bool aligned = addr_ok(y) && addr_ok(x) && addr_ok(w) &&
                       (residual == nullptr || addr_ok(residual));
  const Path path = choose_path(hidden, es, aligned);
  if (path == Path::Unsupported) return cudaErrorInvalidValue;
  if (forced != nullptr && path != Path::Vectorized) return cudaErrorInvalidConfiguration;
  const bool vec = path == Path::Vectorized;
  switch (dtype) {
    case DType::F32:
      return launch_dtype<float>(y, x, residual, w, rows, hidden, eps, forced, vec, stream);
    case DType::F16:
      return launch_dtype<__half>(y, x, residual, w, rows, hidden, eps, forced, vec, stream);
    case DType::BF16:
      return launch_dtype<__nv_bfloat16>(y, x, residual, w, rows, hidden, eps, forced, vec, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace rmsnorm
