// net::Exchange: one request's view of its connection (net/http_server.h): responses
// written whole, chunked or raw; waits that notice the client leaving or the server
// stopping; a hang-up told from a half-close.
#include "net/http_server.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>

#include "core/platform.h"
#include "net/http_server_detail.h"

namespace ask::net {

namespace detail {

bool send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = core::platform::send_nosignal(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return false;
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

} // namespace detail

using detail::k_continue;
using detail::send_all;

Exchange::Exchange(int fd, int stop_fd, const std::atomic<bool>& stopping, bool keep_alive_allowed,
                   bool interim_allowed)
    : m_fd(fd), m_stop_fd(stop_fd), m_stopping(stopping), m_keep_alive_allowed(keep_alive_allowed),
      m_interim_allowed(interim_allowed) {}

std::string Exchange::head(int status, const Headers& headers) {
  m_responded = true;
  std::string text =
      "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason_phrase(status)) + "\r\n";
  for (const auto& [name, value] : headers) {
    if (iequals(name, "Connection") && iequals(value, "close")) {
      m_close_after = true;
    }
    text += name;
    text += ": ";
    text += value;
    text += "\r\n";
  }
  text += "\r\n";
  return text;
}

bool Exchange::send_response(int status, const Headers& headers, std::string_view body) {
  // One write for head and body: the client is woken once, not twice.
  std::string text = head(status, headers);
  text.append(body);
  return send_raw(text);
}

bool Exchange::begin_chunked(int status, const Headers& headers, bool defer) {
  if (defer) {
    m_deferred_head = head(status, headers);
    return !m_write_failed && !m_closed;
  }
  return send_raw(head(status, headers));
}

bool Exchange::flush_head() {
  return m_deferred_head.empty() || send_raw({});
}

namespace {

// "<hex size>\r\n<data>\r\n" appended to `out`.
void append_chunk(std::string& out, std::string_view data) {
  char size[32];
  int n = std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  out.reserve(out.size() + data.size() + static_cast<std::size_t>(n) + 2);
  out.append(size, static_cast<std::size_t>(n));
  out.append(data);
  out.append("\r\n");
}

} // namespace

bool Exchange::send_chunk(std::string_view data) {
  if (data.empty()) {
    return !m_write_failed;
  }
  std::string frame;
  append_chunk(frame, data);
  return send_raw(frame);
}

bool Exchange::end_chunked(std::string_view last) {
  std::string frame;
  if (!last.empty()) {
    append_chunk(frame, last);
  }
  frame.append("0\r\n\r\n");
  return send_raw(frame);
}

bool Exchange::send_raw(std::string_view bytes) {
  m_responded = true;
  if (m_write_failed || m_closed) {
    return false;
  }
  std::string with_head;
  if (!m_deferred_head.empty()) { // a deferred head goes out in the same write
    with_head = std::move(m_deferred_head);
    m_deferred_head.clear();
    with_head.append(bytes);
    bytes = with_head;
  }
  m_head_written = true;
  if (!send_all(m_fd, bytes)) {
    m_write_failed = true;
    return false;
  }
  return true;
}

void Exchange::close_connection(bool reset) {
  if (m_closed) {
    return;
  }
  if (!reset) {
    flush_head();
  }
  m_closed = true;
  m_responded = true;
  if (reset) {
    linger lin{1, 0}; // close() then sends RST instead of FIN
    ::setsockopt(m_fd, SOL_SOCKET, SO_LINGER, &lin, sizeof lin);
  } else {
    ::shutdown(m_fd, SHUT_RDWR);
  }
}

namespace {

// What poll() said about a client socket: nothing, a hang-up (FIN: maybe only half-closed),
// or a reset/error (gone).
enum class Hangup { none, fin, reset };

Hangup hangup_of(pollfd& polled) {
  if ((polled.revents & (POLLHUP | POLLERR | POLLNVAL)) != 0) {
    return Hangup::reset;
  }
  return polled.revents != 0 && core::platform::peer_hung_up(polled) ? Hangup::fin : Hangup::none;
}

// The events that tell a client's FIN (none once it is known to have half-closed: then only
// POLLHUP/POLLERR, which poll reports unasked).
short hangup_watch(bool half_closed) {
  return half_closed ? short{0} : core::platform::hangup_events();
}

} // namespace

WaitResult Exchange::wait_for(std::optional<std::chrono::nanoseconds> timeout) {
  using Clock = std::chrono::steady_clock;
  flush_head();
  const auto deadline = timeout ? Clock::now() + *timeout : Clock::time_point::max();
  // Outside the loop: the portable path's peer_hung_up() clears events when unread bytes (a
  // pipelined request) woke the poll, and that must last or the loop would spin.
  pollfd fds[2] = {{m_fd, hangup_watch(m_half_closed), 0}, {m_stop_fd, POLLIN, 0}};
  for (;;) {
    if (m_half_closed) {
      fds[0].events = 0;
    }
    if (m_stopping.load()) {
      return WaitResult::stopping;
    }
    if (m_write_failed || m_closed) {
      return WaitResult::client_gone;
    }
    int ms = -1;
    if (timeout) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) {
        return WaitResult::elapsed;
      }
      ms = static_cast<int>(std::min<long long>(left.count(), 60'000));
    }
    int rc = ::poll(fds, 2, ms);
    if (rc < 0 && errno != EINTR) {
      return WaitResult::client_gone;
    }
    if (rc > 0 && fds[0].revents != 0) {
      const Hangup h = hangup_of(fds[0]);
      if (h == Hangup::reset || (h == Hangup::fin && hung_up())) {
        m_write_failed = true;
        return WaitResult::client_gone;
      }
    }
  }
}

bool Exchange::client_gone() {
  for (int round = 0; round < 2 && !m_write_failed && !m_closed; ++round) {
    pollfd fd{m_fd, hangup_watch(m_half_closed), 0};
    if (::poll(&fd, 1, 0) <= 0) {
      break;
    }
    const Hangup h = hangup_of(fd);
    if (h == Hangup::reset || (h == Hangup::fin && hung_up())) {
      m_write_failed = true;
    }
    // After a half-close's probe, look once more: on loopback a reset is already there.
  }
  return m_write_failed || m_closed;
}

bool Exchange::hung_up() {
  if (m_write_failed || m_closed) {
    return true;
  }
  if (m_half_closed) {
    return false;
  }
  // HTTP/1.0 has no interim response to probe with. Once the response has begun, a FIN not
  // seen before it is taken as the client leaving: a client that half-closes does so right
  // after its request, and the server looks for that before the handler runs.
  if (!m_interim_allowed || m_head_written) {
    return true;
  }
  m_half_closed = true;
  m_keep_alive_allowed = false; // nothing more can come on this connection
  if (!send_all(m_fd, k_continue)) {
    m_write_failed = true;
    return true;
  }
  return false;
}

Watch Exchange::watch() {
  return Watch{m_fd, m_stop_fd, [this] { return hung_up(); }};
}

} // namespace ask::net
