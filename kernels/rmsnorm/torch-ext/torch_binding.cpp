// TORCH_LIBRARY registration and input checks for the RMSNorm CUDA kernels. The Python
// wrapper checks the same things with the same wording first; these checks keep direct
// torch.ops calls safe too.
#include "torch_binding.h"

#include <c10/cuda/CUDAStream.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "../rmsnorm/rmsnorm.h"

#ifndef TORCH_EXTENSION_NAME
#define TORCH_EXTENSION_NAME _rmsnorm_lc_cuda
#endif

namespace {

// No integer is ever streamed into an error message here: numbers go through std::to_string.
// Root cause of the error-path segfaults seen on the H100 build (2026-11-25, cuda-gdb: in
// basic_ostream::_M_insert<long> inside this .so): that machine's /opt/gcc toolchain links
// libstdc++ statically into the extension, and formatting an integer through the num_put
// facet of a locale set up by the process's other libstdc++ (torch's) crashes. Strings need
// no facet, so "(2, 4096)" is built by hand and streamed as a std::string.
std::string shape_str(const torch::Tensor& t) {
  std::string s = "(";
  for (int64_t d = 0; d < t.dim(); ++d) s += (d ? ", " : "") + std::to_string(t.size(d));
  return s + (t.dim() == 1 ? ",)" : ")");
}

rmsnorm::DType to_dtype(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return rmsnorm::DType::F32;
    case at::kHalf: return rmsnorm::DType::F16;
    case at::kBFloat16: return rmsnorm::DType::BF16;
    default:
      TORCH_CHECK(false, "rmsnorm: x has dtype ", t,
                  "; supported dtypes are bfloat16, float16 and float32");
  }
}

void check_pair(const torch::Tensor& x, const torch::Tensor& weight, const char* name) {
  TORCH_CHECK(x.is_cuda(), "rmsnorm: ", name, " is on ", x.device(),
              "; this kernel needs CUDA tensors (use torch.nn.functional.rms_norm elsewhere)");
  TORCH_CHECK(weight.device() == x.device(), "rmsnorm: weight is on ", weight.device(),
              " but ", name, " is on ", x.device());
  to_dtype(x.scalar_type());
  TORCH_CHECK(weight.scalar_type() == x.scalar_type(), "rmsnorm: weight dtype ",
              weight.scalar_type(), " != ", name, " dtype ", x.scalar_type(),
              "; cast the weight with weight.to(x.dtype)");
  TORCH_CHECK(x.dim() >= 1 && x.size(-1) > 0, "rmsnorm: ", name,
              " needs a non-empty last (hidden) dimension, got shape ", shape_str(x));
  TORCH_CHECK(weight.dim() == 1 && weight.size(0) == x.size(-1), "rmsnorm: weight shape ",
              shape_str(weight), " does not match hidden size ", std::to_string(x.size(-1)));
  TORCH_CHECK(x.is_contiguous(), "rmsnorm: ", name,
              " is not contiguous; call .contiguous() first");
  TORCH_CHECK(weight.is_contiguous(), "rmsnorm: weight is not contiguous");
}

void run(torch::Tensor& y, const torch::Tensor& x, torch::Tensor* residual,
         const torch::Tensor& weight, double eps, const rmsnorm::Config* forced) {
  const int64_t hidden = x.size(-1);
  const int64_t rows = x.numel() / hidden;
  if (rows == 0) return;  // zero rows: nothing to do, no launch
  const c10::cuda::CUDAGuard guard(x.device());
  const cudaError_t err = rmsnorm::launch(
      to_dtype(x.scalar_type()), y.data_ptr(), x.data_ptr(),
      residual ? residual->data_ptr() : nullptr, weight.data_ptr(), rows, hidden,
      static_cast<float>(eps), forced, c10::cuda::getCurrentCUDAStream());
  TORCH_CHECK(err == cudaSuccess, "rmsnorm: kernel launch failed: ", cudaGetErrorString(err));
}

int elem_size(const std::string& dtype) {
  TORCH_CHECK(dtype == "bfloat16" || dtype == "float16" || dtype == "float32",
              "rmsnorm: dtype must be bfloat16, float16 or float32");
  return dtype == "float32" ? 4 : 2;
}

}  // namespace

torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps) {
  check_pair(x, weight, "x");
  torch::Tensor y = torch::empty_like(x);
  run(y, x, nullptr, weight, eps, nullptr);
  return y;
}

torch::Tensor rms_norm_config(const torch::Tensor& x, const torch::Tensor& weight, double eps,
                              int64_t vecs_per_thread, int64_t lanes,
                              std::optional<torch::Tensor> residual, int64_t min_blocks) {
  check_pair(x, weight, "x");
  if (residual) {
    check_pair(*residual, weight, "residual");
    TORCH_CHECK(residual->sizes() == x.sizes(), "rmsnorm: residual and x differ in shape");
  }
  const int64_t row_bytes = x.size(-1) * x.element_size();
  TORCH_CHECK(row_bytes % 16 == 0 && row_bytes <= rmsnorm::kMaxHiddenBytes,
              "rmsnorm: a forced launch shape needs rows of a multiple of 16 bytes, at most ",
              std::to_string(rmsnorm::kMaxHiddenBytes));
  const int npack = static_cast<int>(row_bytes / 16);
  rmsnorm::Config c;
  c.lanes = static_cast<int>(lanes);
  c.nv = static_cast<int>(vecs_per_thread);
  c.min_blocks = static_cast<int>(min_blocks);
  c.threads = lanes > 0 ? 256 : ((npack + c.nv - 1) / c.nv + 31) / 32 * 32;
  torch::Tensor y = torch::empty_like(x);
  run(y, x, residual ? &*residual : nullptr, weight, eps, &c);
  return y;
}

void fused_add_rms_norm(torch::Tensor& x, torch::Tensor& residual, const torch::Tensor& weight,
                        double eps) {
  check_pair(x, weight, "x");
  check_pair(residual, weight, "residual");
  TORCH_CHECK(residual.sizes() == x.sizes(), "rmsnorm: residual shape ", shape_str(residual),
              " != x shape ", shape_str(x));
  run(x, x, &residual, weight, eps, nullptr);
}

std::string kernel_path(int64_t hidden, const std::string& dtype) {
  switch (rmsnorm::choose_path(hidden, elem_size(dtype), /*aligned=*/true)) {
    case rmsnorm::Path::Vectorized: return "vectorized";
    case rmsnorm::Path::Scalar: return "scalar";
    default: return "unsupported";
  }
}

std::string launch_config(int64_t rows, int64_t hidden, const std::string& dtype, bool fused) {
  const int es = elem_size(dtype);
  if (rmsnorm::choose_path(hidden, es, /*aligned=*/true) != rmsnorm::Path::Vectorized)
    return kernel_path(hidden, dtype);
  const rmsnorm::Config c = rmsnorm::choose_config(static_cast<int>(hidden * es / 16), rows, fused);
  return (c.lanes > 0 ? "warp_per_row lanes=" + std::to_string(c.lanes) : std::string("block_per_row")) +
         " nv=" + std::to_string(c.nv) + " threads=" + std::to_string(c.threads) +
         (c.min_blocks ? " min_blocks=" + std::to_string(c.min_blocks) : std::string());
}

TORCH_LIBRARY(TORCH_EXTENSION_NAME, m) {
  m.def("rms_norm(Tensor x, Tensor weight, float eps) -> Tensor");
  m.impl("rms_norm", torch::kCUDA, &rms_norm);
  m.def("rms_norm_config(Tensor x, Tensor weight, float eps, int vecs_per_thread, int lanes, "
        "Tensor(a!)? residual=None, int min_blocks=0) -> Tensor");
  m.impl("rms_norm_config", torch::kCUDA, &rms_norm_config);
  m.def("fused_add_rms_norm(Tensor(a!) x, Tensor(b!) residual, Tensor weight, float eps) -> ()");
  m.impl("fused_add_rms_norm", torch::kCUDA, &fused_add_rms_norm);
  m.def("kernel_path(int hidden, str dtype) -> str", &kernel_path);
  m.def("launch_config(int rows, int hidden, str dtype, bool fused=False) -> str", &launch_config);
}
