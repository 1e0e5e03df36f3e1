#pragma once
// Dialect: a client API that askd answers through its one request path. Every front door
// turns its request into the OpenAI request of its operation: a chat request for the chat
// doors (OpenAI chat completions, Anthropic Messages, OpenAI Responses), OpenAI's own
// request for text completions, embeddings and rerank. That request then goes down the same
// fallback chain, limits, metrics and request log as any other (proxy/chat.cpp); the reply,
// whole or as chunks, is turned back into the door's own shape. Errors too are written in
// the door's shape.
//
// Translating in askd rather than passing each API through to backends that speak it keeps
// one fallback path for every backend kind: llama-server b10587 itself answers /v1/messages
// and /v1/responses by converting them to its chat path, so the prompt a model sees is the
// same either way (docs/proxy.md, "Front doors").

#include <memory>
#include <string>
#include <string_view>

#include "core/error.h"
#include "core/openai.h"
#include "proxy/operation.h"

namespace ask::proxy {

// Who answered, for a reply's id, timestamps and model fields.
struct DialectMeta {
  std::string id;        // askd's request id ("chatcmpl-…"); a door may derive its own form
  long long created = 0; // unix seconds
  std::string model;     // the logical model that served (what the client sees as "model")
};

// Turns one streamed reply (OpenAI chat.completion.chunk objects, in order) into the door's
// server-sent events. Each call appends whole SSE frames to `out` (possibly none).
class StreamEncoder {
public:
  virtual ~StreamEncoder() = default;
  // One chunk from the chain (the usage-only chunk too: doors that report usage at the end
  // read it here and write nothing for it).
  virtual void chunk(const core::Json& chunk, std::string& out) = 0;
  // The stream ended normally: the door's closing events (OpenAI: "data: [DONE]").
  virtual void finish(std::string& out) = 0;
  // The backend failed after the first content: the door's in-stream error event, which
  // ends the stream (no finish() follows).
  virtual void fail(const core::Error& error, std::string& out) = 0;
};

class Dialect {
public:
  virtual ~Dialect() = default;
  // For logs and metrics: "chat", "messages", "responses", "completions", "embeddings",
  // "rerank".
  virtual std::string_view name() const = 0;
  // What the door asks of a model.
  virtual Operation operation() const { return Operation::chat; }
  // The client's body as the OpenAI request of operation() ("model" and "stream" kept), for
  // chat already valid enough for core::parse_chat_request. Errors: bad_request naming the
  // field in the door's own terms ("messages[1].content[0].source").
  virtual core::Result<core::Json> to_openai(const core::Json& body) const = 0;
  // A token-count request's body (the door's request without what only generation needs,
  // such as Messages' required max_tokens) as a chat request, for count_tokens.
  virtual core::Result<core::Json> to_openai_for_count(const core::Json& body) const {
    return to_openai(body);
  }
  // A whole reply of the operation (chat: a chat.completion, already parsed and valid) as the
  // door's reply. Taken by value: most doors hand it on or take it apart.
  virtual core::Json reply(core::Json completion, const DialectMeta& meta) const = 0;
  // An encoder for one streamed reply (chat and completion only).
  virtual std::unique_ptr<StreamEncoder> stream(const DialectMeta& meta) const = 0;
  // The body of an error reply with HTTP status `status`, in the door's shape, from the body
  // askd writes for chat: {"error":{"message","type","code"}} (core::ErrorBody).
  virtual core::Json error_body(int status, const core::Json& openai_error) const = 0;
  // Whether the door always reports token usage at the end of a stream (Anthropic and
  // Responses do; OpenAI chat only when stream_options.include_usage asks).
  virtual bool stream_usage_always() const = 0;
};

} // namespace ask::proxy
