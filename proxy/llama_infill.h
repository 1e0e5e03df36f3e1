#pragma once
// Fill-in-the-middle on a managed llama-server: an OpenAI text completion with a suffix goes
// to llama-server's native POST /infill (its /v1/completions ignores "suffix"), and the native
// reply and stream come back as OpenAI text_completion objects. The translation functions
// are pure; infill_with / infill_stream_with do the HTTP over a leased instance's BackendHttp.
// Recorded replies: tests/fixtures/llama-server/infill*.

#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/openai.h"
#include "proxy/backend_http.h"
#include "proxy/ollama_translate.h"
#include "proxy/upstream.h"

namespace ask::proxy {

// The /infill body for a checked OpenAI text-completion request with a non-empty suffix:
// input_prefix = prompt, input_suffix = suffix, n_predict = max_tokens, stop as an array,
// `stream`; the other fields (temperature, top_p, seed, top_k, min_p, penalties, ... as the
// client or the model's params gave them) pass as they are, llama-server reading them under
// the same names. OpenAI-only fields (prompt, suffix, max_tokens, n, best_of, echo, logprobs,
// stream_options, user) are not sent: /infill reads "prompt" as the start of the middle.
// Errors: bad_request for a prompt of token ids or logprobs (which /infill cannot give).
core::Result<core::Json> llama_infill_request(const core::Json& openai_request, bool stream);

// A whole /infill reply ({"content","stop","stop_type","tokens_predicted",
// "tokens_evaluated",...}) as a text_completion with usage: stop_type "limit" -> finish_reason
// "length", anything else "stop". An {"error": ...} body is an upstream_status error;
// malformed shapes are malformed_reply.
core::Result<core::Json> completion_from_infill(const core::Json& reply, const ReplyMeta& meta);

// The events of a streaming /infill reply (native, not OpenAI: no [DONE]; the last event
// has "stop": true) as text_completion chunks: each non-empty content a chunk; the stop event
// a chunk with finish_reason and, when `include_usage`, a usage-only chunk (choices empty).
class InfillStreamTranslator {
public:
  InfillStreamTranslator(ReplyMeta meta, bool include_usage);

  core::Result<std::vector<core::Json>> translate(const core::Json& event);
  // True once the stop event has been translated.
  bool done() const { return m_done; }
  const core::Usage& usage() const { return m_usage; }

private:
  ReplyMeta m_meta;
  bool m_include_usage;
  bool m_done = false;
  core::Usage m_usage;
};

// POST /infill over `http` (a leased llama-server's) and the translated reply / stream.
// llama-server answers 501 "Infill is not supported by this model: prefix token is
// missing. ..." for a model without FIM tokens: an upstream 501, which moves the request on
// down its chain like any backend that cannot do the operation.
core::Result<core::Json> infill_with(BackendHttp& http, const core::Json& request,
                                     const CallContext& ctx);
core::Result<std::unique_ptr<ChunkStream>>
infill_stream_with(BackendHttp& http, const core::Json& request, const CallContext& ctx);

} // namespace ask::proxy
