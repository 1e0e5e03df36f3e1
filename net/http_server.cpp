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

namespace ask::net {

namespace {

constexpr std::size_t k_read_chunk = 16 * 1024;
constexpr int k_listen_backlog = 1024;

struct StatusName {
  int status;
  std::string_view phrase;
};

constexpr std::array k_status_names = {
    StatusName{200, "OK"},
    StatusName{204, "No Content"},
    StatusName{400, "Bad Request"},
    StatusName{401, "Unauthorized"},
    StatusName{403, "Forbidden"},
    StatusName{404, "Not Found"},
    StatusName{405, "Method Not Allowed"},
    StatusName{408, "Request Timeout"},
    StatusName{411, "Length Required"},
    StatusName{413, "Payload Too Large"},
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

bool send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
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

void set_int_option(int fd, int level, int name, int value) {
  ::setsockopt(fd, level, name, &value, sizeof value);
}

void simple_response(int fd, int status, std::string_view content_type, std::string_view body) {
  std::string text = "HTTP/1.1 " + std::to_string(status) + " " +
                     std::string(reason_phrase(status)) + "\r\nContent-Type: " +
                     std::string(content_type) + "\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
  text += body;
  send_all(fd, text);
}

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

// ---- Exchange ---------------------------------------------------------------------------

Exchange::Exchange(int fd, int stop_fd, const std::atomic<bool>& stopping, bool keep_alive_allowed)
    : m_fd(fd), m_stop_fd(stop_fd), m_stopping(stopping), m_keep_alive_allowed(keep_alive_allowed) {
}

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

WaitResult Exchange::wait_for(std::optional<std::chrono::nanoseconds> timeout) {
  using Clock = std::chrono::steady_clock;
  flush_head();
  const auto deadline = timeout ? Clock::now() + *timeout : Clock::time_point::max();
  for (;;) {
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
    pollfd fds[2] = {{m_fd, POLLRDHUP, 0}, {m_stop_fd, POLLIN, 0}};
    int rc = ::poll(fds, 2, ms);
    if (rc < 0 && errno != EINTR) {
      return WaitResult::client_gone;
    }
    if (rc > 0 && (fds[0].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))) {
      m_write_failed = true;
      return WaitResult::client_gone;
    }
  }
}

bool Exchange::client_gone() {
  if (m_write_failed || m_closed) {
    return true;
  }
  pollfd fd{m_fd, POLLRDHUP, 0};
  if (::poll(&fd, 1, 0) > 0 && (fd.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))) {
    m_write_failed = true;
  }
  return m_write_failed;
}

// ---- HttpServer -------------------------------------------------------------------------

HttpServer::HttpServer(Handler handler, ServerOptions options)
    : m_handler(std::move(handler)), m_options(options) {
  if (::pipe2(m_stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
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
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
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
  while (!m_stopping.load()) {
    pollfd fds[2] = {{m_listen_fd, POLLIN, 0}, {m_stop_pipe[0], POLLIN, 0}};
    int rc = ::poll(fds, 2, 1000);
    if (rc > 0 && (fds[0].revents & POLLIN) && !m_stopping.load()) {
      accept_one();
    }
    reap(false);
  }
  reap(true);
}

void HttpServer::accept_one() {
  int fd = ::accept4(m_listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
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
  std::lock_guard lock(m_mutex);
  if (m_workers.size() >= m_options.max_connections) {
    reject_busy(fd);
    return;
  }
  auto worker = std::make_unique<Worker>();
  worker->fd = fd;
  Worker& ref = *worker;
  m_workers.push_back(std::move(worker));
  try {
    ref.thread = std::thread([this, &ref] { serve_connection(ref); });
  } catch (const std::system_error&) {
    // No thread for it (resource limits): forget the worker and turn the client away.
    m_workers.pop_back();
    reject_busy(fd);
  }
}

void HttpServer::respond_error(int fd, int status, const std::string& reason) {
  if (m_options.error_formatter) {
    auto [content_type, body] = m_options.error_formatter(status, reason);
    simple_response(fd, status, content_type, body);
  } else {
    simple_response(fd, status, "text/plain; charset=utf-8", m_options.name + ": " + reason + "\n");
  }
}

void HttpServer::reject_busy(int fd) {
  respond_error(fd, 503, "too many open connections");
  ::close(fd);
}

bool HttpServer::read_more(int fd, RequestParser& parser, bool idle) {
  const int timeout_ms = idle ? static_cast<int>(m_options.keep_alive_timeout.count()) : 30'000;
  pollfd fds[2] = {{fd, POLLIN, 0}, {m_stop_pipe[0], POLLIN, 0}};
  int rc = ::poll(fds, 2, timeout_ms);
  if (rc <= 0 || m_stopping.load() || !(fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
    return false; // idle timeout, stop, or error
  }
  char buffer[k_read_chunk];
  ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
  if (n <= 0) {
    return false;
  }
  parser.feed(std::string_view(buffer, static_cast<std::size_t>(n)));
  return true;
}

void HttpServer::serve_connection(Worker& worker) {
  const int fd = worker.fd;
  RequestParser parser(m_options.limits);
  const std::string peer = peer_name(fd);
  int served = 0;
  while (!m_stopping.load()) {
    if (parser.state() == RequestParser::State::incomplete &&
        !read_more(fd, parser, !parser.has_buffered_bytes())) {
      break;
    }
    if (parser.state() == RequestParser::State::failed) {
      respond_error(fd, parser.error_status(), parser.error_message());
      break;
    }
    if (parser.state() != RequestParser::State::complete) {
      continue;
    }
    HttpRequest request = parser.take();
    ++served;
    bool keep = request.wants_keep_alive() && served < m_options.keep_alive_max;
    Exchange exchange(fd, m_stop_pipe[0], m_stopping, keep);
    exchange.set_peer(peer);
    try {
      m_handler(request, exchange);
    } catch (const std::exception& e) {
      if (!exchange.responded()) {
        respond_error(fd, 500, std::string("internal error: ") + e.what());
      }
      break;
    }
    if (!exchange.responded()) {
      respond_error(fd, 500, "handler sent no response");
      break;
    }
    if (exchange.closed() || exchange.write_failed() || exchange.wants_close() || !keep) {
      break;
    }
  }
  release(worker);
}

void HttpServer::release(Worker& worker) {
  std::lock_guard lock(m_mutex);
  ::close(worker.fd);
  worker.fd = -1;
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

std::size_t HttpServer::open_connections() const {
  std::lock_guard lock(m_mutex);
  std::size_t n = 0;
  for (const auto& worker : m_workers) {
    n += worker->done.load() ? 0 : 1;
  }
  return n;
}

} // namespace ask::net
