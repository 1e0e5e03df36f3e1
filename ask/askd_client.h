#pragma once
// AskdClient: ask's side of the conversation with askd over HTTP — one chat completion
// (streamed, or whole for --json) and the model list. Built on net::HttpClient, so the same
// deadlines apply (connect, first byte, idle, the whole call) and a stop pipe (SIGINT)
// cancels a call at once, closing the connection so askd cancels its backend request.

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ask/exit_code.h"
#include "core/openai.h"
#include "net/http_client.h"

namespace ask::cli {

// askd's address: "http://127.0.0.1:11436", with or without a trailing "/" or "/v1"; https
// is allowed. The path, minus "/v1", is a prefix for a proxy in front of askd.
struct Endpoint {
  bool tls = false;
  std::string host;
  int port = 0;
  std::string base_path; // "" or "/prefix" (no trailing slash)
};
core::Result<Endpoint> parse_endpoint(std::string_view url);

struct ClientSettings {
  Endpoint endpoint;
  std::optional<std::string> api_key;
  std::chrono::milliseconds connect_timeout{3000};
  // askd falls back and may load a model before its first byte: generous by default.
  std::chrono::milliseconds first_byte_timeout{std::chrono::minutes(10)};
  std::chrono::milliseconds idle_timeout{std::chrono::minutes(5)};
  std::optional<std::chrono::steady_clock::time_point> deadline; // --timeout
  int stop_fd = -1; // readable = stop now (the SIGINT pipe)
};

// What askd said about who answered (its response headers).
struct ServedInfo {
  std::string request_id;
  std::string requested;        // X-Requested-Model: the logical model after aliases
  std::string served_by;        // X-Served-By
  std::string fallback_path;    // X-Fallback-Path: "fast-9b>fast-3b>fast-1b"
  std::string council_members;  // X-Council-Members
  std::string fallback_reasons; // X-Fallback-Reasons: "fast-9b=not_pulled,fast-3b=connect"
  std::string server_timing;    // Server-Timing: each attempt's duration, queue and load waits
};

// One model askd tried, from X-Fallback-Reasons and Server-Timing.
struct AttemptInfo {
  std::string model;
  std::string reason;            // "" for the model that served
  std::optional<double> seconds; // how long the attempt took, when askd said
};

// What askd's headers say about the way to the answer: every attempt in order (the served one
// last), and the time spent waiting for a concurrency permit and for a model to load.
struct RouteInfo {
  std::vector<AttemptInfo> attempts;
  std::optional<double> queue_s;
  std::optional<double> load_s;
};
RouteInfo route_info(const ServedInfo& served);

// A fallback reason in a few words for people: "not_pulled" → "not pulled", "connect" →
// "backend down", "context" → "prompt too long", "status_503" → "HTTP 503".
std::string reason_words(std::string_view reason);

struct ChatReply {
  ServedInfo served;
  core::ChatResponse response;  // the whole response (accumulated from the stream)
  std::string answer;           // choice 0's content
  std::optional<double> ttft_s; // time to the first answer text, reasoning not counted
                                // (streams only)
};

struct ChatFailure {
  FailureKind kind = FailureKind::other;
  std::string message;
  ServedInfo served;            // what askd said before failing, if anything
  std::string partial_answer;   // text printed before a stream broke
  std::optional<double> ttft_s; // when that text began
};

// Callbacks while a stream arrives (non-empty pieces of choice 0); each may be empty.
struct StreamSink {
  std::function<void(const ServedInfo&)> on_head;
  std::function<void(std::string_view)> on_text;
  std::function<void(std::string_view)> on_reasoning;
};

class AskdClient {
public:
  explicit AskdClient(ClientSettings settings);

  // POST /v1/chat/completions. With request["stream"] true the answer arrives through `sink`
  // as it is generated; otherwise in one piece. Failures are classified for the exit code.
  std::expected<ChatReply, ChatFailure> chat(const core::Json& request, const StreamSink& sink);
  // GET /v1/models: askd's JSON list.
  std::expected<core::Json, ChatFailure> models();

  const ClientSettings& settings() const { return m_settings; }

private:
  net::ClientRequest make_request(std::string method, const std::string& path,
                                  std::string body) const;
  net::ClientTimeouts timeouts() const;
  ChatFailure transport_failure(const core::Error& e) const;

  ClientSettings m_settings;
  net::HttpClient m_http;
};

// The failure kind for askd's error status and body (error.code "all_models_failed" or
// "overloaded" → all_failed; 4xx → rejected; 504 → timeout; else other).
FailureKind classify_status(int status, const core::Json& body);

} // namespace ask::cli
