#pragma once
// OpenAI's own doors as Dialects: chat completions (POST /v1/chat/completions), text
// completions with fill-in-the-middle (/v1/completions), embeddings (/v1/embeddings) and
// rerank (/v1/rerank). Their requests are already what the Upstream takes, so they pass as
// they are once checked; streams are "data: {chunk}" frames ending in "data: [DONE]", and
// errors askd's OpenAI-shaped body.

#include "core/error.h"
#include "core/openai.h"
#include "proxy/dialect.h"

namespace ask::proxy {

// The instances (they hold no state).
const Dialect& chat_dialect();
const Dialect& completions_dialect();
const Dialect& embeddings_dialect();
const Dialect& rerank_dialect();

// The checks of each door's body (chat's is core::parse_chat_request, run by the handler).
// Each returns the body as the Upstream takes it; errors are bad_request naming the field.
// POST /v1/completions: "prompt" (a string, or an array of one string), "suffix", sampling
// settings, "stream" (proxy/completion_request.cpp).
core::Result<core::Json> completion_request(const core::Json& body);
// POST /v1/embeddings: "input" (a string, an array of strings or of token arrays),
// "encoding_format", "dimensions" (proxy/embedding_request.cpp).
core::Result<core::Json> embedding_request(const core::Json& body);
// POST /v1/rerank: "query", "documents" (strings), "top_n" (proxy/embedding_request.cpp).
core::Result<core::Json> rerank_request(const core::Json& body);

} // namespace ask::proxy
