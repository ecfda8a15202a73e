// Torch-facing entry points of the RMSNorm kernels (registered in torch_binding.cpp).
#pragma once
#include <torch/torch.h>

// y = rms_norm(x) * weight, a new tensor shaped like x.
torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps);

// In place, as vLLM: residual <- x + residual; x <- rms_norm(residual) * weight.
void fused_add_rms_norm(torch::Tensor& x, torch::Tensor& residual, const torch::Tensor& weight,
                        double eps);

// rms_norm with a forced launch shape, for tuning sweeps: vecs_per_thread 1/2/4/8/16 packets
// of 16 bytes per thread; lanes 8/16/32 per row (warp_row_kernel) or 0 (a block per row).
// With a residual: the fused op (residual <- x + residual in place), output to a new tensor.
// min_blocks 6 (nv 2, <= 256 threads): the register-capped block variant.
torch::Tensor rms_norm_config(const torch::Tensor& x, const torch::Tensor& weight, double eps,
                              int64_t vecs_per_thread, int64_t lanes,
                              std::optional<torch::Tensor> residual, int64_t min_blocks);

// Which code path a hidden size / dtype takes: "vectorized", "scalar" or "unsupported".
std::string kernel_path(int64_t hidden, const std::string& dtype);

// The exact launch shape for rows x hidden, e.g. "block_per_row nv=1 threads=512".
std::string launch_config(int64_t rows, int64_t hidden, const std::string& dtype, bool fused);
