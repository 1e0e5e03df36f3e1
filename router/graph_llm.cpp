// llama.cpp's graph builders at build b10587, as shapes: llm_graph_context's helpers
// (build_inp_embd, build_norm, build_qkv, build_attn, build_attn_mha, build_ffn,
// build_moe_ffn, the KV cache's cpy_k / cpy_v / get_k / get_v) and the per-architecture
// graphs of src/models/*.cpp. Each function names the llama.cpp function it follows; the
// order of ops and of ggml_build_forward_expand calls is kept, since the allocator's peak
// depends on it.

#include "router/graph_llm.h"

#include <algorithm>
#include <map>
#include <optional>
#include <stdexcept>
#include <string_view>

#include "router/graph_llm_detail.h"

namespace ask::router::graph {

using core::Error;
using core::fail;

namespace {

using Builder = llm::Builder;

// The architectures whose graph is the llama one with optional pieces (q/k norms, biases,
// rope factors, MoE feed-forward): src/models/llama.cpp, qwen2.cpp, qwen3.cpp, qwen3moe.cpp,
// mistral3.cpp.
bool is_llama_like(std::string_view arch) {
  for (std::string_view a : {"llama", "mistral3", "qwen2", "qwen3", "qwen3moe", "qwen2moe"}) {
    if (arch == a) {
      return true;
    }
  }
  return false;
}

} // namespace

bool has_graph(std::string_view arch) {
  return is_llama_like(arch) || llm::has_other_graph(arch);
}

core::Result<LlmGraph> build_graph(const core::gguf::SplitModel& model,
                                   const core::gguf::ArchParams& params, const LlmShape& shape,
                                   const LlmPlacement& placement) {
  if (!has_graph(params.arch)) {
    return fail(
        Error::bad_request("no compute graph model for architecture '" + params.arch + "'"));
  }
  // Counts that set how many ops a graph has: bounded, so a hostile file cannot make one of
  // millions of ops per layer.
  if (params.n_expert > 4096 ||
      params.n_expert_used > std::min<std::uint64_t>(params.n_expert, 256) || shape.n_tokens <= 0 ||
      shape.n_seqs <= 0 || shape.n_stream <= 0) {
    return fail(Error::bad_request("model: expert counts or batch sizes beyond what the graph "
                                   "model simulates"));
  }
  Builder b(model, params, shape, placement);
  try {
    if (is_llama_like(params.arch)) {
      b.build_llama();
    } else {
      b.build_other();
    }
  } catch (const llm::MissingTensor& e) {
    return fail(Error::bad_request(std::string("model: ") + e.what()));
  } catch (const std::length_error& e) {
    return fail(Error::bad_request(std::string("model: dimensions too large: ") + e.what()));
  }
  return b.finish();
}

} // namespace ask::router::graph
