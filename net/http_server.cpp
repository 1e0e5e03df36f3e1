#include "net/http_server.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <system_error>

#include "core/platform.h"
#include "net/http_server_detail.h"

namespace ask::net {

using detail::k_continue;
using detail::send_all;

namespace {

constexpr std::size_t k_read_chunk = 16 * 1024;
constexpr int k_listen_backlog = 1024;

struct StatusName {
  int status;
  std::string_view phrase;
};

constexpr std::array k_status_names = {
    StatusName{100, "Continue"},
    StatusName{200, "OK"},
    StatusName{204, "No Content"},
    StatusName{301, "Moved Permanently"},
    StatusName{400, "Bad Request"},
    StatusName{401, "Unauthorized"},
    StatusName{403, "Forbidden"},
    StatusName{404, "Not Found"},
    StatusName{405, "Method Not Allowed"},
    StatusName{408, "Request Timeout"},
    StatusName{411, "Length Required"},
    StatusName{413, "Payload Too Large"},
    StatusName{417, "Expectation Failed"},
    StatusName{422, "Unprocessable Entity"},
    StatusName{429, "Too Many Requests"},
    StatusName{431, "Request Header Fields Too Large"},
    StatusName{500, "Internal Server Error"},
    StatusName{501, "Not Implemented"},
    StatusName{502, "Bad Gateway"},
    StatusName{503, "Service Unavailable"},
    StatusName{504, "Gateway Timeout"},
    StatusName{505, "HTTP Version Not Supported"},
};

void set_int_option(int fd, int level, int name, int value) {
  ::setsockopt(fd, level, name, &value, sizeof value);
}

// A whole response that closes the connection: the server's own answers.
void simple_response(int fd, int status, const Headers& headers, std::string_view body) {
  std::string text =
      "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason_phrase(status)) + "\r\n";
  for (const auto& [name, value] : headers) {
    text += name + ": " + value + "\r\n";
  }
  text += "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
  text += body;
  send_all(fd, text);
}

// "127.0.0.1:51234" -> "127.0.0.1", "[::1]:51234" -> "::1": the key of a peer's limits.
std::string host_of(const std::string& peer) {
  std::string_view host(peer);
  host = host.substr(0, host.rfind(':'));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return std::string(host);
}

// After a refusal, what the client still sends is read and dropped for this long, up to this
// much, so that it reads the answer rather than a reset; then the connection closes.
constexpr std::chrono::seconds k_linger_time{2};
constexpr std::size_t k_linger_bytes = 1 << 20;
constexpr std::size_t k_max_lingering = 1024; // refused connections the accept thread drains

std::string peer_name(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return {};
  }
  char host[NI_MAXHOST];
  char port[NI_MAXSERV];
  if (::getnameinfo(reinterpret_cast<sockaddr*>(&addr), len, host, sizeof host, port,
                    sizeof port, NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    return {};
  }
  if (addr.ss_family == AF_INET6) {
    return std::string("[") + host + "]:" + port;
  }
  return std::string(host) + ":" + port;
}

std::string os_error(std::string_view what) {
  return std::string(what) + ": " + std::strerror(errno);
}

} // namespace

std::string_view reason_phrase(int status) {
  for (const StatusName& s : k_status_names) {
    if (s.status == status) {
      return s.phrase;
    }
  }
  return "Unknown";
}

// ---- HttpServer -------------------------------------------------------------------------

HttpServer::HttpServer(Handler handler, ServerOptions options)
    : m_handler(std::move(handler)), m_options(std::move(options)) {
  if (!core::platform::make_pipe_cloexec(m_stop_pipe, true)) {
    m_stop_pipe[0] = m_stop_pipe[1] = -1;
  }
}

HttpServer::~HttpServer() {
  stop();
  reap(true);
  if (m_listen_fd >= 0) {
    ::close(m_listen_fd);
  }
  for (int fd : m_stop_pipe) {
    if (fd >= 0) {
      ::close(fd);
    }
  }
}

core::Result<int> HttpServer::listen(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  std::string service = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0) {
    return core::fail(core::Error::connect("cannot resolve " + host + ": " + gai_strerror(rc)));
  }
  std::string error = "no address for " + host;
  for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    int fd = core::platform::socket_cloexec(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd < 0) {
      error = os_error("socket");
      continue;
    }
    set_int_option(fd, SOL_SOCKET, SO_REUSEADDR, 1);
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd, k_listen_backlog) != 0) {
      error = os_error("bind");
      ::close(fd);
      continue;
    }
    m_listen_fd = fd;
    break;
  }
  ::freeaddrinfo(found);
  if (m_listen_fd < 0) {
    return core::fail(core::Error::connect(error));
  }
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  ::getsockname(m_listen_fd, reinterpret_cast<sockaddr*>(&addr), &len);
  if (addr.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
  }
  return ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
}

void HttpServer::serve() {
  std::vector<pollfd> fds;
  while (!m_stopping.load()) {
    fds.assign({{m_listen_fd, POLLIN, 0}, {m_stop_pipe[0], POLLIN, 0}});
    for (const Lingering& l : m_lingering) {
      fds.push_back({l.fd, POLLIN, 0});
    }
    int rc = ::poll(fds.data(), fds.size(), m_lingering.empty() ? 1000 : 250);
    if (rc > 0 && (fds[0].revents & POLLIN) && !m_stopping.load()) {
      accept_one();
    }
    serve_lingering(fds);
    reap(false);
  }
  for (const Lingering& l : m_lingering) {
    ::close(l.fd);
  }
  m_lingering.clear();
  reap(true);
}

void HttpServer::accept_one() {
  int fd = core::platform::accept_cloexec(m_listen_fd);
  if (fd < 0) {
    if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
      // Out of descriptors or memory: the pending connection stays queued and poll() would
      // report it again at once. Back off 100 ms (woken early by stop()) instead of spinning.
      pollfd stop_fd{m_stop_pipe[0], POLLIN, 0};
      ::poll(&stop_fd, 1, 100);
    }
    return;
  }
  set_int_option(fd, IPPROTO_TCP, TCP_NODELAY, 1);
  timeval tv{static_cast<time_t>(m_options.send_timeout.count()), 0};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  std::string host = host_of(peer_name(fd));
  std::lock_guard lock(m_mutex);
  ++m_stats.accepted;
  if (m_workers.size() >= m_options.max_connections) {
    ++m_stats.rejected_busy;
    refuse_connection(fd, 503, "too many open connections");
    return;
  }
  Peer& peer = m_peers[host];
  if (peer.connections >= m_options.peers.max_connections) {
    ++m_stats.rejected_peer;
    refuse_connection(fd, 503, "too many open connections from " + host);
    return;
  }
  ++peer.connections;
  auto worker = std::make_unique<Worker>();
  worker->fd = fd;
  worker->host = std::move(host);
  Worker& ref = *worker;
  m_workers.push_back(std::move(worker));
  try {
    ref.thread = std::thread([this, &ref] { serve_connection(ref); });
  } catch (const std::system_error&) {
    // No thread for it (resource limits): forget the worker and turn the client away.
    --peer.connections;
    m_workers.pop_back();
    ++m_stats.rejected_busy;
    refuse_connection(fd, 503, "too many open connections");
  }
}

void HttpServer::respond_error(int fd, int status, const std::string& reason) {
  if (m_options.error_formatter) {
    auto [content_type, body] = m_options.error_formatter(status, reason);
    simple_response(fd, status, {{"Content-Type", content_type}}, body);
  } else {
    simple_response(fd, status, {{"Content-Type", "text/plain; charset=utf-8"}},
                    m_options.name + ": " + reason + "\n");
  }
}

// On the accept thread, with m_mutex held: the answer goes out now (a new socket's send
// buffer takes it whole); the connection is then drained by serve() until the client closes.
void HttpServer::refuse_connection(int fd, int status, const std::string& reason) {
  respond_error(fd, status, reason);
  ::shutdown(fd, SHUT_WR);
  if (m_lingering.size() >= k_max_lingering) {
    ::close(m_lingering.front().fd);
    m_lingering.erase(m_lingering.begin());
  }
  m_lingering.push_back({fd, std::chrono::steady_clock::now() + k_linger_time});
}

void HttpServer::serve_lingering(const std::vector<pollfd>& polled) {
  const auto now = std::chrono::steady_clock::now();
  const std::size_t polled_count = polled.size() - 2; // after the listener and the stop pipe
  std::vector<Lingering> kept;
  for (std::size_t i = 0; i < m_lingering.size(); ++i) {
    const Lingering& l = m_lingering[i];
    bool done = now >= l.until;
    if (!done && i < polled_count && polled[i + 2].revents != 0) {
      char buffer[k_read_chunk];
      ssize_t n = ::recv(l.fd, buffer, sizeof buffer, MSG_DONTWAIT);
      done = n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
    }
    if (done) {
      ::close(l.fd);
    } else {
      kept.push_back(l);
    }
  }
  m_lingering = std::move(kept);
}

// A worker's refusal: the answer is out; what the client still sends is read and dropped (up
// to k_linger_bytes, for k_linger_time) so that it sees the answer, not a reset.
void HttpServer::linger(int fd) {
  ::shutdown(fd, SHUT_WR);
  const auto until = std::chrono::steady_clock::now() + k_linger_time;
  std::size_t drained = 0;
  char buffer[k_read_chunk];
  while (drained < k_linger_bytes && !m_stopping.load()) {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(until -
                                                             std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      break;
    }
    pollfd fds[2] = {{fd, POLLIN, 0}, {m_stop_pipe[0], POLLIN, 0}};
    if (::poll(fds, 2, static_cast<int>(left.count())) <= 0 || fds[1].revents != 0) {
      break;
    }
    ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) {
      break;
    }
    drained += static_cast<std::size_t>(n);
  }
}

bool HttpServer::reserve_body(const std::string& host, std::size_t bytes) {
  std::lock_guard lock(m_mutex);
  Peer& peer = m_peers[host];
  // Written as subtractions: with no limit (k_none) an addition would overflow.
  if (bytes > m_options.peers.max_body_bytes - peer.body_bytes ||
      bytes > m_options.peers.max_total_body_bytes - m_body_bytes) {
    ++m_stats.rejected_body_buffer;
    return false;
  }
  peer.body_bytes += bytes;
  m_body_bytes += bytes;
  return true;
}

void HttpServer::release_body(const std::string& host, std::size_t bytes) {
  std::lock_guard lock(m_mutex);
  m_peers[host].body_bytes -= bytes;
  m_body_bytes -= bytes;
}

HttpServer::ReadResult HttpServer::read_more(int fd, RequestParser& parser,
                                             std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline -
                                                             std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return ReadResult::timeout;
    }
    pollfd fds[2] = {{fd, POLLIN, 0}, {m_stop_pipe[0], POLLIN, 0}};
    int rc = ::poll(fds, 2, static_cast<int>(std::min<long long>(left.count(), 60'000)));
    if (m_stopping.load()) {
      return ReadResult::stopping;
    }
    if (rc < 0 && errno != EINTR) {
      return ReadResult::closed;
    }
    if (rc <= 0 || !(fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
      continue; // interrupted, or the deadline's poll slice ended
    }
    char buffer[k_read_chunk];
    ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return ReadResult::closed;
    }
    parser.feed(std::string_view(buffer, static_cast<std::size_t>(n)));
    return ReadResult::data;
  }
}

namespace {

std::string seconds_text(std::chrono::milliseconds ms) {
  char text[32];
  std::snprintf(text, sizeof text, "%g s", static_cast<double>(ms.count()) / 1000.0);
  return text;
}

} // namespace

void HttpServer::serve_connection(Worker& worker) {
  using Clock = std::chrono::steady_clock;
  const int fd = worker.fd;
  const Deadlines& limits = m_options.deadlines;
  RequestParser parser(m_options.limits);
  const std::string peer = peer_name(fd);
  int served = 0;
  bool vetted = false;      // the head of the request being read has been looked at
  std::size_t reserved = 0; // body bytes counted against the peer for it
  bool drain = false;       // refused with the body unread: linger before closing
  bool expect_continue = false; // the client waits for 100 Continue before its body
  auto count = [&](std::uint64_t ServerStats::*counter) {
    std::lock_guard lock(m_mutex);
    ++(m_stats.*counter);
  };
  Clock::time_point phase_start = Clock::now(); // idle since, or the request's first byte
  Clock::time_point body_start{};
  while (!m_stopping.load()) {
    if (parser.state() == RequestParser::State::incomplete) {
      const bool idle = !parser.has_buffered_bytes() && !parser.head_done();
      Clock::time_point deadline =
          parser.head_done()
              ? body_start + limits.body +
                    std::chrono::seconds(parser.body_bytes_received() /
                                         std::max<std::size_t>(1, limits.body_min_rate))
              : phase_start + (idle ? limits.idle : limits.head);
      const ReadResult read = read_more(fd, parser, deadline);
      if (read == ReadResult::timeout) {
        if (idle) {
          count(&ServerStats::idle_timeouts);
        } else if (parser.head_done()) {
          count(&ServerStats::body_timeouts);
          respond_error(fd, 408,
                        "the request body came too slowly (at least " +
                            std::to_string(limits.body_min_rate) + " bytes/s after " +
                            seconds_text(limits.body) + ")");
        } else {
          count(&ServerStats::head_timeouts);
          respond_error(fd, 408,
                        "the request head did not arrive within " + seconds_text(limits.head));
        }
        break;
      }
      if (read != ReadResult::data) {
        break;
      }
      if (idle) {
        phase_start = Clock::now(); // a request's first byte: its head deadline starts
      }
    }
    if (parser.state() == RequestParser::State::failed) {
      respond_error(fd, parser.error_status(), parser.error_message());
      drain = true;
      break;
    }
    if (parser.head_done() && !vetted) {
      vetted = true;
      body_start = Clock::now();
      const HttpRequest& head = parser.head();
      if (m_options.head_check) {
        if (std::optional<Rejection> no = m_options.head_check(head, peer)) {
          count(&ServerStats::rejected_head);
          simple_response(fd, no->status, no->headers, no->body);
          drain = parser.state() != RequestParser::State::complete;
          break;
        }
      }
      if (std::optional<std::string_view> expect = head.header("Expect")) {
        if (!iequals(*expect, "100-continue")) {
          respond_error(fd, 417, "Expect: " + std::string(*expect) + " is not supported");
          drain = true;
          break;
        }
        // RFC 9110 10.1.1: the client waits for 100 Continue before it sends the body;
        // not needed when the body is already on its way, not allowed to HTTP/1.0.
        expect_continue = head.version == "HTTP/1.1" && parser.expects_body() &&
                          parser.body_bytes_received() == 0;
      }
    }
    // Memory for the body is granted before it is read: the declared length at once, a
    // chunked body as it arrives.
    if (parser.head_done()) {
      const std::size_t want = std::max(parser.declared_length(), parser.body_bytes_received());
      if (want > reserved) {
        if (!reserve_body(worker.host, want - reserved)) {
          respond_error(fd, 503,
                        "too many request body bytes are being read from " + worker.host +
                            "; try again later");
          drain = true;
          break;
        }
        reserved = want;
      }
    }
    if (expect_continue) { // the head passed and the body has its memory: ask for it
      expect_continue = false;
      if (!send_all(fd, k_continue)) {
        break;
      }
      count(&ServerStats::continues);
    }
    if (parser.state() != RequestParser::State::complete) {
      continue;
    }
    HttpRequest request = parser.take();
    vetted = false;
    ++served;
    bool keep = request.wants_keep_alive() && served < m_options.keep_alive_max;
    Exchange exchange(fd, m_stop_pipe[0], m_stopping, keep, request.version == "HTTP/1.1");
    exchange.set_peer(peer);
    exchange.client_gone(); // a half-close sent with the request is told apart now (hung_up)
    bool stop = false;
    try {
      m_handler(request, exchange);
    } catch (const std::exception& e) {
      if (!exchange.responded()) {
        respond_error(fd, 500, std::string("internal error: ") + e.what());
      }
      stop = true;
    }
    if (!stop && !exchange.responded()) {
      respond_error(fd, 500, "handler sent no response");
      stop = true;
    }
    release_body(worker.host, reserved);
    reserved = 0;
    if (stop || exchange.closed() || exchange.write_failed() || exchange.wants_close() || !keep) {
      break;
    }
    phase_start = Clock::now(); // idle from here, or a pipelined request's head from here
  }
  if (reserved != 0) {
    release_body(worker.host, reserved);
  }
  if (drain) {
    linger(fd);
  }
  release(worker);
}

void HttpServer::release(Worker& worker) {
  std::lock_guard lock(m_mutex);
  ::close(worker.fd);
  worker.fd = -1;
  if (auto it = m_peers.find(worker.host); it != m_peers.end()) {
    Peer& peer = it->second;
    --peer.connections;
    if (peer.connections == 0 && peer.body_bytes == 0) {
      m_peers.erase(it);
    }
  }
  worker.done.store(true);
}

void HttpServer::reap(bool all) {
  std::list<std::unique_ptr<Worker>> finished;
  {
    std::lock_guard lock(m_mutex);
    for (auto it = m_workers.begin(); it != m_workers.end();) {
      if (all || (*it)->done.load()) {
        finished.push_back(std::move(*it));
        it = m_workers.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& worker : finished) {
    if (worker->thread.joinable()) {
      worker->thread.join();
    }
  }
}

void HttpServer::stop() {
  if (m_stopping.exchange(true)) {
    return;
  }
  if (m_stop_pipe[1] >= 0) {
    char byte = 1;
    [[maybe_unused]] ssize_t n = ::write(m_stop_pipe[1], &byte, 1);
  }
  std::lock_guard lock(m_mutex);
  for (auto& worker : m_workers) {
    if (worker->fd >= 0) {
      ::shutdown(worker->fd, SHUT_RDWR);
    }
  }
}

ServerStats HttpServer::stats() const {
  std::lock_guard lock(m_mutex);
  ServerStats out = m_stats;
  for (const auto& worker : m_workers) {
    out.open_connections += worker->done.load() ? 0 : 1;
  }
  out.body_bytes_buffered = m_body_bytes;
  return out;
}

} // namespace ask::net
