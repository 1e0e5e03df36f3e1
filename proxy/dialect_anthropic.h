#pragma once
// AnthropicDialect: Anthropic's Messages API (POST /v1/messages, what Claude Code and
// @anthropic-ai/sdk speak) as a front door onto askd's chat path. Pure translation: a
// Messages request as an OpenAI chat request, a chat reply (whole or chunk by chunk) as a
// Message or its event stream, errors as {"type":"error","error":{type,message}}. The shapes
// follow llama-server b10587's own /v1/messages door (tests/fixtures/llama-server/anthropic),
// so a client sees the same whether askd or llama-server answers. The comments atop
// dialect_anthropic_request.cpp and dialect_anthropic.cpp list each mapping and where it
// deliberately differs.

#include <memory>
#include <string>
#include <string_view>

#include "proxy/dialect.h"

namespace ask::proxy {

class AnthropicDialect final : public Dialect {
public:
  std::string_view name() const override { return "messages"; }
  // See anthropic_chat_request.
  core::Result<core::Json> to_openai(const core::Json& body) const override;
  core::Result<core::Json> to_openai_for_count(const core::Json& body) const override;
  core::Json reply(core::Json completion, const DialectMeta& meta) const override;
  std::unique_ptr<StreamEncoder> stream(const DialectMeta& meta) const override;
  core::Json error_body(int status, const core::Json& openai_error) const override;
  bool stream_usage_always() const override { return true; }
};

// The Messages request `body` as an OpenAI chat request (AnthropicDialect::to_openai). Errors:
// bad_request naming the field as Anthropic's API does ("messages[1].content[0].source.data").
// `counting`: a /v1/messages/count_tokens body, which has no max_tokens; sampling settings
// and stop sequences are not read.
core::Result<core::Json> anthropic_chat_request(const core::Json& body, bool counting = false);

// Anthropic's error `type` for an HTTP status: 400 invalid_request_error (and any other 4xx
// not below), 401 authentication_error, 402 billing_error, 403 permission_error, 404
// not_found_error, 413 request_too_large, 429 rate_limit_error, 504 timeout_error, 503 and
// 529 overloaded_error, 500 and any other status api_error.
std::string_view anthropic_error_type(int status);
// {"type":"error","error":{"type":anthropic_error_type(status),"message":message}}, for
// routes that answer in Anthropic's shape before any chat happens (count_tokens, a body that
// is not JSON).
core::Json anthropic_error(int status, std::string_view message);
// The Message id for askd's request id: "chatcmpl-abc" becomes "msg_abc", anything else is
// prefixed with "msg_".
std::string anthropic_message_id(std::string_view request_id);

} // namespace ask::proxy
