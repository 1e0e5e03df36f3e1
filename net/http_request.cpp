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
    std::size_t head_end = m_buffer.find(k_head_end);
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
  if (m_buffer.size() < m_body_length) {
    return m_state;
  }
  m_request.body = m_buffer.substr(0, m_body_length);
  m_buffer.erase(0, m_body_length);
  m_state = State::complete;
  return m_state;
}

RequestParser::State RequestParser::parse_head(std::size_t head_end) {
  std::string head = m_buffer.substr(0, head_end);
  m_buffer.erase(0, head_end + k_head_end.size());
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
  if (m_request.header("Transfer-Encoding")) {
    return fail(411, "chunked request bodies are not supported; send Content-Length");
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
  m_state = State::incomplete;
  if (!m_buffer.empty()) {
    advance();
  }
  return out;
}

} // namespace ask::net
