#pragma once
// The compute buffers llama.cpp allocates for a model: llama_context::sched_reserve builds the
// worst-case graphs (a full ubatch, one token per sequence, the full ubatch again), hands each
// to ggml-backend's scheduler and keeps every backend's buffer at the largest peak. This
// replays that over the model's graph (router/graph_llm.h) with the scheduler and allocator
// model of router/graph_alloc.h, for any split of the layers over devices.

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/gguf.h"
#include "router/graph_alloc.h"

namespace ask::router {

// The resolved llama_context settings that shape the graphs (llama-context.cpp).
struct ComputeContext {
  std::uint64_t n_ctx = 0;       // total context
  std::uint64_t kv_size = 0;     // cells per stream of the full-attention cache (n_ctx_seq)
  std::uint64_t kv_size_swa = 0; // cells per stream of the sliding-window cache
  std::uint64_t n_seq_max = 1;   // slots
  bool kv_unified = false;
  std::uint64_t n_batch = 2048;
  std::uint64_t n_ubatch = 512;
  std::uint64_t n_outputs_max = 1; // logit rows the server asks for (cparams.n_outputs_max)
  bool flash_attn = true;
  std::uint32_t type_k = 1; // ggml type ids
  std::uint32_t type_v = 1;
};

// Where the model's weights and caches are: backends in llama.cpp's order (devices, then the
// CPU last), and for each weight and layer the index of its backend.
struct ComputeDevices {
  std::vector<graph::Backend> backends;
  std::function<int(int layer)> layer_device;
  std::function<int(const std::string& name, int layer)> weight_device;
  bool full_offload = false; // -ngl above the layer count
  // The scheduler's copies of its inputs: 4 when llama.cpp runs the devices as a pipeline
  // (pipeline_parallel(), below), else 1.
  int n_copies = 1;
  std::ostream* trace = nullptr; // graph_alloc.h reserve()'s trace of every reserved graph
};

struct ComputeBuffers {
  std::vector<std::uint64_t> bytes; // per backend, in ComputeDevices::backends order
  std::vector<std::string> notes;
};

// Fails (bad_request) for an architecture without a graph model or a file without a tensor
// the graph needs.
core::Result<ComputeBuffers> compute_buffers(const core::gguf::SplitModel& model,
                                             const core::gguf::ArchParams& params,
                                             const ComputeContext& ctx,
                                             const ComputeDevices& devices);

// The node count of the full-ubatch graph, as llama.cpp logs it ("graph nodes = N").
core::Result<std::size_t> graph_nodes(const core::gguf::SplitModel& model,
                                      const core::gguf::ArchParams& params,
                                      const ComputeContext& ctx, const ComputeDevices& devices);

// Whether llama_context turns on pipeline parallelism: more than one device, every layer
// offloaded, the KV cache offloaded, no tensor overrides (--n-cpu-moe is one), and every
// device taking async copies and events (CUDA, ROCm, Vulkan, SYCL, Metal; not RPC).
bool pipeline_parallel(const std::vector<graph::Backend>& devices, bool full_offload,
                       bool kv_offload, bool overrides);
inline constexpr int k_pipeline_copies = 4; // GGML_SCHED_MAX_COPIES

// One CPU backend holding everything: the devices of a model loaded in host memory only.
ComputeDevices host_only();

} // namespace ask::router
