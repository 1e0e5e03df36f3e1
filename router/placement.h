#pragma once
// Where a model goes: given the inventory's usable memory and an estimate, one GPU when the
// model fits on one (cross-GPU traffic over PCIe costs more than it saves), otherwise the
// fewest GPUs, layers split in proportion to what each can hold — not round-robin — with a
// compute buffer and the fixed overhead counted on every GPU that holds layers. The plan
// comes with the llama-server arguments and environment that realise it, or a structured
// "does not fit" with the shortfall per GPU.

#include <cstdint>
#include <expected>
#include <string>
#include <utility>
#include <vector>

#include "config/types.h"
#include "router/estimate.h"
#include "router/inventory.h"

namespace ask::router {

struct PlacementRequest {
  config::GpuApi api = config::GpuApi::cuda; // the preset's backend; cpu = no GPU at all
  std::vector<std::string> pins;             // GPU ids the model may use; empty = any
  bool allow_partial = false;                // some layers in host memory when GPUs are short
  int n_layers_request = -1;                 // the model's n_gpu_layers; -1 = all
};

struct GpuShare {
  std::string gpu;      // Gpu::id
  int device_index = 0; // the GPU's ordinal under the request's API
  int layers = 0;       // repeating layers on it
  bool output = false;  // holds the output layer (and logits, draft, projector)
  std::uint64_t bytes = 0;     // estimated use
  std::uint64_t available = 0; // usable before this placement
};

struct Plan {
  config::GpuApi api = config::GpuApi::cuda;
  std::vector<GpuShare> gpus; // in the order llama-server sees them
  int gpu_layers = 0;         // repeating layers on GPUs
  int host_layers = 0;        // repeating layers left in host memory
  std::uint64_t gpu_bytes = 0;
  std::uint64_t host_bytes = 0;
  std::vector<std::string> args; // "--device", "CUDA0,CUDA1", "-ngl", "999", "--tensor-split", …
  std::vector<std::pair<std::string, std::string>> env; // CUDA_VISIBLE_DEVICES, …
  // The llama.cpp device holding the output layer ("CUDA1"; "none" on the CPU): the draft
  // model and the projector go there too, where the estimate charged them.
  std::string output_device;
};

struct Shortfall {
  std::string gpu;
  std::uint64_t needed = 0;    // what this GPU would have to hold
  std::uint64_t available = 0;
};

struct NoFit {
  std::string reason;                // one sentence for people ("needs 41.2 GiB, 30.1 GiB usable on 2 GPUs")
  std::uint64_t needed = 0;          // total over the GPUs considered
  std::uint64_t available = 0;
  std::vector<Shortfall> per_gpu;    // with the best split found
};

std::expected<Plan, NoFit> place(const Estimate& est, const Inventory& inv,
                                 const PlacementRequest& req);

// "812.0 MiB", "41.23 GiB": sizes for people (binary units).
std::string human_bytes(std::uint64_t bytes);

// llama.cpp's name of a device under `api`: "CUDA0", "ROCm1", "Vulkan0", "SYCL0".
std::string device_name(config::GpuApi api, int ordinal);

} // namespace ask::router
