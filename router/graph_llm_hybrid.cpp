// llama.cpp's hybrid graphs: attention layers between recurrent (gated delta net) layers
// (src/models/qwen3next.cpp, qwen35.cpp, qwen35moe.cpp).

#include "router/graph_llm_detail.h"

namespace ask::router::graph::llm {

void Builder::build_hybrid() {
  throw MissingTensor("the hybrid graph of '" + p().arch + "' is not modelled yet");
}

} // namespace ask::router::graph::llm
