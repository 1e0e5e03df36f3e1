#pragma once
// OpenAI /v1/embeddings <-> Ollama's native /api/embed, for OllamaUpstream::embed. Pure
// functions over JSON, like ollama_translate. Ollama has no rerank: OllamaUpstream keeps
// Upstream's 501, which moves a rerank request on down its chain.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/duration.h"
#include "core/error.h"
#include "core/openai.h"

namespace ask::proxy {

// The /api/embed body for an OpenAI embeddings request (already checked by
// embedding_request): `model` becomes `upstream_model`; "input" (a string or strings; token
// ids are a bad_request: Ollama takes text only) and "dimensions" pass; "truncate" is false,
// so an input longer than the context is Ollama's error rather than the embedding of a cut
// text; keep_alive as the chat translation sends it; `num_ctx` (the model's config
// context_length) as options.num_ctx. "encoding_format" is askd's business (see below);
// "user" is dropped.
core::Result<core::Json> ollama_embed_request(const core::Json& openai_request,
                                              std::string_view upstream_model,
                                              std::optional<core::Duration> keep_alive,
                                              std::optional<std::int64_t> num_ctx);

// Ollama's reply ({"model","embeddings":[[...]],"prompt_eval_count",...}) as OpenAI's
// {"object":"list","data":[{"object":"embedding","index","embedding"}],"model","usage"},
// reporting `model`. With `base64` each vector is its float32 values, little-endian, in
// base64 (what OpenAI and llama-server send for encoding_format "base64"). `inputs` is how
// many the request had: a reply with another count is malformed_reply, as is any other
// shape; an {"error": ...} body is upstream_status, as in the chat translation.
core::Result<core::Json> openai_embeddings_from_ollama(const core::Json& reply,
                                                       const std::string& model,
                                                       std::size_t inputs, bool base64);

// `values` as float32, little-endian, in standard base64 with padding.
std::string base64_float32(const std::vector<float>& values);

} // namespace ask::proxy
