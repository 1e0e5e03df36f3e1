#pragma once
// An HTTP/1.1 request as net::HttpServer receives it, and the incremental parser that
// builds it from bytes arriving in any pieces. Input comes from the network, so every size
// is bounded and malformed input becomes an error with the status to answer, never a crash.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/strings.h"

namespace ask::net {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as sent: "/v1/models?x=1"
  std::string path;    // target without the query: "/v1/models"
  std::string query;   // after '?', without it; empty when none
  std::string version; // "HTTP/1.1" or "HTTP/1.0"
  std::vector<std::pair<std::string, std::string>> headers; // in arrival order
  std::string body;

  // The first header called `name` (case-insensitive), or nullopt.
  std::optional<std::string_view> header(std::string_view name) const;
  // HTTP/1.1 keeps the connection unless "Connection: close"; HTTP/1.0 closes unless
  // "Connection: keep-alive".
  bool wants_keep_alive() const;
};

struct RequestLimits {
  std::size_t max_header_bytes = 64 * 1024; // request line and headers together
  std::size_t max_headers = 100;
  std::size_t max_body_bytes = 32 * 1024 * 1024;
};

// Feed bytes with feed(); when state() is complete, take() hands the request over and the
// parser starts on the next one (bytes already received beyond it are kept: pipelining).
class RequestParser {
public:
  enum class State { incomplete, complete, failed };

  explicit RequestParser(RequestLimits limits = {});

  State feed(std::string_view bytes);
  State state() const { return m_state; }
  // The request; only valid when state() is complete. Resets the parser for the next one.
  HttpRequest take();
  // For failed: the status to answer (400, 411, 413, 431, 501, 505) and a short reason.
  int error_status() const { return m_error_status; }
  const std::string& error_message() const { return m_error_message; }
  // True when bytes of a next request (or of an unfinished one) are buffered.
  bool has_buffered_bytes() const { return !m_buffer.empty(); }

private:
  State parse_head(std::size_t head_end);
  State parse_request_line(std::string_view line);
  State parse_header_line(std::string_view line);
  State decide_body();
  State fail(int status, std::string message);
  State advance();

  RequestLimits m_limits;
  std::string m_buffer;
  HttpRequest m_request;
  bool m_head_done = false;
  std::size_t m_body_length = 0;
  State m_state = State::incomplete;
  int m_error_status = 0;
  std::string m_error_message;
};

// Case-insensitive ASCII comparison for header names and tokens (core/strings.h).
using core::iequals;

// RFC 9110 token: one or more of ALPHA, DIGIT and !#$%&'*+-.^_`|~ (methods, header names).
bool is_token(std::string_view s);

// Whether a comma-separated header value (`Connection: keep-alive, Upgrade`) lists `token`,
// ignoring case and the spaces around items (core/strings.h).
using core::contains_token;

} // namespace ask::net
