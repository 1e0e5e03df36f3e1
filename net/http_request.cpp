#include "net/http_request.h"

#include <algorithm>
#include <charconv>

namespace ask::net {

namespace {

constexpr std::string_view k_crlf = "\r\n";
constexpr std::string_view k_head_end = "\r\n\r\n";

bool is_token_char(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
    return true;
  }
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

} // namespace

bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), is_token_char);
}

std::optional<std::string_view> HttpRequest::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (iequals(key, name)) {
      return std::string_view(value);
    }
  }
  return std::nullopt;
}

bool HttpRequest::wants_keep_alive() const {
  std::optional<std::string_view> connection = header("Connection");
  if (version == "HTTP/1.0") {
    return connection && contains_token(*connection, "keep-alive");
  }
  return !(connection && contains_token(*connection, "close"));
}

RequestParser::RequestParser(RequestLimits limits) : m_limits(limits) {}

RequestParser::State RequestParser::feed(std::string_view bytes) {
  if (m_state == State::failed) {
    return m_state;
  }
  m_buffer.append(bytes);
  if (m_state == State::complete) {
    return m_state; // the caller has not taken the previous request yet
  }
  return advance();
}

RequestParser::State RequestParser::advance() {
  if (!m_head_done) {
    // RFC 9112 2.2: empty lines before a request line are ignored (some clients send a CRLF
    // after a body).
    while (m_buffer.starts_with(k_crlf)) {
      m_buffer.erase(0, k_crlf.size());
      m_scanned = 0;
    }
    const std::size_t from = m_scanned >= k_head_end.size() ? m_scanned - k_head_end.size() : 0;
    const std::size_t head_end = m_buffer.find(k_head_end, from);
    // Every LF up to the end of the head (or of what has come) must follow a CR.
    const std::size_t scan_to =
        head_end == std::string::npos ? m_buffer.size() : head_end + k_crlf.size();
    for (std::size_t i = m_scanned; i < scan_to; ++i) {
      if (m_buffer[i] == '\n' && (i == 0 || m_buffer[i - 1] != '\r')) {
        return fail(400, "bare LF in the request head: lines must end in CRLF");
      }
    }
    m_scanned = scan_to;
    if (head_end == std::string::npos) {
      if (m_buffer.size() > m_limits.max_header_bytes) {
        return fail(431, "request header fields too large");
      }
      return m_state;
    }
    if (head_end + k_head_end.size() > m_limits.max_header_bytes) {
      return fail(431, "request header fields too large");
    }
    if (parse_head(head_end) == State::failed) {
      return m_state;
    }
  }
  if (m_chunked) {
    return read_chunked();
  }
  if (m_buffer.size() < m_body_length) {
    return m_state;
  }
  m_request.body = m_buffer.substr(0, m_body_length);
  m_buffer.erase(0, m_body_length);
  m_state = State::complete;
  return m_state;
}

std::size_t RequestParser::body_bytes_received() const {
  if (!m_head_done) {
    return 0;
  }
  return m_chunked ? m_chunk_wire + m_buffer.size() : std::min(m_buffer.size(), m_body_length);
}

RequestParser::State RequestParser::read_chunked() {
  constexpr std::size_t k_max_size_line = 4096; // hex size and any chunk extensions
  auto consume = [&](std::size_t n) {
    m_buffer.erase(0, n);
    m_chunk_wire += n;
  };
  for (;;) {
    switch (m_chunk) {
    case Chunk::size: {
      const std::size_t eol = m_buffer.find(k_crlf);
      const std::size_t line_end = eol == std::string::npos ? m_buffer.size() : eol;
      if (line_end > k_max_size_line) {
        return fail(400, "chunk size line too long");
      }
      if (m_buffer.find('\n') < line_end) {
        return fail(400, "malformed chunk size line");
      }
      if (eol == std::string::npos) {
        return m_state;
      }
      std::string_view line(m_buffer.data(), eol);
      line = core::trim_blanks(line.substr(0, line.find(';'))); // extensions are read and dropped
      std::size_t size = 0;
      auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), size, 16);
      if (line.empty() || ec != std::errc() || end != line.data() + line.size()) {
        return fail(ec == std::errc::result_out_of_range ? 413 : 400,
                    ec == std::errc::result_out_of_range ? "request body too large"
                                                         : "malformed chunk size");
      }
      if (size > m_limits.max_body_bytes - m_request.body.size()) {
        return fail(413, "request body too large");
      }
      consume(eol + k_crlf.size());
      m_chunk_left = size;
      m_chunk = size == 0 ? Chunk::trailer : Chunk::data;
      break;
    }
    case Chunk::data: {
      const std::size_t n = std::min(m_chunk_left, m_buffer.size());
      if (n == 0) {
        return m_state;
      }
      m_request.body.append(m_buffer, 0, n);
      consume(n);
      m_chunk_left -= n;
      if (m_chunk_left == 0) {
        m_chunk = Chunk::data_end;
      }
      break;
    }
    case Chunk::data_end:
      if (m_buffer.size() < k_crlf.size()) {
        return m_state;
      }
      if (!m_buffer.starts_with(k_crlf)) {
        return fail(400, "chunk data not followed by CRLF");
      }
      consume(k_crlf.size());
      m_chunk = Chunk::size;
      break;
    case Chunk::trailer: { // trailer fields, then an empty line; read and dropped
      const std::size_t eol = m_buffer.find(k_crlf);
      const std::size_t line_end = eol == std::string::npos ? m_buffer.size() : eol;
      if (m_trailer_bytes + line_end > m_limits.max_header_bytes) {
        return fail(431, "request trailer fields too large");
      }
      if (m_buffer.find('\n') < line_end) {
        return fail(400, "bare LF in the request trailer");
      }
      if (eol == std::string::npos) {
        return m_state;
      }
      m_trailer_bytes += eol + k_crlf.size();
      consume(eol + k_crlf.size());
      if (eol == 0) {
        m_state = State::complete;
        return m_state;
      }
      break;
    }
    }
  }
}

RequestParser::State RequestParser::parse_head(std::size_t head_end) {
  std::string head = m_buffer.substr(0, head_end);
  m_buffer.erase(0, head_end + k_head_end.size());
  m_scanned = 0;
  std::string_view rest(head);
  std::size_t eol = rest.find(k_crlf);
  if (parse_request_line(rest.substr(0, eol)) == State::failed) {
    return m_state;
  }
  while (eol != std::string_view::npos) {
    rest.remove_prefix(eol + k_crlf.size());
    eol = rest.find(k_crlf);
    if (parse_header_line(rest.substr(0, eol)) == State::failed) {
      return m_state;
    }
  }
  // RFC 9112 3.2: a server answers 400 to an HTTP/1.1 request without a Host header, and to
  // any request with more than one.
  const auto hosts = std::count_if(m_request.headers.begin(), m_request.headers.end(),
                                   [](const auto& h) { return iequals(h.first, "Host"); });
  if (hosts > 1) {
    return fail(400, "more than one Host header");
  }
  if (hosts == 0 && m_request.version == "HTTP/1.1") {
    return fail(400, "missing Host header (HTTP/1.1 requires one)");
  }
  m_head_done = true;
  return decide_body();
}

RequestParser::State RequestParser::parse_request_line(std::string_view line) {
  std::size_t sp1 = line.find(' ');
  std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return fail(400, "malformed request line");
  }
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (method.empty() || !std::all_of(method.begin(), method.end(), is_token_char)) {
    return fail(400, "malformed method");
  }
  if (target.empty() || (target.front() != '/' && target != "*")) {
    return fail(400, "malformed request target");
  }
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    return fail(version.starts_with("HTTP/") ? 505 : 400, "unsupported HTTP version");
  }
  m_request.method = method;
  m_request.target = target;
  m_request.version = version;
  std::size_t q = target.find('?');
  m_request.path = target.substr(0, q);
  m_request.query = q == std::string_view::npos ? std::string() : std::string(target.substr(q + 1));
  return m_state;
}

RequestParser::State RequestParser::parse_header_line(std::string_view line) {
  if (line.empty()) {
    return m_state;
  }
  if (m_request.headers.size() >= m_limits.max_headers) {
    return fail(431, "too many header fields");
  }
  std::size_t colon = line.find(':');
  if (colon == 0 || colon == std::string_view::npos) {
    return fail(400, "malformed header field");
  }
  std::string_view name = line.substr(0, colon);
  if (!std::all_of(name.begin(), name.end(), is_token_char)) {
    return fail(400, "malformed header field name");
  }
  std::string_view value = core::trim_blanks(line.substr(colon + 1));
  if (value.find_first_of("\r\n") != std::string_view::npos) {
    return fail(400, "malformed header field value");
  }
  m_request.headers.emplace_back(std::string(name), std::string(value));
  return m_state;
}

RequestParser::State RequestParser::decide_body() {
  // Every Transfer-Encoding header, joined: only "chunked", once, is understood.
  std::string codings;
  for (const auto& [name, value] : m_request.headers) {
    if (iequals(name, "Transfer-Encoding")) {
      codings += codings.empty() ? value : ", " + value;
    }
  }
  if (!codings.empty()) {
    // RFC 9112 6.1 and 6.3: Transfer-Encoding with HTTP/1.0, or together with Content-Length,
    // makes the framing ambiguous (request smuggling): refused, and the connection closed.
    if (m_request.version == "HTTP/1.0") {
      return fail(400, "Transfer-Encoding in an HTTP/1.0 request");
    }
    if (m_request.header("Content-Length")) {
      return fail(400, "both Content-Length and Transfer-Encoding");
    }
    if (!iequals(core::trim_blanks(codings), "chunked")) {
      // chunked anywhere but last leaves the body's end unknown: malformed, not unsupported.
      const std::string_view last = core::trim_blanks(std::string_view(codings).substr(codings.rfind(',') + 1));
      const bool chunked_not_last = contains_token(codings, "chunked") && !iequals(last, "chunked");
      return fail(chunked_not_last ? 400 : 501,
                  "transfer coding \"" + codings + "\" not supported (send chunked or Content-Length)");
    }
    m_chunked = true;
    return m_state;
  }
  std::optional<std::string_view> length = m_request.header("Content-Length");
  if (!length) {
    m_body_length = 0; // RFC 9112 6.3: no Content-Length and no Transfer-Encoding = no body
    return m_state;
  }
  for (const auto& [name, value] : m_request.headers) {
    if (iequals(name, "Content-Length") && value != *length) {
      // RFC 9112 6.3: differing lengths make the framing ambiguous (request smuggling).
      return fail(400, "conflicting Content-Length headers");
    }
  }
  std::size_t n = 0;
  auto [end, ec] = std::from_chars(length->data(), length->data() + length->size(), n);
  if (ec != std::errc() || end != length->data() + length->size() || length->empty()) {
    return fail(400, "malformed Content-Length");
  }
  if (n > m_limits.max_body_bytes) {
    return fail(413, "request body too large");
  }
  m_body_length = n;
  return m_state;
}

RequestParser::State RequestParser::fail(int status, std::string message) {
  m_state = State::failed;
  m_error_status = status;
  m_error_message = std::move(message);
  return m_state;
}

HttpRequest RequestParser::take() {
  HttpRequest out = std::move(m_request);
  m_request = {};
  m_head_done = false;
  m_body_length = 0;
  m_chunked = false;
  m_chunk = Chunk::size;
  m_chunk_left = 0;
  m_chunk_wire = 0;
  m_trailer_bytes = 0;
  m_scanned = 0;
  m_state = State::incomplete;
  if (!m_buffer.empty()) {
    advance();
  }
  return out;
}

} // namespace ask::net
