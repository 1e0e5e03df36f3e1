#pragma once
// What router/estimate.cpp shares with router/layout.cpp: the graph model's context for a set
// of settings, and the backends and weight placement of a split.

#include <functional>
#include <string>
#include <vector>

#include "router/compute.h"
#include "router/estimate.h"

namespace ask::router {

// The llama_context settings of `e` (resolved context sizes) and `in` for the graph model.
ComputeContext compute_context(const Estimate& e, const EstimateInput& in);

// A device backend as ggml's scheduler sees it, by llama.cpp's device name ("CUDA0",
// "RPC1", …): its alignment, and whether it takes ops on host weights (offload_op).
graph::Backend device_backend(const std::string& name);

// llama.cpp's device name prefix under `api`: "CUDA", "ROCm", "Vulkan", "SYCL", "MTL"; "GPU"
// for the CPU preset, which has none.
std::string device_prefix(config::GpuApi api);

// The backends of a split (`gpus`, then the CPU) and where each weight lives: layer il on
// layer_gpu(il) (-1 = host), the output on `output` (-1 = host); the input layer, experts of
// the first n_cpu_moe layers and tensors overridden to the host stay in host memory.
ComputeDevices devices_for(const EstimateInput& in, std::vector<graph::Backend> gpus,
                           std::function<int(int)> layer_gpu, int output);

} // namespace ask::router
