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
  bool mmap = true;       // --no-mmap (false): host weights are read into buffers, not mapped
  bool kv_offload = true; // -nkvo (false): the KV cache of offloaded layers stays in host memory
};

struct GpuShare {
  std::string gpu;      // Gpu::id
  int device_index = 0; // the GPU's ordinal under the request's API; an rpc device's N in RPCN
  int layers = 0;       // repeating layers on it
  bool output = false;  // holds the output layer (and logits, draft, projector)
  std::uint64_t bytes = 0;     // estimated use
  std::uint64_t available = 0; // usable before this placement
  std::string device;          // llama-server's --device name: "CUDA0", "RPC1"
  std::string buffer;  // its buffers' name in the startup log: "CUDA0", "RPC0[10.0.0.2:50052]"
  bool remote = false; // an rpc-server's device
};

// What a plan takes of one inventory entry, for the scheduler's accounting.
struct Charge {
  std::string device; // Gpu::id
  std::uint64_t bytes = 0;
  // Of `bytes`, what a free-memory reading never shows as used: model weights mapped from the
  // file (mmap) are page cache, which MemAvailable counts as available.
  std::uint64_t unread = 0;
};

struct Plan {
  config::GpuApi api = config::GpuApi::cuda;
  std::vector<GpuShare> gpus; // in the order llama-server sees them
  int gpu_layers = 0;         // repeating layers on GPUs
  int host_layers = 0;        // repeating layers left in host memory
  std::uint64_t gpu_bytes = 0;   // over `gpus`, rpc devices included
  std::uint64_t host_bytes = 0;  // host buffers, and the layers and weights kept in host memory
  std::uint64_t host_mapped = 0; // of host_bytes: weights mapped from the model file (mmap)
  // The host-memory entry charged (Inventory::host(), "host"); "" when host memory is not
  // budgeted. It is charged host_bytes and every share on a unified GPU (host_charge).
  std::string host;
  std::uint64_t host_charge = 0;
  std::vector<std::string> rpc;  // rpc-server endpoints, for --rpc, in llama.cpp's numbering
  std::vector<std::string> args; // "--device", "CUDA0,CUDA1", "-ngl", "999", "--tensor-split", …
  std::vector<std::pair<std::string, std::string>> env; // CUDA_VISIBLE_DEVICES, …
  // The llama.cpp device holding the output layer ("CUDA1"; "none" on the CPU): the draft
  // model and the projector go there too, where the estimate charged them.
  std::string output_device;

  // Every entry it takes memory of: its shares, then host memory (when budgeted).
  std::vector<Charge> charges() const;
};

struct Shortfall {
  std::string gpu;
  std::uint64_t needed = 0;    // what this GPU would have to hold
  std::uint64_t available = 0;
};

struct NoFit {
  std::string reason;                // one sentence for people ("needs 41.2 GiB, 30.1 GiB usable on 2 GPUs")
  std::uint64_t needed = 0;          // total over the GPUs considered (or host memory)
  std::uint64_t available = 0;
  std::vector<Shortfall> per_gpu; // with the best split found; "host" when that is short
};

// Places on GPUs and rpc devices (Inventory kinds gpu and rpc) and charges host memory (kind
// host, when the inventory has it): the plan fits only if host memory holds its host bytes
// plus its shares on unified GPUs. docs/vram.md "Placement".
std::expected<Plan, NoFit> place(const Estimate& est, const Inventory& inv,
                                 const PlacementRequest& req);

// "812.0 MiB", "41.23 GiB": sizes for people (binary units).
std::string human_bytes(std::uint64_t bytes);

// llama.cpp's name of a device under `api`: "CUDA0", "ROCm1", "Vulkan0", "SYCL0".
std::string device_name(config::GpuApi api, int ordinal);

} // namespace ask::router
