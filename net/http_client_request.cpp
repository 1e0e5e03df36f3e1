// HttpClient's side of one exchange: checking a request, writing its head and body, and
// reading the response head. See net/http_client_detail.h.
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <charconv>

#include "net/http_client_detail.h"
#include "net/http_request.h" // iequals, is_token, contains_token

namespace ask::net::detail {

// ---- the request ---------------------------------------------------------------------------

namespace {

bool is_control(char c) {
  const auto u = static_cast<unsigned char>(c);
  return (u < 0x20 && c != '\t') || u == 0x7f;
}

} // namespace

// What makes `request` impossible to send as it is (a line break in a header would let a
// value smuggle headers in), or "" when it is fine.
std::string request_problem(const ClientRequest& request) {
  if (!is_token(request.method)) {
    return "invalid request method";
  }
  if (request.target.empty() || std::any_of(request.target.begin(), request.target.end(),
                                            [](char c) { return c == ' ' || is_control(c); })) {
    return "invalid request target";
  }
  for (const auto& [name, value] : request.headers) {
    if (!is_token(name) || std::any_of(value.begin(), value.end(), is_control)) {
      return "invalid request header '" + name + "'";
    }
    if (iequals(name, "Content-Length") || iequals(name, "Transfer-Encoding")) {
      return "request header '" + name + "' is set by the HTTP client itself";
    }
  }
  return {};
}

// The request line and headers, ready to send before the body.
std::string request_head(const ClientRequest& request, const std::string& authority,
                         bool& close_after) {
  const bool with_length = !request.body.empty() || request.method == "POST" ||
                           request.method == "PUT" || request.method == "PATCH";
  bool has_host = false;
  std::size_t size = request.method.size() + request.target.size() + authority.size() + 64;
  for (const auto& [name, value] : request.headers) {
    size += name.size() + value.size() + 4;
    has_host = has_host || iequals(name, "Host");
    close_after = close_after || (iequals(name, "Connection") && contains_token(value, "close"));
  }
  std::string head;
  head.reserve(size);
  head += request.method;
  head += ' ';
  head += request.target;
  head += " HTTP/1.1\r\n";
  if (!has_host) {
    head += "Host: ";
    head += authority;
    head += "\r\n";
  }
  for (const auto& [name, value] : request.headers) {
    head += name;
    head += ": ";
    head += value;
    head += "\r\n";
  }
  if (with_length) {
    char digits[24];
    auto [end, ec] = std::to_chars(digits, digits + sizeof digits, request.body.size());
    head += "Content-Length: ";
    head.append(digits, end);
    head += "\r\n";
  }
  head += "\r\n";
  return head;
}

// Writes `head` then `body`; `retry` tells whether the peer closed before reading it all.
core::Result<void> send_request(Connection& connection, std::string_view head,
                                std::string_view body, const std::string& peer,
                                const ClientTimeouts& timeouts, const Watch& watch, bool& retry) {
  std::size_t sent = 0;
  const std::size_t total = head.size() + body.size();
  auto phase_end = later(Clock::now(), timeouts.idle);
  while (sent < total) {
    iovec parts[2];
    int count = 0;
    if (sent < head.size()) {
      parts[count++] = {const_cast<char*>(head.data() + sent), head.size() - sent};
    }
    const std::size_t body_sent = sent > head.size() ? sent - head.size() : 0;
    if (body_sent < body.size()) {
      parts[count++] = {const_cast<char*>(body.data() + body_sent), body.size() - body_sent};
    }
    const ssize_t n = connection.send(parts, count);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      phase_end = later(Clock::now(), timeouts.idle);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      const Wake wake = wait_for(connection.fd(), connection.wants(), phase_end, timeouts, watch);
      if (wake != Wake::ready) {
        return core::fail(wait_error(wake, Phase::send, peer, timeouts));
      }
      continue;
    }
    const int error = n < 0 ? errno : EPIPE;
    retry = error == EPIPE || error == ECONNRESET;
    return core::fail(
        core::Error::connect("send to " + peer + ": " + connection.error_text(error)));
  }
  return {};
}

// Reads until `parser` has a complete head. `retry` tells whether the peer closed or reset
// the connection before sending a single byte.
core::Result<void> read_head(Connection& connection, ResponseParser& parser,
                             const std::string& peer, const ClientTimeouts& timeouts,
                             const Watch& watch, bool& retry) {
  std::string no_body; // the parser stops at the end of the head
  Phase phase = Phase::first_byte;
  auto phase_end = later(Clock::now(), timeouts.first_byte);
  for (;;) {
    if (!connection.has_pending()) {
      const Wake wake = wait_for(connection.fd(), connection.wants(), phase_end, timeouts, watch);
      if (wake != Wake::ready) {
        return core::fail(wait_error(wake, phase, peer, timeouts));
      }
    }
    const ssize_t n = connection.receive();
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      continue;
    }
    if (n <= 0) {
      const int error = n < 0 ? errno : 0;
      retry = !parser.started() && (error == 0 || error == ECONNRESET);
      if (error != 0) {
        return core::fail(read_error(connection, peer, error,
                                     parser.started() ? "mid-head" : "before sending a response"));
      }
      return core::fail(
          core::Error::connect(peer + " closed the connection " +
                               (parser.started() ? "mid-head" : "before sending a response")));
    }
    connection.consume(parser.feed(connection.buffered(), no_body));
    if (parser.state() == ResponseParser::State::failed) {
      return core::fail(malformed(peer, parser.error()));
    }
    if (parser.state() != ResponseParser::State::head) {
      return {};
    }
    phase = Phase::head;
    phase_end = later(Clock::now(), timeouts.idle);
  }
}

} // namespace ask::net::detail
