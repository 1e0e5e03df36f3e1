#pragma once
// Internal to net/http_client*.cpp: the pieces HttpClient's files share. A Connection (one
// socket and its read buffer), the ConnectionPool, waiting on a socket with HttpClient's
// timeouts and Watch, opening connections, and writing a request and reading its head. Not
// part of the module's interface.

#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/platform.h"
#include "net/http_client.h"
#include "net/response_parser.h"

namespace ask::net {

namespace detail {

// In detail, not ask::net: net/http_server.cpp has a local Clock of its own, which -Wshadow
// would flag when a unity build puts the two files in one translation unit.
using Clock = std::chrono::steady_clock;

inline constexpr std::size_t k_read_chunk = 16 * 1024;

// `now + d`, saturating instead of overflowing for the huge timeouts that mean "never".
Clock::time_point later(Clock::time_point now, std::chrono::nanoseconds d);
// `d` in words, rounded up to the millisecond, for messages.
std::string text(std::chrono::nanoseconds d);
std::string os_error(int error);
// The oldest error in OpenSSL's queue for this thread, in words; clears the queue.
std::string tls_error_text();

} // namespace detail

// ---- Connection ---------------------------------------------------------------------------

// One non-blocking TCP connection, TLS or not, and its read buffer, which outlives a response
// so that the buffer is allocated once per connection, not per request. receive() and send()
// answer like recv() and send(): on -1, errno EAGAIN means "poll for wants(), then again".
class Connection {
public:
  explicit Connection(int fd)
      : m_fd(fd), m_buffer(std::make_unique_for_overwrite<char[]>(detail::k_read_chunk)) {}
  ~Connection() {
    if (m_ssl != nullptr) {
      ::SSL_free(m_ssl);
    }
    ::close(m_fd);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  int fd() const { return m_fd; }
  // Takes ownership of `ssl`, set up on fd(); receive() and send() go through it from now on.
  void attach_tls(SSL* ssl) { m_ssl = ssl; }
  // What to poll for before trying again after EAGAIN (TLS may read in order to write).
  short wants() const { return m_wants; }
  // True when TLS holds bytes already read from the socket: read without polling first.
  bool has_pending() const { return m_ssl != nullptr && ::SSL_has_pending(m_ssl) == 1; }

  // Received bytes not consumed yet.
  std::string_view buffered() const { return {m_buffer.get() + m_begin, m_end - m_begin}; }
  void consume(std::size_t n) {
    m_begin += n;
    if (m_begin == m_end) {
      m_begin = m_end = 0;
    }
  }
  // One read into the (consumed) buffer: the byte count, 0 at the end of the stream, or -1
  // with errno set.
  ssize_t receive() {
    m_wants = POLLIN;
    ssize_t n = 0;
    if (m_ssl != nullptr) {
      ::ERR_clear_error();
      std::size_t got = 0;
      const int rc = ::SSL_read_ex(m_ssl, m_buffer.get(), detail::k_read_chunk, &got);
      n = rc == 1 ? static_cast<ssize_t>(got) : tls_failure(rc);
    } else {
      do {
        n = ::recv(m_fd, m_buffer.get(), detail::k_read_chunk, 0);
      } while (n < 0 && errno == EINTR);
    }
    if (n > 0) {
      m_begin = 0;
      m_end = static_cast<std::size_t>(n);
    }
    return n;
  }
  // Writes from the front of `parts`: the byte count, or -1 with errno set.
  ssize_t send(iovec* parts, int count) {
    m_wants = POLLOUT;
    if (m_ssl != nullptr) {
      ::ERR_clear_error();
      std::size_t put = 0;
      const int rc = ::SSL_write_ex(m_ssl, parts[0].iov_base, parts[0].iov_len, &put);
      return rc == 1 ? static_cast<ssize_t>(put) : tls_failure(rc);
    }
    msghdr message{};
    message.msg_iov = parts;
    message.msg_iovlen = static_cast<std::size_t>(count);
    ssize_t n = 0;
    do {
      n = core::platform::sendmsg_nosignal(m_fd, &message);
    } while (n < 0 && errno == EINTR);
    return n;
  }
  // The reason for the last failure, errno `error`.
  std::string error_text(int error) const {
    return error == EPROTO && !m_tls_error.empty() ? m_tls_error : detail::os_error(error);
  }
  // False when the peer has closed, reset, or sent something unasked (zero-timeout poll).
  bool idle_and_open() {
    pollfd p{m_fd, static_cast<short>(POLLIN | core::platform::hangup_events()), 0};
    if (::poll(&p, 1, 0) == 0) {
      return true;
    }
    if (m_ssl == nullptr || p.revents != POLLIN) {
      return false;
    }
    // TLS records that carry no data (a TLS 1.3 session ticket, a key update) are fine.
    return receive() < 0 && errno == EAGAIN && m_wants == POLLIN;
  }

  detail::Clock::time_point idle_since{};

private:
  // Maps a failed SSL_read_ex / SSL_write_ex to recv()'s answers.
  ssize_t tls_failure(int rc) {
    const int error = ::SSL_get_error(m_ssl, rc);
    switch (error) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
      m_wants = error == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
      errno = EAGAIN;
      return -1;
    case SSL_ERROR_ZERO_RETURN:
      return 0; // close_notify, or a bare close (SSL_OP_IGNORE_UNEXPECTED_EOF)
    case SSL_ERROR_SYSCALL:
      if (errno == 0) {
        return 0; // the end of the stream, as OpenSSL before 3.0 reported it
      }
      if (errno == EINTR) {
        errno = EAGAIN; // poll again for what the caller wanted
      }
      return -1;
    default:
      m_tls_error = detail::tls_error_text();
      errno = EPROTO;
      return -1;
    }
  }

  int m_fd;
  SSL* m_ssl = nullptr;
  short m_wants = POLLIN;
  std::string m_tls_error;
  std::unique_ptr<char[]> m_buffer;
  std::size_t m_begin = 0;
  std::size_t m_end = 0;
};

// ---- ConnectionPool ------------------------------------------------------------------------

namespace detail {

// The idle connections of one HttpClient, shared with its live streams so they can return
// their connection even after the client is gone. Thread-safe.
class ConnectionPool {
public:
  ConnectionPool(std::string authority, const ClientOptions& options);
  ~ConnectionPool();
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // "host:port" ("[::1]:8080"), for the Host header and for messages.
  const std::string& authority() const { return m_authority; }
  // For HTTPS: the context new connections are made with; nullptr for plain HTTP, or when
  // tls_problem() says why it could not be set up.
  SSL_CTX* tls() const { return m_tls; }
  const std::string& tls_problem() const { return m_tls_problem; }
  const ResponseLimits& limits() const { return m_limits; }

  // The most recently used idle connection that is still open, or nullptr.
  std::unique_ptr<Connection> take();

  // Keeps `connection` for reuse (closing the oldest one when full), or closes it once the
  // client is gone.
  void give_back(std::unique_ptr<Connection> connection);

  std::size_t idle() const;

  // The client is gone: close the idle connections and every one given back from now on.
  void shut_down();

private:
  void set_up_tls(const std::string& ca_file);

  bool expired(const Connection& c, Clock::time_point now) const;
  // Oldest first, so the expired ones are at the front.
  void drop_expired(Clock::time_point now);

  const std::string m_authority;
  const std::size_t m_max_idle;
  const std::chrono::nanoseconds m_idle_timeout;
  ResponseLimits m_limits;
  mutable std::mutex m_mutex;
  std::vector<std::unique_ptr<Connection>> m_idle; // oldest first
  bool m_shut_down = false;
  SSL_CTX* m_tls = nullptr;
  std::string m_tls_problem;
};

// ---- waiting (http_client_wait.cpp) --------------------------------------------------------

enum class Wake { ready, phase_timeout, deadline, client_gone, stopping, poll_failed };
enum class Phase { connect, handshake, send, first_byte, head, body };

// Waits for `events` on `fd` until `phase_end` or the overall deadline, whichever is first,
// watching the Watch's descriptors too.
Wake wait_for(int fd, short events, Clock::time_point phase_end, const ClientTimeouts& timeouts,
              const Watch& watch);
// The error for a wait that ended otherwise than `ready`, in `phase` of a request to `peer`.
core::Error wait_error(Wake wake, Phase phase, const std::string& peer,
                       const ClientTimeouts& timeouts);
core::Error malformed(const std::string& peer, const std::string& what);
// The reason a read on `peer` failed (errno `error`), `where` in the response.
core::Error read_error(const Connection& connection, const std::string& peer, int error,
                       std::string_view where);

// ---- connecting (http_client_connection.cpp) -----------------------------------------------

// A new connection to `host`: TCP, then the TLS handshake for HTTPS, within the connect
// timeout.
core::Result<std::unique_ptr<Connection>> open_connection(const ConnectionPool& pool,
                                                          const std::string& host, int port,
                                                          const ClientTimeouts& timeouts,
                                                          const Watch& watch);

// ---- the request (http_client_request.cpp) -------------------------------------------------

// What makes `request` impossible to send as it is (a line break in a header would let a
// value smuggle headers in), or "" when it is fine.
std::string request_problem(const ClientRequest& request);
// The request line and headers, ready to send before the body.
std::string request_head(const ClientRequest& request, const std::string& authority,
                         bool& close_after);
// Writes `head` then `body`; `retry` tells whether the peer closed before reading it all.
core::Result<void> send_request(Connection& connection, std::string_view head,
                                std::string_view body, const std::string& peer,
                                const ClientTimeouts& timeouts, const Watch& watch, bool& retry);
// Reads until `parser` has a complete head. `retry` tells whether the peer closed or reset
// the connection before sending a single byte.
core::Result<void> read_head(Connection& connection, ResponseParser& parser,
                             const std::string& peer, const ClientTimeouts& timeouts,
                             const Watch& watch, bool& retry);

} // namespace detail

} // namespace ask::net
