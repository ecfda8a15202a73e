// Torch-facing entry points of the RMSNorm kernels (registered in torch_binding.cpp).
#pragma once
#include <torch/torch.h>

// y = rms_norm(x) * weight, a new tensor shaped like x.
torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps);

// In place, as vLLM: residual <- x + residual; x <- rms_norm(residual) * weight.
void fused_add_rms_norm(torch::Tensor& x, torch::Tensor& residual, const torch::Tensor& weight,
                        double eps);

// rms_norm with a forced packets-per-thread (1, 2, 4, 8) for tuning sweeps.
torch::Tensor rms_norm_config(const torch::Tensor& x, const torch::Tensor& weight, double eps,
                              int64_t vecs_per_thread);

// Which code path a hidden size / dtype takes: "warp_per_row", "block_per_row", "scalar".
std::string kernel_path(int64_t hidden, const std::string& dtype);
