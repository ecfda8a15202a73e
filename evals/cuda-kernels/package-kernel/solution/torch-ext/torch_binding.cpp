// Registers torch.ops.rmsnorm_lab.rms_norm(Tensor x, Tensor weight, float eps) -> Tensor.
#include <ATen/cuda/CUDAContext.h>
#include <torch/library.h>

namespace rmsnorm_lab {
void launch_rms_norm_bf16(const void* x, const void* w, void* y, int64_t rows, int64_t hidden, float eps,
                          cudaStream_t stream);
}

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  TORCH_CHECK(x.is_cuda() && x.scalar_type() == at::kBFloat16, "rmsnorm_lab: bf16 CUDA input expected");
  TORCH_CHECK(x.is_contiguous() && weight.is_contiguous(), "rmsnorm_lab: contiguous tensors expected");
  const int64_t hidden = x.size(-1);
  TORCH_CHECK(hidden % 8 == 0, "rmsnorm_lab: hidden size must be a multiple of 8");
  auto y = at::empty_like(x);
  rmsnorm_lab::launch_rms_norm_bf16(x.data_ptr(), weight.data_ptr(), y.data_ptr(), x.numel() / hidden, hidden,
                                    static_cast<float>(eps), at::cuda::getCurrentCUDAStream());
  return y;
}

TORCH_LIBRARY(rmsnorm_lab, m) {
  m.def("rms_norm(Tensor x, Tensor weight, float eps) -> Tensor");
  m.impl("rms_norm", torch::kCUDA, &rms_norm);
}
