#pragma once
// An HTTP/1.1 response as net::HttpClient receives it, and the incremental parser that
// decodes it from bytes arriving in any pieces: the status line, headers, then a body framed
// by Content-Length, chunked transfer coding or the connection's close. Input comes from a
// backend, so every size is bounded and malformed input becomes an error, never a crash.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ask::net {

using ClientHeaders = std::vector<std::pair<std::string, std::string>>;

struct ResponseHead {
  int status = 0;
  std::string reason;
  ClientHeaders headers; // in arrival order
  // The first header called `name` (case-insensitive), or nullopt.
  std::optional<std::string_view> header(std::string_view name) const;
};

struct ResponseLimits {
  std::size_t max_head_bytes = 64 * 1024;      // status line and headers of one head; also trailers
  std::size_t max_headers = 100;               // fields in one head; also trailer fields
  std::size_t max_chunk_line_bytes = 4 * 1024; // a chunk size line with its extensions
  std::size_t max_interim_heads = 16;          // 1xx heads skipped before the final one
};

// How the end of the body is found (RFC 9112 section 6.3).
enum class BodyFraming { none, length, chunked, until_close };

// Call reset() before each response, feed() bytes as they arrive, finish() when the peer
// closes. Lines may end with CRLF or a bare LF (RFC 9112 section 2.2 lets a recipient accept
// it); 1xx heads (but 101) are skipped; obsolete line folding is replaced by a space.
class ResponseParser {
public:
  enum class State { head, body, complete, failed };

  explicit ResponseParser(ResponseLimits limits = {});

  // Starts over for the response to a new request; `head_request`: the request was HEAD, so
  // the response has no body whatever its head says.
  void reset(bool head_request = false);
  // Consumes bytes from the front of `bytes` and returns how many. While the head is being
  // read it stops right after the head's blank line (state() is then body, or complete when
  // there is no body) so the caller can look at the head before reading on. In the body it
  // appends the decoded bytes (chunk framing removed) to `body` and stops at the end of the
  // message: bytes after it are left unconsumed. Consumes nothing once complete or failed.
  std::size_t feed(std::string_view bytes, std::string& body);
  // The peer closed the connection: a body delimited by the close is complete; anything else
  // unfinished fails (the caller checks state() before, to tell a cut-off from bad framing).
  State finish();

  State state() const { return m_state; }
  // For failed: what was wrong, in a few words ("bad chunk size line").
  const std::string& error() const { return m_error; }
  // The final (non-1xx) head; complete once state() is past head.
  const ResponseHead& head() const { return m_head; }
  ResponseHead take_head() { return std::move(m_head); }
  BodyFraming framing() const { return m_framing; }
  // The Content-Length when framing() is length.
  std::uint64_t content_length() const { return m_content_length; }
  // Whether the connection may carry another request once the response is complete
  // (HTTP/1.1 without "Connection: close", HTTP/1.0 with "Connection: keep-alive", and a
  // body not delimited by the close).
  bool keep_alive() const { return m_keep_alive; }
  // True once any byte of the response has been consumed.
  bool started() const { return m_started; }

private:
  enum class Step {
    status_line,
    header_line,
    chunk_size,
    chunk_data,
    chunk_data_end,
    trailer_line,
    length_body,
    close_body,
    done,
  };
  enum class Line { complete, partial, too_long };

  Line next_line(std::string_view& in, std::size_t limit, std::string_view& line);
  bool on_head_bytes(std::string_view& in);
  bool parse_status_line(std::string_view line);
  bool parse_header_line(std::string_view line);
  bool end_of_head();
  bool decide_framing();
  bool parse_chunk_size(std::string_view line);
  bool on_trailer_line(std::string_view line);
  void on_chunk_data_end(std::string_view& in);
  bool fail(std::string message);

  ResponseLimits m_limits;
  bool m_head_request = false;
  State m_state = State::head;
  Step m_step = Step::status_line;
  std::string m_line; // a line split across feeds
  std::size_t m_head_bytes = 0;
  std::size_t m_fields = 0;
  std::size_t m_interim_heads = 0;
  bool m_started = false;
  bool m_http10 = false;
  bool m_keep_alive = false;
  bool m_saw_cr = false; // chunk_data_end: the CR of the CRLF after a chunk's data
  BodyFraming m_framing = BodyFraming::none;
  std::uint64_t m_content_length = 0;
  std::uint64_t m_remaining = 0; // of the Content-Length body or of the current chunk
  ResponseHead m_head;
  std::string m_error;
};

} // namespace ask::net
