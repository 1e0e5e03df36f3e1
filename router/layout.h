#pragma once
// What llama.cpp allocates on each device for one concrete split of a model: which layers
// each device holds (as llama.cpp derives them from -ngl and --tensor-split, or as a plan
// decides), and per device the weights, KV cache, recurrent state, compute buffer and output
// buffer, the host last. The estimate (router/estimate.h) gives per-layer figures and the
// compute buffers of typical loads for placement to search with; this gives the exact
// figures of the split it chose, for `askd plan`, /api/status and the truth-grid tests.

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/gguf.h"
#include "router/estimate.h"

namespace ask::router {

// A split of the model over devices.
struct Layout {
  std::vector<std::string> devices; // llama.cpp's device names in its order: "RPC0", "CUDA1", …
  std::vector<int> layer_device;    // per layer (block_count): index into devices, -1 = host
  int output_device = -1;           // the output layer's device; -1 = host
};

// llama_model::load_tensors' split: the last `n_gpu_layers` of the n_layer + 1 layers (the
// output layer counting as one) go to the devices, layer il to the first device whose
// cumulative share of `split` exceeds (il - first offloaded) / offloaded; `split` is
// --tensor-split, or each device's free memory when none is given.
Layout llama_layout(std::size_t n_layer, int n_gpu_layers, std::vector<std::string> devices,
                    const std::vector<double>& split);

struct DeviceMemory {
  std::string device; // a Layout device, or "host"
  std::uint64_t weights = 0;
  std::uint64_t kv = 0;
  std::uint64_t recurrent = 0;
  std::uint64_t compute = 0;
  std::uint64_t output = 0;
  // Host only: the part of the model file llama.cpp maps for host tensors (from the first
  // to the last one in the file, as it logs "CPU_Mapped model buffer size"). Weights it never
  // reads stay unmapped, so `weights` is what is resident.
  std::uint64_t mapped = 0;
  std::uint64_t total() const { return weights + kv + recurrent + compute + output; }
};

// The devices of `layout` in order, then the host. Fails like estimate(), and for a layout
// whose layer list does not match the model or that names a device index out of range.
// `trace` receives the scheduler's splits and ops (graph_alloc.h reserve()).
core::Result<std::vector<DeviceMemory>> estimate_layout(const core::gguf::SplitModel& model,
                                                        const EstimateInput& in,
                                                        const Layout& layout,
                                                        std::ostream* trace = nullptr);

} // namespace ask::router
