// HttpClient's connections: the ConnectionPool of idle ones, and opening new ones (name
// resolution, a non-blocking TCP connect, then for HTTPS the TLS handshake over a socket BIO
// that never raises SIGPIPE). See net/http_client_detail.h.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <optional>

#include "net/http_client_detail.h"

namespace ask::net::detail {

// ---- ConnectionPool ------------------------------------------------------------------------

ConnectionPool::ConnectionPool(std::string authority, const ClientOptions& options)
    : m_authority(std::move(authority)), m_max_idle(options.max_idle_connections),
      m_idle_timeout(options.idle_timeout) {
  m_limits.max_head_bytes = options.max_head_bytes;
  m_limits.max_headers = options.max_headers;
  m_limits.max_chunk_line_bytes = options.max_chunk_line_bytes;
  if (options.tls) {
    set_up_tls(options.ca_file);
  }
}

ConnectionPool::~ConnectionPool() {
  m_idle.clear(); // before the context their TLS sessions hold a reference to
  ::SSL_CTX_free(m_tls);
}

std::unique_ptr<Connection> ConnectionPool::take() {
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

void ConnectionPool::give_back(std::unique_ptr<Connection> connection) {
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

std::size_t ConnectionPool::idle() const {
  const auto now = Clock::now();
  std::lock_guard lock(m_mutex);
  return static_cast<std::size_t>(std::count_if(m_idle.begin(), m_idle.end(),
                                                [&](const auto& c) { return !expired(*c, now); }));
}

void ConnectionPool::shut_down() {
  std::vector<std::unique_ptr<Connection>> closed;
  std::lock_guard lock(m_mutex);
  m_shut_down = true;
  closed.swap(m_idle);
}

void ConnectionPool::set_up_tls(const std::string& ca_file) {
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

bool ConnectionPool::expired(const Connection& c, Clock::time_point now) const {
  return now - c.idle_since >= m_idle_timeout;
}

void ConnectionPool::drop_expired(Clock::time_point now) {
  auto first_live =
      std::find_if(m_idle.begin(), m_idle.end(), [&](const auto& c) { return !expired(*c, now); });
  m_idle.erase(m_idle.begin(), first_live);
}

// ---- connecting ----------------------------------------------------------------------------

namespace {

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
      core::platform::socket_cloexec(address.storage.ss_family, SOCK_STREAM, IPPROTO_TCP, true);
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

// A socket BIO that sends with core::platform::send_nosignal: OpenSSL's own socket BIO uses
// write(), which raises SIGPIPE on a connection the peer has closed. The descriptor is the
// BIO's data.
int socket_of(BIO* bio) {
  return static_cast<int>(reinterpret_cast<std::intptr_t>(::BIO_get_data(bio)));
}

int bio_write(BIO* bio, const char* data, int size) {
  ::BIO_clear_retry_flags(bio);
  ssize_t n = 0;
  do {
    n = core::platform::send_nosignal(socket_of(bio), data, static_cast<std::size_t>(size));
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
    // OpenSSL's BIO keeps its data as a void*; ours is the descriptor.
    // NOLINTNEXTLINE(performance-no-int-to-ptr)
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

} // namespace

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

} // namespace ask::net::detail
