#pragma once
// What the proxy sends upstream for one logical model: the client's request with the
// model's upstream name, its default params merged in (the request's own fields win), and
// the stream flags set.

#include <optional>
#include <string>

#include "config/types.h"
#include "core/openai.h"
#include "proxy/operation.h"

namespace ask::proxy {

// Merges `params` into `request`: a key the request lacks (or sets to null) is taken from
// params; when both hold objects (e.g. chat_template_kwargs) their keys merge the same way,
// one level deep. Returns the merged request.
core::Json merge_params(core::Json request, const core::Json& params);

// The body for `model`: merge_params (for chat and completions: the params are sampling
// settings, which embeddings and rerank do not take), then "model" = model.upstream, "stream"
// = `stream` (for operations that stream); stream_options is dropped from non-streaming
// requests.
core::Json prepare_request(const core::Json& client_request, const config::Model& model,
                           bool stream, Operation op = Operation::chat);

// The capability `model` lacks for `op` ("embedding", "insert" for a completion with a
// suffix, …), or none. A model whose config lists no capabilities is not judged here: its
// backend answers for it.
std::optional<std::string> missing_capability(const config::Model& model, Operation op,
                                              bool fill_in_middle = false);

} // namespace ask::proxy
