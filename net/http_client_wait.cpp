// HttpClient's small helpers and its waits: a socket's readiness against the phase timeouts,
// the overall deadline and the Watch, and the errors a wait or a read ends in. See
// net/http_client_detail.h.
#include <poll.h>

#include <openssl/err.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include "core/duration.h"
#include "core/platform.h"
#include "net/http_client_detail.h"

namespace ask::net::detail {

// `now + d`, saturating instead of overflowing for the huge timeouts that mean "never".
Clock::time_point later(Clock::time_point now, std::chrono::nanoseconds d) {
  if (d > Clock::time_point::max() - now) {
    return Clock::time_point::max();
  }
  return now + d;
}

std::string text(std::chrono::nanoseconds d) {
  return core::Duration::from(std::chrono::ceil<std::chrono::milliseconds>(d)).to_string();
}

std::string os_error(int error) {
  return std::strerror(error);
}

// The oldest error in OpenSSL's queue for this thread, in words; clears the queue.
std::string tls_error_text() {
  const unsigned long code = ::ERR_get_error();
  ::ERR_clear_error();
  if (code == 0) {
    return "TLS error";
  }
  const char* reason = ::ERR_reason_error_string(code);
  return reason != nullptr ? reason : "TLS error " + std::to_string(code);
}

// ---- waiting -------------------------------------------------------------------------------

// Waits for `events` on `fd` until `phase_end` or the overall deadline, whichever is first,
// watching the Watch's descriptors too.
Wake wait_for(int fd, short events, Clock::time_point phase_end, const ClientTimeouts& timeouts,
              const Watch& watch) {
  const bool deadline_first = timeouts.deadline && *timeouts.deadline <= phase_end;
  const Clock::time_point end = deadline_first ? *timeouts.deadline : phase_end;
  pollfd fds[3] = {{fd, events, 0}, {-1, 0, 0}, {-1, 0, 0}};
  nfds_t count = 1;
  nfds_t client_at = 0;
  nfds_t stop_at = 0;
  if (watch.client_fd >= 0) {
    client_at = count;
    fds[count++] = {watch.client_fd, core::platform::hangup_events(), 0};
  }
  if (watch.stop_fd >= 0) {
    stop_at = count;
    fds[count++] = {watch.stop_fd, POLLIN, 0};
  }
  for (;;) {
    const auto now = Clock::now();
    if (now >= end) {
      return deadline_first ? Wake::deadline : Wake::phase_timeout;
    }
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(end - now).count();
    const int rc = ::poll(fds, count, static_cast<int>(std::min<long long>(left, INT_MAX)));
    if (rc < 0) {
      if (errno == EINTR) {
        continue;
      }
      return Wake::poll_failed;
    }
    // A reset is the client gone. A hang-up alone may be a half-close, which HTTP allows:
    // the Watch decides, and from then on only a reset counts. (The portable path cannot see
    // a hang-up behind a pipelined request's unread bytes: peer_hung_up() then stops
    // watching for them, and only a reset ends the wait early.)
    if (client_at != 0 && fds[client_at].revents != 0) {
      if ((fds[client_at].revents & (POLLHUP | POLLERR | POLLNVAL)) != 0) {
        return Wake::client_gone;
      }
      if (core::platform::peer_hung_up(fds[client_at])) {
        if (!watch.confirm_gone || watch.confirm_gone()) {
          return Wake::client_gone;
        }
        fds[client_at].events = 0;
      }
    }
    if (stop_at != 0 && fds[stop_at].revents != 0) {
      return Wake::stopping;
    }
    if (rc > 0 && fds[0].revents != 0) {
      return Wake::ready; // readiness, or an error the next call on the socket reports
    }
  }
}

core::Error wait_error(Wake wake, Phase phase, const std::string& peer,
                       const ClientTimeouts& timeouts) {
  switch (wake) {
  case Wake::phase_timeout:
    switch (phase) {
    case Phase::connect:
      return core::Error::timeout("connect to " + peer + " timed out after " +
                                  text(timeouts.connect));
    case Phase::handshake:
      return core::Error::timeout("TLS handshake with " + peer + " timed out after " +
                                  text(timeouts.connect));
    case Phase::send:
      return core::Error::timeout("could not send the request to " + peer + " for " +
                                  text(timeouts.idle) + " (idle timeout)");
    case Phase::first_byte:
      return core::Error::timeout("no first byte from " + peer + " within " +
                                  text(timeouts.first_byte));
    case Phase::head:
    case Phase::body:
      return core::Error::timeout("no data from " + peer + " for " + text(timeouts.idle) +
                                  " (idle timeout)");
    }
    break;
  case Wake::deadline: {
    static constexpr const char* k_doing[] = {"connecting",          "in the TLS handshake",
                                              "sending the request", "waiting for the response",
                                              "reading the head",    "reading the body"};
    return core::Error::timeout("request to " + peer + " passed its deadline while " +
                                k_doing[static_cast<int>(phase)]);
  }
  case Wake::client_gone:
    return core::Error::cancelled("request to " + peer + " cancelled: the client went away");
  case Wake::stopping:
    return core::Error::cancelled("request to " + peer + " cancelled: askd is stopping");
  case Wake::poll_failed:
  case Wake::ready:
    break;
  }
  return core::Error::connect("waiting on " + peer + ": poll: " + os_error(errno));
}

core::Error malformed(const std::string& peer, const std::string& what) {
  return core::Error::malformed_reply("malformed response from " + peer + ": " + what);
}

// The reason a read on `peer` failed (errno `error`), `where` in the response.
core::Error read_error(const Connection& connection, const std::string& peer, int error,
                       std::string_view where) {
  if (error == ECONNRESET) {
    return core::Error::connect(peer + " reset the connection " + std::string(where));
  }
  return core::Error::connect("read from " + peer + ": " + connection.error_text(error));
}

} // namespace ask::net::detail
