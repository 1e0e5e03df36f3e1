#include "net/http_client.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstdint>
#include <cstring>
#include <mutex>

#include "core/duration.h"
#include "net/http_request.h"

namespace ask::net {

using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t k_read_chunk = 16 * 1024;

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

} // namespace

// ---- Connection ---------------------------------------------------------------------------

// One non-blocking TCP connection, TLS or not, and its read buffer, which outlives a response
// so that the buffer is allocated once per connection, not per request. receive() and send()
// answer like recv() and send(): on -1, errno EAGAIN means "poll for wants(), then again".
class Connection {
public:
  explicit Connection(int fd)
      : m_fd(fd), m_buffer(std::make_unique_for_overwrite<char[]>(k_read_chunk)) {}
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
      const int rc = ::SSL_read_ex(m_ssl, m_buffer.get(), k_read_chunk, &got);
      n = rc == 1 ? static_cast<ssize_t>(got) : tls_failure(rc);
    } else {
      do {
        n = ::recv(m_fd, m_buffer.get(), k_read_chunk, 0);
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
      n = ::sendmsg(m_fd, &message, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n;
  }
  // The reason for the last failure, errno `error`.
  std::string error_text(int error) const {
    return error == EPROTO && !m_tls_error.empty() ? m_tls_error : os_error(error);
  }
  // False when the peer has closed, reset, or sent something unasked (zero-timeout poll).
  bool idle_and_open() {
    pollfd p{m_fd, POLLIN | POLLRDHUP, 0};
    if (::poll(&p, 1, 0) == 0) {
      return true;
    }
    if (m_ssl == nullptr || p.revents != POLLIN) {
      return false;
    }
    // TLS records that carry no data (a TLS 1.3 session ticket, a key update) are fine.
    return receive() < 0 && errno == EAGAIN && m_wants == POLLIN;
  }

  Clock::time_point idle_since{};

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
      m_tls_error = tls_error_text();
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
  ConnectionPool(std::string authority, const ClientOptions& options)
      : m_authority(std::move(authority)), m_max_idle(options.max_idle_connections),
        m_idle_timeout(options.idle_timeout) {
    m_limits.max_head_bytes = options.max_head_bytes;
    m_limits.max_headers = options.max_headers;
    m_limits.max_chunk_line_bytes = options.max_chunk_line_bytes;
    if (options.tls) {
      set_up_tls(options.ca_file);
    }
  }
  ~ConnectionPool() {
    m_idle.clear(); // before the context their TLS sessions hold a reference to
    ::SSL_CTX_free(m_tls);
  }
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
  std::unique_ptr<Connection> take() {
    for (;;) {
      std::unique_ptr<Connection> connection;
      {
        std::lock_guard lock(m_mutex);
        drop_expired(Clock::now());
        if (m_idle.empty()) {
          return nullptr;
        }
        connection = std::move(m_idle.back());
        m_idle.pop_back();
      }
      if (connection->idle_and_open()) {
        return connection;
      }
    }
  }

  // Keeps `connection` for reuse (closing the oldest one when full), or closes it once the
  // client is gone.
  void give_back(std::unique_ptr<Connection> connection) {
    std::unique_ptr<Connection> closed; // closed outside the lock
    std::lock_guard lock(m_mutex);
    const auto now = Clock::now(); // under the lock, so m_idle stays in time order
    connection->idle_since = now;
    if (m_shut_down || m_max_idle == 0) {
      closed = std::move(connection);
      return;
    }
    drop_expired(now);
    if (m_idle.size() >= m_max_idle) {
      closed = std::move(m_idle.front());
      m_idle.erase(m_idle.begin());
    }
    m_idle.push_back(std::move(connection));
  }

  std::size_t idle() const {
    const auto now = Clock::now();
    std::lock_guard lock(m_mutex);
    return static_cast<std::size_t>(std::count_if(
        m_idle.begin(), m_idle.end(), [&](const auto& c) { return !expired(*c, now); }));
  }

  // The client is gone: close the idle connections and every one given back from now on.
  void shut_down() {
    std::vector<std::unique_ptr<Connection>> closed;
    std::lock_guard lock(m_mutex);
    m_shut_down = true;
    closed.swap(m_idle);
  }

private:
  void set_up_tls(const std::string& ca_file) {
    ::ERR_clear_error();
    m_tls = ::SSL_CTX_new(::TLS_client_method());
    if (m_tls == nullptr) {
      m_tls_problem = "TLS setup: " + tls_error_text();
      return;
    }
    ::SSL_CTX_set_min_proto_version(m_tls, TLS1_2_VERSION);
    ::SSL_CTX_set_verify(m_tls, SSL_VERIFY_PEER, nullptr);
    // A backend that closes without close_notify ends the stream; the HTTP framing still
    // tells a complete body from a cut one.
    ::SSL_CTX_set_options(m_tls, SSL_OP_IGNORE_UNEXPECTED_EOF);
    ::SSL_CTX_set_mode(m_tls, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    const int loaded = ca_file.empty()
                           ? ::SSL_CTX_set_default_verify_paths(m_tls)
                           : ::SSL_CTX_load_verify_locations(m_tls, ca_file.c_str(), nullptr);
    if (loaded != 1) {
      m_tls_problem = (ca_file.empty() ? std::string("cannot load the system CA certificates")
                                       : "cannot load CA file " + ca_file) +
                      ": " + tls_error_text();
      ::SSL_CTX_free(m_tls);
      m_tls = nullptr;
    }
  }

  bool expired(const Connection& c, Clock::time_point now) const {
    return now - c.idle_since >= m_idle_timeout;
  }
  // Oldest first, so the expired ones are at the front.
  void drop_expired(Clock::time_point now) {
    auto first_live = std::find_if(m_idle.begin(), m_idle.end(),
                                   [&](const auto& c) { return !expired(*c, now); });
    m_idle.erase(m_idle.begin(), first_live);
  }

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

} // namespace detail

struct HttpClient::Pool : detail::ConnectionPool {
  using ConnectionPool::ConnectionPool;
};

// ---- waiting -------------------------------------------------------------------------------

namespace {

enum class Wake { ready, phase_timeout, deadline, client_gone, stopping, poll_failed };
enum class Phase { connect, handshake, send, first_byte, head, body };

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
    fds[count++] = {watch.client_fd, POLLRDHUP, 0};
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
    if (client_at != 0 && fds[client_at].revents != 0) {
      return Wake::client_gone; // POLLRDHUP, POLLHUP, POLLERR or POLLNVAL
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

// ---- connecting ----------------------------------------------------------------------------

struct Address {
  sockaddr_storage storage{};
  socklen_t length = 0;
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

// `host` as an IPv4 or IPv6 literal, or nullopt when it is a name.
std::optional<Address> literal_address(const std::string& host, int port) {
  Address a;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&a.storage);
  if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<std::uint16_t>(port));
    a.length = sizeof(sockaddr_in);
    return a;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
  if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<std::uint16_t>(port));
    a.length = sizeof(sockaddr_in6);
    return a;
  }
  return std::nullopt;
}

std::string numeric_host(const sockaddr* addr, socklen_t length) {
  char host[NI_MAXHOST];
  if (::getnameinfo(addr, length, host, sizeof host, nullptr, 0, NI_NUMERICHOST) != 0) {
    return "?";
  }
  return host;
}

// Connects to one address. A connect error means "try the next address"; a timeout or a
// cancellation ends the attempt.
core::Result<std::unique_ptr<Connection>>
connect_one(const Address& address, Clock::time_point phase_end, const std::string& what,
            const std::string& peer, const ClientTimeouts& timeouts, const Watch& watch) {
  const int fd =
      ::socket(address.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
  if (fd < 0) {
    return core::fail(core::Error::connect(what + ": socket: " + os_error(errno)));
  }
  auto connection = std::make_unique<Connection>(fd);
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(fd, address.get(), address.length) == 0) {
    return connection;
  }
  if (errno != EINPROGRESS && errno != EINTR) {
    return core::fail(core::Error::connect(what + ": " + os_error(errno)));
  }
  const Wake wake = wait_for(fd, POLLOUT, phase_end, timeouts, watch);
  if (wake != Wake::ready) {
    return core::fail(wait_error(wake, Phase::connect, peer, timeouts));
  }
  int error = 0;
  socklen_t length = sizeof error;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) {
    error = errno;
  }
  if (error != 0) {
    return core::fail(core::Error::connect(what + ": " + os_error(error)));
  }
  return connection;
}

core::Result<std::unique_ptr<Connection>>
connect_to(const std::string& host, int port, Clock::time_point phase_end, const std::string& peer,
           const ClientTimeouts& timeouts, const Watch& watch) {
  if (auto literal = literal_address(host, port)) {
    return connect_one(*literal, phase_end, "connect to " + peer, peer, timeouts, watch);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0) {
    const std::string reason = rc == EAI_SYSTEM ? os_error(errno) : gai_strerror(rc);
    return core::fail(core::Error::connect("cannot resolve " + host + ": " + reason));
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> list(found, &::freeaddrinfo);
  core::Error last = core::Error::connect("no address for " + host);
  for (const addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_addrlen > sizeof(sockaddr_storage)) {
      continue;
    }
    Address address;
    std::memcpy(&address.storage, ai->ai_addr, ai->ai_addrlen);
    address.length = ai->ai_addrlen;
    const std::string what =
        "connect to " + peer + " (" + numeric_host(ai->ai_addr, ai->ai_addrlen) + ")";
    auto connection = connect_one(address, phase_end, what, peer, timeouts, watch);
    if (connection || connection.error().kind != core::ErrorKind::connect) {
      return connection;
    }
    last = std::move(connection.error());
  }
  return core::fail(std::move(last));
}

// A socket BIO that sends with MSG_NOSIGNAL: OpenSSL's own socket BIO uses write(), which
// raises SIGPIPE on a connection the peer has closed. The descriptor is the BIO's data.
int socket_of(BIO* bio) {
  return static_cast<int>(reinterpret_cast<std::intptr_t>(::BIO_get_data(bio)));
}

int bio_write(BIO* bio, const char* data, int size) {
  ::BIO_clear_retry_flags(bio);
  ssize_t n = 0;
  do {
    n = ::send(socket_of(bio), data, static_cast<std::size_t>(size), MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    ::BIO_set_retry_write(bio);
  }
  return static_cast<int>(n);
}

int bio_read(BIO* bio, char* data, int size) {
  ::BIO_clear_retry_flags(bio);
  ssize_t n = 0;
  do {
    n = ::recv(socket_of(bio), data, static_cast<std::size_t>(size), 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    ::BIO_set_retry_read(bio);
  }
  return static_cast<int>(n);
}

long bio_ctrl(BIO*, int command, long, void*) {
  return command == BIO_CTRL_FLUSH ? 1 : 0; // nothing is buffered; nothing else is supported
}

const BIO_METHOD* socket_bio_method() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m = ::BIO_meth_new(BIO_TYPE_SOURCE_SINK | ::BIO_get_new_index(), "ask socket");
    if (m != nullptr) {
      ::BIO_meth_set_write(m, bio_write);
      ::BIO_meth_set_read(m, bio_read);
      ::BIO_meth_set_ctrl(m, bio_ctrl);
    }
    return m;
  }();
  return method;
}

// A BIO for the connected socket `fd` (which it does not close), or nullptr.
BIO* socket_bio(int fd) {
  const BIO_METHOD* method = socket_bio_method();
  BIO* bio = method != nullptr ? ::BIO_new(method) : nullptr;
  if (bio != nullptr) {
    ::BIO_set_data(bio, reinterpret_cast<void*>(static_cast<std::intptr_t>(fd)));
    ::BIO_set_init(bio, 1);
  }
  return bio;
}

// Runs the TLS handshake on a connected socket, verifying the certificate against `host`
// (its DNS name, or its IP address for a literal), within the connect phase.
core::Result<void> tls_handshake(Connection& connection, SSL_CTX* context, const std::string& host,
                                 Clock::time_point phase_end, const std::string& peer,
                                 const ClientTimeouts& timeouts, const Watch& watch) {
  const std::string what = "TLS handshake with " + peer + ": ";
  ::ERR_clear_error();
  SSL* ssl = ::SSL_new(context);
  if (ssl == nullptr) {
    return core::fail(core::Error::connect(what + tls_error_text()));
  }
  connection.attach_tls(ssl);
  bool named = true;
  if (literal_address(host, 0)) {
    named = false;
    ::X509_VERIFY_PARAM_set1_ip_asc(::SSL_get0_param(ssl), host.c_str());
  } else {
    // SNI (never for an IP literal, RFC 6066 section 3) and the name to verify.
    ::SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
               const_cast<char*>(host.c_str()));
    ::SSL_set1_host(ssl, host.c_str());
  }
  BIO* bio = socket_bio(connection.fd());
  if (bio == nullptr) {
    return core::fail(core::Error::connect(what + tls_error_text()));
  }
  ::SSL_set_bio(ssl, bio, bio); // the SSL owns it now

  for (;;) {
    ::ERR_clear_error();
    errno = 0;
    const int rc = ::SSL_connect(ssl);
    if (rc == 1) {
      return {};
    }
    const int error = ::SSL_get_error(ssl, rc);
    if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
      const short events = error == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
      const Wake wake = wait_for(connection.fd(), events, phase_end, timeouts, watch);
      if (wake != Wake::ready) {
        return core::fail(wait_error(wake, Phase::handshake, peer, timeouts));
      }
      continue;
    }
    std::string reason;
    if (const long verify = ::SSL_get_verify_result(ssl); verify != X509_V_OK) {
      reason = std::string("certificate verify failed (") +
               ::X509_verify_cert_error_string(verify) + (named ? " for " : " for address ") +
               host + ")";
    } else if (::ERR_peek_error() != 0) {
      reason = tls_error_text();
    } else if (error == SSL_ERROR_SYSCALL && errno != 0) {
      reason = os_error(errno);
    } else {
      reason = "the server closed the connection";
    }
    return core::fail(core::Error::connect(what + reason));
  }
}

// A new connection to `host`: TCP, then the TLS handshake for HTTPS, within the connect
// timeout.
core::Result<std::unique_ptr<Connection>> open_connection(const detail::ConnectionPool& pool,
                                                          const std::string& host, int port,
                                                          const ClientTimeouts& timeouts,
                                                          const Watch& watch) {
  const std::string& peer = pool.authority();
  if (!pool.tls_problem().empty()) {
    return core::fail(core::Error::connect("HTTPS to " + peer + ": " + pool.tls_problem()));
  }
  const auto phase_end = later(Clock::now(), timeouts.connect);
  auto connection = connect_to(host, port, phase_end, peer, timeouts, watch);
  if (connection && pool.tls() != nullptr) {
    auto done = tls_handshake(**connection, pool.tls(), host, phase_end, peer, timeouts, watch);
    if (!done) {
      return core::fail(std::move(done.error()));
    }
  }
  return connection;
}

// ---- the request ---------------------------------------------------------------------------

bool is_token_char(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
    return true;
  }
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), is_token_char);
}

bool is_control(char c) {
  const auto u = static_cast<unsigned char>(c);
  return (u < 0x20 && c != '\t') || u == 0x7f;
}

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

bool has_token(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) {
      item.remove_prefix(1);
    }
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) {
      item.remove_suffix(1);
    }
    if (iequals(item, token)) {
      return true;
    }
    if (comma == std::string_view::npos) {
      break;
    }
    list.remove_prefix(comma + 1);
  }
  return false;
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
    close_after = close_after || (iequals(name, "Connection") && has_token(value, "close"));
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

std::string authority_of(const std::string& host, int port) {
  if (host.find(':') != std::string::npos) {
    return "[" + host + "]:" + std::to_string(port);
  }
  return host + ":" + std::to_string(port);
}

} // namespace

// ---- ResponseStream ------------------------------------------------------------------------

struct ResponseStream::State {
  State(std::shared_ptr<detail::ConnectionPool> pool_in, const ClientTimeouts& timeouts_in,
        const Watch& watch_in)
      : pool(std::move(pool_in)), parser(pool->limits()), timeouts(timeouts_in), watch(watch_in) {}

  const std::string& peer() const { return pool->authority(); }

  // The body has been read to its end: the connection goes back to the pool when it can
  // carry another request (keep-alive, and nothing unasked after the response).
  void finish_body() {
    ended = true;
    if (connection && keep_alive && parser.state() == ResponseParser::State::complete &&
        connection->buffered().empty()) {
      pool->give_back(std::move(connection));
    }
    connection.reset();
  }

  core::Result<bool> fail(core::Error e) {
    connection.reset();
    error = e;
    return core::fail(std::move(e));
  }

  std::shared_ptr<detail::ConnectionPool> pool;
  std::unique_ptr<Connection> connection;
  ResponseParser parser;
  ClientTimeouts timeouts;
  Watch watch;
  bool keep_alive = false; // the request did not ask to close
  bool ended = false;
  std::optional<core::Error> error; // after a failure or abort(): what read() answers
};

ResponseStream::ResponseStream(std::unique_ptr<State> state, ResponseHead head)
    : m_state(std::move(state)), m_head(std::move(head)) {}
ResponseStream::ResponseStream(ResponseStream&&) noexcept = default;
ResponseStream& ResponseStream::operator=(ResponseStream&&) noexcept = default;
ResponseStream::~ResponseStream() = default;

core::Result<bool> ResponseStream::read(std::string& out) {
  if (!m_state) {
    return core::fail(core::Error::internal("read from a moved-from ResponseStream"));
  }
  State& s = *m_state;
  if (s.error) {
    return core::fail(*s.error);
  }
  if (s.ended) {
    return false;
  }
  const std::size_t before = out.size();
  Connection& connection = *s.connection;
  for (;;) {
    if (!connection.buffered().empty()) {
      connection.consume(s.parser.feed(connection.buffered(), out));
      if (s.parser.state() == ResponseParser::State::failed) {
        auto failed = s.fail(malformed(s.peer(), s.parser.error()));
        if (out.size() > before) {
          return true; // deliver the good bytes; the next read() reports the error
        }
        return failed;
      }
      if (s.parser.state() == ResponseParser::State::complete) {
        s.finish_body();
        return out.size() > before;
      }
      if (out.size() > before) {
        return true;
      }
    }
    if (!connection.has_pending()) {
      const Wake wake = wait_for(connection.fd(), connection.wants(),
                                 later(Clock::now(), s.timeouts.idle), s.timeouts, s.watch);
      if (wake != Wake::ready) {
        return s.fail(wait_error(wake, Phase::body, s.peer(), s.timeouts));
      }
    }
    const ssize_t n = connection.receive();
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      continue;
    }
    if (n < 0) {
      return s.fail(read_error(connection, s.peer(), errno, "mid-body"));
    }
    if (n == 0) {
      if (s.parser.finish() != ResponseParser::State::complete) {
        return s.fail(core::Error::connect(s.peer() + " closed the connection mid-body"));
      }
      s.finish_body();
      return out.size() > before;
    }
  }
}

core::Result<std::string> ResponseStream::read_all(std::size_t max_bytes) {
  std::string body;
  if (m_state && m_state->parser.framing() == BodyFraming::length) {
    body.reserve(static_cast<std::size_t>(
        std::min<std::uint64_t>(m_state->parser.content_length(), max_bytes)));
  }
  for (;;) {
    auto more = read(body);
    if (!more) {
      return core::fail(std::move(more.error()));
    }
    if (body.size() > max_bytes) {
      auto e = core::Error::upstream(core::Error::k_malformed_reply_status,
                                     "response from " + m_state->peer() + " larger than " +
                                         std::to_string(max_bytes) + " bytes");
      m_state->fail(e);
      return core::fail(std::move(e));
    }
    if (!*more) {
      return body;
    }
  }
}

void ResponseStream::abort() {
  if (!m_state || !m_state->connection) {
    return;
  }
  m_state->fail(core::Error::cancelled("request to " + m_state->peer() + " aborted"));
}

bool ResponseStream::finish(std::chrono::milliseconds grace, std::size_t max_bytes) {
  if (!m_state || !m_state->connection) {
    return false;
  }
  State& s = *m_state;
  const auto end = Clock::now() + grace;
  s.timeouts.idle = grace;
  s.timeouts.deadline = s.timeouts.deadline ? std::min(*s.timeouts.deadline, end) : end;
  std::string discarded;
  for (;;) {
    auto more = read(discarded);
    if (!more) {
      return false; // read() closed the connection
    }
    if (!*more) {
      return true; // the body ended: the connection is back in the pool when reusable
    }
    if (discarded.size() > max_bytes) {
      abort();
      return false;
    }
  }
}

int ResponseStream::fd() const {
  return m_state && m_state->connection ? m_state->connection->fd() : -1;
}

// ---- HttpClient ----------------------------------------------------------------------------

HttpClient::HttpClient(std::string host, int port, ClientOptions options)
    : m_host(std::move(host)), m_port(port), m_options(options),
      m_pool(std::make_shared<Pool>(authority_of(m_host, m_port), m_options)) {}

HttpClient::~HttpClient() {
  m_pool->shut_down();
}

std::size_t HttpClient::idle_connections() const {
  return m_pool->idle();
}

core::Result<ResponseStream> HttpClient::start(const ClientRequest& request,
                                               const ClientTimeouts& timeouts, const Watch& watch) {
  const std::string& peer = m_pool->authority();
  if (std::string problem = request_problem(request); !problem.empty()) {
    return core::fail(core::Error::bad_request("request to " + peer + ": " + problem));
  }
  if (timeouts.deadline && Clock::now() >= *timeouts.deadline) {
    return core::fail(
        core::Error::timeout("request to " + peer + " passed its deadline before it was sent"));
  }
  bool close_after = false;
  const std::string head = request_head(request, peer, close_after);
  const bool head_request = request.method == "HEAD";
  auto state = std::make_unique<ResponseStream::State>(m_pool, timeouts, watch);
  std::unique_ptr<Connection> connection = m_pool->take();
  for (bool retried = false;;) {
    const bool reused = connection != nullptr;
    if (!reused) {
      auto fresh = open_connection(*m_pool, m_host, m_port, timeouts, watch);
      if (!fresh) {
        return core::fail(std::move(fresh.error()));
      }
      connection = std::move(*fresh);
    }
    state->parser.reset(head_request);
    bool retry = false;
    auto done = send_request(*connection, head, request.body, peer, timeouts, watch, retry);
    if (done) {
      done = read_head(*connection, state->parser, peer, timeouts, watch, retry);
    }
    if (done) {
      break;
    }
    connection.reset();
    if (!(reused && retry && !retried)) {
      return core::fail(std::move(done.error()));
    }
    retried = true; // the server closed an idle connection as we reused it: once, afresh
  }
  state->connection = std::move(connection);
  state->keep_alive = !close_after && state->parser.keep_alive();
  if (state->parser.state() == ResponseParser::State::complete) {
    state->finish_body();
  }
  ResponseHead response_head = state->parser.take_head();
  return ResponseStream(std::move(state), std::move(response_head));
}

bool watch_fired(const Watch& watch) {
  pollfd fds[2] = {{watch.client_fd, POLLRDHUP, 0}, {watch.stop_fd, POLLIN, 0}};
  if (::poll(fds, 2, 0) <= 0) {
    return false;
  }
  return (fds[0].revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0 || (fds[1].revents & POLLIN) != 0;
}

} // namespace ask::net
