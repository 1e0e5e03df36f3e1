#pragma once
// OpenAI <-> Ollama translation for the `ollama` backend, which speaks Ollama's native
// /api/chat (the only API that honours keep_alive and think). Pure functions over JSON and one
// small stream state machine; the HTTP side is in ollama_upstream. docs/backends.md lists
// every field mapping.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/duration.h"
#include "core/error.h"
#include "core/openai.h"

namespace ask::proxy {

// What a translated reply says about itself: the id, the creation time and the model name to
// report (askd reports the served logical model, not the Ollama tag).
struct ReplyMeta {
  std::string id;        // "chatcmpl-..."
  long long created = 0; // Unix seconds
  std::string model;
};

// The /api/chat body for an OpenAI chat request (already merged with the logical model's
// default params): `model` becomes `upstream_model`; messages (text and image parts, tool calls
// and tool results), tools, response_format (json_object -> "json", json_schema -> the schema),
// think, and options (temperature, top_p, top_k, seed, stop, max_tokens /
// max_completion_tokens -> num_predict, num_ctx, and Ollama's other option names). keep_alive is
// sent when given (Ollama's own default otherwise): seconds as an integer, "forever" as -1.
// tool_choice, which Ollama lacks, is expressed through the tools offered; fields Ollama has
// no use for are dropped (docs/backends.md lists them).
// Errors are bad_request naming the field (e.g. an image given by http URL: Ollama takes
// only inline base64 data).
core::Result<core::Json> ollama_chat_request(const core::Json& openai_request,
                                             std::string_view upstream_model,
                                             std::optional<core::Duration> keep_alive,
                                             bool stream);

// A non-streaming /api/chat reply as an OpenAI chat.completion: content, thinking ->
// reasoning_content, tool calls (arguments object -> JSON string, ids made up when Ollama sends
// none), done_reason -> finish_reason ("tool_calls" when calls were made), usage from
// prompt_eval_count / eval_count. An {"error": ...} body is an upstream_status error;
// malformed shapes are Error::malformed_reply.
core::Result<core::Json> openai_response_from_ollama(const core::Json& reply,
                                                     const ReplyMeta& meta);

// Turns the NDJSON objects of a streaming /api/chat reply into OpenAI chat.completion.chunk
// objects, in order: the first chunk carries role "assistant"; message.content -> delta.content,
// message.thinking -> delta.reasoning_content, tool calls -> delta.tool_calls (each call whole,
// with its index); the `done` object gives a chunk with finish_reason and, when
// `include_usage`, a final usage-only chunk (choices empty) as OpenAI sends it.
class OllamaStreamTranslator {
public:
  OllamaStreamTranslator(ReplyMeta meta, bool include_usage);

  // The chunks for one NDJSON object (possibly none). An {"error": ...} object mid-stream is an
  // upstream_status error (502 unless it carries a status); a malformed one is malformed_reply.
  core::Result<std::vector<core::Json>> translate(const core::Json& line);
  // True once the `done: true` object has been translated.
  bool done() const { return m_done; }
  // The usage from the done object (zeros until then).
  const core::Usage& usage() const { return m_usage; }

private:
  ReplyMeta m_meta;
  bool m_include_usage;
  bool m_sent_role = false;
  bool m_done = false;
  int m_tool_calls = 0;
  core::Usage m_usage;
};

} // namespace ask::proxy
