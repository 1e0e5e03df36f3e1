#pragma once
// Error: what went wrong, as a kind the fallback executor can branch on plus a message a
// person can act on. Expected failures travel as std::expected<T, Error> (`Result<T>`);
// exceptions are kept for start-up and for last-resort catches at module edges.

#include <expected>
#include <string>
#include <string_view>

namespace ask::core {

enum class ErrorKind {
  connect,          // connection refused or reset, DNS failure, peer gone
  timeout,          // connect, first-byte or whole-request deadline passed
  upstream_status,  // the backend answered with an error status, or with a malformed reply
  overloaded,       // a queue is full or a scheduler cannot place the model
  bad_request,      // the caller's input is wrong; retrying elsewhere would not help
  context_exceeded, // the prompt does not fit this model's context window; a larger one may
  not_found,        // an unknown model, file or route
  internal,         // a bug or an impossible state; logged and counted
  cancelled,        // abandoned: the client went away or askd is stopping; nobody to answer
};

// The stable lower-case name of a kind ("upstream_status"), used in logs and metrics.
std::string_view to_string(ErrorKind kind);

// For context_exceeded: the prompt's tokens and the window they did not fit (0 when not
// known), and whether the count is askd's estimate rather than the model's own tokenizer's.
struct ContextSize {
  long long prompt_tokens = 0;
  long long context = 0;
  bool estimated = false;
};

struct Error {
  ErrorKind kind = ErrorKind::internal;
  std::string message;
  // For upstream_status: the HTTP status the backend sent (4xx, 5xx; or the code of an
  // error it sent in-band, in a 200 reply or a stream), or 502 when the reply was malformed
  // (unparseable JSON, wrong shapes), so that the fallback executor treats it as a server
  // failure. 0 for every other kind.
  int http_status = 0;
  // Seconds after which the same request may succeed, where the part that failed knows (the
  // end of a crash-loop backoff); 0 = unknown. A chain that fails for lack of capacity
  // answers 503 with it as Retry-After.
  int retry_after_s = 0;
  ContextSize context_size{}; // context_exceeded only

  static Error connect(std::string msg) { return {ErrorKind::connect, std::move(msg), 0, 0}; }
  static Error timeout(std::string msg) { return {ErrorKind::timeout, std::move(msg), 0, 0}; }
  static Error upstream(int status, std::string msg) {
    return {ErrorKind::upstream_status, std::move(msg), status, 0};
  }
  // The backend's reply could not be understood: upstream_status with http_status 502.
  static Error malformed_reply(std::string msg) {
    return {ErrorKind::upstream_status, std::move(msg), k_malformed_reply_status, 0};
  }
  static constexpr int k_malformed_reply_status = 502;
  static Error overloaded(std::string msg) { return {ErrorKind::overloaded, std::move(msg), 0, 0}; }
  static Error bad_request(std::string msg) {
    return {ErrorKind::bad_request, std::move(msg), 0, 0};
  }
  static Error context_exceeded(std::string msg, ContextSize size) {
    return {ErrorKind::context_exceeded, std::move(msg), 0, 0, size};
  }
  static Error not_found(std::string msg) { return {ErrorKind::not_found, std::move(msg), 0, 0}; }
  static Error internal(std::string msg) { return {ErrorKind::internal, std::move(msg), 0, 0}; }
  static Error cancelled(std::string msg) { return {ErrorKind::cancelled, std::move(msg), 0, 0}; }

  // The HTTP status askd answers with for this error: bad_request and context_exceeded 400,
  // not_found 404,
  // overloaded 429, timeout 504, connect 502, internal 500, cancelled 499 (nginx's "client
  // closed request", for logs: nobody reads it); upstream_status passes a
  // backend's 4xx through (the client's request was at fault, retrying will not help) and
  // answers 502 for 5xx, 0 and anything else.
  int status_for_client() const;
  // OpenAI's error `type` for this error: "invalid_request_error" (bad_request, an upstream
  // 4xx), "not_found_error" (not_found, an upstream 404), "rate_limit_error" (overloaded, an
  // upstream 429), "timeout_error", else "server_error".
  std::string_view openai_type() const;
  // "kind: message", for logs.
  std::string describe() const;
};

template <class T> using Result = std::expected<T, Error>;

inline std::unexpected<Error> fail(Error e) {
  return std::unexpected<Error>(std::move(e));
}

} // namespace ask::core
