#pragma once
// ResponsesDialect: OpenAI's Responses API (POST /v1/responses, what Codex and the newer OpenAI
// SDKs speak) as a Dialect, stateless: askd keeps no responses, so a request carries the whole
// conversation in `input` and `previous_response_id` is refused. Request items become chat
// messages; the chat reply, whole or streamed, becomes a response object or the Responses
// event stream (response.created … response.completed, each event with a sequence_number).
// The recordings under tests/fixtures/llama-server/responses show what llama-server's own
// door answers; this one writes the same events and fields plus those OpenAI's SDKs need.

#include <memory>
#include <string_view>

#include "proxy/dialect.h"

namespace ask::proxy {

class ResponsesDialect final : public Dialect {
public:
  // Replies echo the defaults for the request's settings (no tools, tool_choice "auto", …).
  ResponsesDialect();
  // Replies echo the settings of `request_body` (instructions, tools, tool_choice,
  // temperature, top_p, max_output_tokens, text, reasoning, parallel_tool_calls, metadata)
  // as OpenAI's response object does; values of the wrong type are echoed as the defaults.
  explicit ResponsesDialect(const core::Json& request_body);

  std::string_view name() const override { return "responses"; }
  // Errors are bad_request naming the field in Responses terms ("input[2].content[0].file_id").
  core::Result<core::Json> to_openai(const core::Json& body) const override;
  core::Json reply(core::Json completion, const DialectMeta& meta) const override;
  std::unique_ptr<StreamEncoder> stream(const DialectMeta& meta) const override;
  core::Json error_body(int status, const core::Json& openai_error) const override;
  bool stream_usage_always() const override { return true; }

private:
  core::Json m_echo; // the response object's fields that echo the request
};

} // namespace ask::proxy
