#pragma once
// ModelFacts: what a backend says about one of its models, for the /v1/models entries of
// models whose config leaves it out: the context window and the capabilities (Ollama's
// vocabulary, as config Model::capabilities). From llama-server's GET /props (its slot's
// n_ctx; vision from "modalities", tools from the chat template's caps) and Ollama's
// POST /api/show ("capabilities", and "<architecture>.context_length" from "model_info",
// the longest context the model was trained for). Pure functions over replies; the
// questions are asked by each Upstream (Upstream::facts).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/openai.h"

namespace ask::proxy {

struct ModelFacts {
  std::optional<std::int64_t> context_length;
  std::vector<std::string> capabilities; // empty = not said
};

// llama-server's /props reply. Fields of the wrong type are left out; anything but an object
// is malformed_reply.
core::Result<ModelFacts> facts_from_props(const core::Json& props);

// Ollama's /api/show reply, likewise.
core::Result<ModelFacts> facts_from_ollama_show(const core::Json& show);

} // namespace ask::proxy
