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
  std::size_t max_body_bytes = 32 * 1024 * 1024; // after chunked decoding
};

// Feed bytes with feed(); when state() is complete, take() hands the request over and the
// parser starts on the next one (bytes already received beyond it are kept: pipelining).
// Between the two, head_done() turns true as soon as the request line and headers are in:
// the server looks at them (API key, Expect, body size) before it reads a byte of the body.
// Bodies come framed by Content-Length or by Transfer-Encoding: chunked (decoded here; chunk
// extensions and trailer fields are read and dropped). Lines end in CRLF: a bare LF in a head
// fails at once (RFC 9112 2.2 lets a server refuse it; waiting for a CRLF that never comes
// would hang the client).
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

  // The head of the request being read, once head_done(): method, target, headers; no body.
  bool head_done() const { return m_head_done; }
  const HttpRequest& head() const { return m_request; }
  // Whether the request being read has a body still to come (Content-Length > 0, or chunked).
  bool expects_body() const { return m_chunked || m_body_length > 0; }
  // The declared Content-Length of the request being read (0 for chunked or none).
  std::size_t declared_length() const { return m_chunked ? 0 : m_body_length; }
  // Body bytes received so far for the request being read (as sent, before chunk decoding).
  std::size_t body_bytes_received() const;

private:
  State parse_head(std::size_t head_end);
  State parse_request_line(std::string_view line);
  State parse_header_line(std::string_view line);
  State decide_body();
  State read_chunked();
  State fail(int status, std::string message);
  State advance();

  enum class Chunk { size, data, data_end, trailer };

  RequestLimits m_limits;
  std::string m_buffer;
  std::size_t m_scanned = 0; // bytes of the head already checked for bare LF
  HttpRequest m_request;
  bool m_head_done = false;
  std::size_t m_body_length = 0;
  bool m_chunked = false;
  Chunk m_chunk = Chunk::size;
  std::size_t m_chunk_left = 0;    // data bytes of the current chunk not yet decoded
  std::size_t m_chunk_wire = 0;    // chunked bytes consumed from the wire so far
  std::size_t m_trailer_bytes = 0; // trailer section so far, bounded like a head
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
