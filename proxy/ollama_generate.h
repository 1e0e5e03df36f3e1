#pragma once
// OpenAI text completions (POST /v1/completions, with fill-in-the-middle) over Ollama's native
// POST /api/generate, for the `ollama` backend: the request translated, the whole reply and
// the NDJSON stream turned into OpenAI text_completion objects. Pure functions over JSON and
// one small stream state machine; the HTTP side is in ollama_upstream.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/duration.h"
#include "core/error.h"
#include "core/openai.h"
#include "proxy/ollama_translate.h"

namespace ask::proxy {

// The /api/generate body for an OpenAI text-completion request (checked by completion_request,
// merged with the model's params): `model` becomes `upstream_model`; prompt (a string or an
// array of one string); a non-empty suffix is sent as `suffix` WITHOUT raw, since Ollama only
// applies the model's template, which is what lays out the FIM tokens, when raw is false;
// without a suffix the prompt goes `raw: true` (a text completion's prompt is raw text, not a
// chat turn). think false unless the request sets Ollama's `think` (a thinking model would
// otherwise have its text moved into "thinking"). options: temperature, top_p, seed, stop,
// max_tokens -> num_predict, the request's own "options" and Ollama option names; keep_alive
// when given (ollama_upstream adds num_ctx as for /api/chat). Errors are bad_request naming the
// field; a prompt of token ids, which /api/generate cannot take, is a 501 (the backend's limit: the
// chain moves on).
core::Result<core::Json> ollama_generate_request(const core::Json& openai_request,
                                                 std::string_view upstream_model,
                                                 std::optional<core::Duration> keep_alive,
                                                 bool stream);

// Ollama refuses a suffix for a model without its "insert" capability with a 400 ("... does
// not support insert"): that is the model's limit, not the client's mistake, so it becomes a
// 501, which moves the request on down its chain (as a llama-server without FIM tokens does).
// Other errors are returned as they are.
core::Error generate_error(core::Error error);

// A non-streaming /api/generate reply as a text_completion: response -> choices[0].text,
// done_reason -> finish_reason ("length" stays, the rest "stop"), usage from
// prompt_eval_count / eval_count. An {"error": ...} body is an upstream_status error;
// malformed shapes are malformed_reply.
core::Result<core::Json> completion_from_ollama(const core::Json& reply, const ReplyMeta& meta);

// The NDJSON objects of a streaming /api/generate reply as text_completion chunks: each
// non-empty `response` a chunk with that text; the `done` object a chunk with finish_reason
// and, when `include_usage`, a usage-only chunk (choices empty) as OpenAI sends it.
class OllamaGenerateTranslator {
public:
  OllamaGenerateTranslator(ReplyMeta meta, bool include_usage);

  // The chunks for one NDJSON object (possibly none). An {"error": ...} object is an
  // upstream_status error; a malformed one malformed_reply.
  core::Result<std::vector<core::Json>> translate(const core::Json& line);
  // True once the `done: true` object has been translated.
  bool done() const { return m_done; }
  // The usage from the done object (zeros until then).
  const core::Usage& usage() const { return m_usage; }

private:
  ReplyMeta m_meta;
  bool m_include_usage;
  bool m_done = false;
  core::Usage m_usage;
};

// A text_completion object: {"id","object":"text_completion","created","model",
// "choices":[{"text","index":0,"logprobs":null,"finish_reason"}]} (finish_reason null when
// empty). Shared with the llama-server /infill translation.
core::Json text_completion(const ReplyMeta& meta, std::string text, std::string_view finish_reason);
// The prompt of a checked text-completion request as text (a string, or an array of one
// string); nullopt for a prompt of token ids. Shared likewise.
std::optional<std::string> completion_prompt_text(const core::Json& request);
// The request's non-empty "suffix", else nullopt.
std::optional<std::string> completion_suffix(const core::Json& request);

} // namespace ask::proxy
