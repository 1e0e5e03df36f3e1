#pragma once
// Error: what went wrong, as a kind the fallback executor can branch on plus a message a
// person can act on. Expected failures travel as std::expected<T, Error> (`Result<T>`);
// exceptions are kept for start-up and for last-resort catches at module edges.

#include <expected>
#include <string>
#include <string_view>

namespace ask::core {

enum class ErrorKind {
  connect,         // connection refused or reset, DNS failure, peer gone
  timeout,         // connect, first-byte or whole-request deadline passed
  upstream_status, // the backend answered with an HTTP error status
  overloaded,      // a queue is full or a scheduler cannot place the model
  bad_request,     // the caller's input is wrong; retrying elsewhere would not help
  not_found,       // an unknown model, file or route
  internal,        // a bug or an impossible state; logged and counted
};

// The stable lower-case name of a kind ("upstream_status"), used in logs and metrics.
std::string_view to_string(ErrorKind kind);

struct Error {
  ErrorKind kind = ErrorKind::internal;
  std::string message;
  int http_status = 0; // the upstream's status for upstream_status; 0 when none

  static Error connect(std::string msg) { return {ErrorKind::connect, std::move(msg), 0}; }
  static Error timeout(std::string msg) { return {ErrorKind::timeout, std::move(msg), 0}; }
  static Error upstream(int status, std::string msg) {
    return {ErrorKind::upstream_status, std::move(msg), status};
  }
  static Error overloaded(std::string msg) { return {ErrorKind::overloaded, std::move(msg), 0}; }
  static Error bad_request(std::string msg) {
    return {ErrorKind::bad_request, std::move(msg), 0};
  }
  static Error not_found(std::string msg) { return {ErrorKind::not_found, std::move(msg), 0}; }
  static Error internal(std::string msg) { return {ErrorKind::internal, std::move(msg), 0}; }

  // The HTTP status askd answers with for this error (400, 404, 429, 502, 504, 500).
  int status_for_client() const;
  // OpenAI's error `type` for this error ("invalid_request_error", "server_error", ...).
  std::string_view openai_type() const;
  // "kind: message", for logs.
  std::string describe() const;
};

template <class T> using Result = std::expected<T, Error>;

inline std::unexpected<Error> fail(Error e) { return std::unexpected<Error>(std::move(e)); }

} // namespace ask::core
