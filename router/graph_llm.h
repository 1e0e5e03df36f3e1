#pragma once
// llama.cpp's compute graphs, as router/graph.h graphs: the graph llama_context::graph_reserve
// builds for a worst-case ubatch of a model (from its GGUF header), with the same ops, shapes,
// views and order as llama.cpp's builders at build b10587 (src/llama-graph.cpp and
// src/models/*.cpp), so that router/graph_alloc.h finds the same compute-buffer peaks.
// Architectures it does not know are reported, not guessed.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/gguf.h"
#include "router/graph.h"

namespace ask::router::graph {

// The llama_context settings and the ubatch of one reserved graph.
struct LlmShape {
  std::int64_t n_tokens = 512;  // tokens in the ubatch
  std::int64_t n_seqs = 1;      // sequences in the ubatch (n_seq_max when reserving)
  std::int64_t n_outputs = 1;   // logit rows
  std::int64_t n_stream = 1;    // KV streams: 1 when unified, else n_seq_max
  std::int64_t kv_size = 0;     // cells per stream of the full-attention cache
  std::int64_t kv_size_swa = 0; // cells per stream of the sliding-window cache
  bool flash_attn = true;
  std::uint32_t type_k = f16;
  std::uint32_t type_v = f16;
  // ngl > n_layer: llama.cpp pins each layer's norms to the layer's device
  // (llama_context::graph_get_cb), as it does for any ubatch under 32 tokens.
  bool full_offload = false;
};

// Where each weight and cache lives: a backend index (router/graph_alloc.h), -1 = host.
struct LlmPlacement {
  // The device of a weight, by its GGUF name and layer (-1 for input and output tensors).
  std::function<int(const std::string& name, int layer)> weight_device;
  std::function<int(int layer)> layer_device; // the layer's device: its KV cache, its norms
};

struct LlmGraph {
  std::unique_ptr<Graph> graph;
  std::vector<std::string> notes; // where the model departs from llama.cpp's graph
};

// Whether `arch` has a graph builder here ("llama", "qwen3", …).
bool has_graph(std::string_view arch);

// Builds the graph llama.cpp reserves for `model`. Fails (bad_request) for an architecture
// without a builder or a file missing a tensor the builder needs (naming it).
core::Result<LlmGraph> build_graph(const core::gguf::SplitModel& model,
                                   const core::gguf::ArchParams& params, const LlmShape& shape,
                                   const LlmPlacement& placement);

} // namespace ask::router::graph
