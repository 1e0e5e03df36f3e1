#pragma once
// llama-server's wire formats, key order included (nlohmann::ordered_json), as recorded in
// tests/fixtures/llama-server: chat completion bodies and stream chunks, timings, error
// bodies, and the response headers cpp-httplib sends for it.

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "sim/generator.h"
#include "sim/http.h"

namespace ask::sim::llama {

using OJson = nlohmann::ordered_json;

inline constexpr const char* k_system_fingerprint = "b10587-3f545becc";
inline constexpr const char* k_build_info = "b10587-3f545becc";

// What every chunk and response of one completion shares.
struct CompletionMeta {
  std::string id; // "chatcmpl-" + 32 alphanumerics
  long long created = 0;
  std::string model;
};

struct Timings {
  long long prompt_n = 0;
  double prompt_ms = 0;
  long long predicted_n = 0;
  double predicted_ms = 0;
};

OJson timings_json(const Timings& t);
OJson usage_json(long long prompt_tokens, long long completion_tokens);

// {"choices":[{"finish_reason":null,"index":0,"delta":DELTA}],"created",...,"object"}.
OJson chunk(const CompletionMeta& meta, OJson delta);
// The first chunk's delta: {"role":"assistant","content":null}.
OJson role_delta();
OJson token_delta(const Token& token);
// One delta with the whole call: index, id, type, function{name, arguments}.
OJson tool_call_delta(const ToolCallPlan& call);
// The last chunk: finish_reason and an empty delta; `timings` unless a usage chunk follows.
OJson final_chunk(const CompletionMeta& meta, const std::string& finish_reason,
                  const std::optional<Timings>& timings);
// {"choices":[],...,"usage":{...},"timings":{...}}.
OJson usage_chunk(const CompletionMeta& meta, long long prompt_tokens, long long completion_tokens,
                  const Timings& timings);
// A whole non-streaming response.
OJson completion(const CompletionMeta& meta, const Answer& answer, const Timings& timings);

// "data: <json>\n\n", the JSON as core::dump_json writes it (as llama-server does: compact,
// UTF-8 kept, invalid bytes replaced).
std::string sse(const OJson& event);

// An error llama-server answers with: status, message, type, and extra fields that go into
// the body's "error" object (n_prompt_tokens, n_ctx).
struct ErrorReply {
  int status = 500;
  std::string message;
  std::string type;
  OJson extra = OJson::object();
};

// {"error":{"code":N,"message":M,"type":T}} plus `extra` fields inside "error".
OJson error_body(int code, const std::string& message, const std::string& type,
                 const OJson& extra = OJson::object());
// 404's body has its own key order: {"error":{"message":"File Not Found",...,"code":404}}.
OJson not_found_body();
// llama-server's error type for a status: 400 invalid_request_error, 401
// authentication_error, 404 not_found_error, 501 not_supported_error, 503
// unavailable_error, other 5xx server_error.
std::string error_type(int status);

// Headers of a JSON response: Server, Access-Control-Allow-Origin, Content-Type,
// Content-Length, then Keep-Alive or (status >= 400 or no keep-alive) Connection: close.
Headers json_headers(int status, std::size_t content_length, bool keep_alive,
                     const std::string& content_type = "application/json; charset=utf-8");
// Headers of an event stream: ..., X-Accel-Buffering: no, Content-Type: text/event-stream,
// Transfer-Encoding: chunked, Keep-Alive.
Headers sse_headers(bool keep_alive);

} // namespace ask::sim::llama
