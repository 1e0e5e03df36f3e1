#include "net/http_client.h"

#include <doctest/doctest.h>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <functional>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "core/platform.h"
#include "net/http_request.h"
#include "net/http_server.h"

using namespace ask::net;
using namespace std::chrono_literals;
using ask::core::ErrorKind;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto k_patience = 5s; // how long a test waits for something that should happen

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

// A net::HttpServer on 127.0.0.1:0, serving from its own thread.
class TestServer {
public:
  explicit TestServer(Handler handler) : m_server(std::move(handler)) {
    port = m_server.listen("127.0.0.1", 0).value();
    m_thread = std::thread([this] { m_server.serve(); });
  }
  ~TestServer() {
    m_server.stop();
    m_thread.join();
  }
  int port = 0;

private:
  HttpServer m_server;
  std::thread m_thread;
};

// A misbehaving server: a listening socket on 127.0.0.1:0 whose thread accepts connections
// one after another and runs `script` on each (with its index), then closes it.
class RawServer {
public:
  using Script = std::function<void(int fd, int index)>;
  explicit RawServer(Script script) : m_script(std::move(script)) {
    m_listen = ask::core::platform::socket_cloexec(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(m_listen, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(m_listen, 16) == 0);
    socklen_t len = sizeof addr;
    ::getsockname(m_listen, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
    REQUIRE(::pipe(m_stop) == 0);
    m_thread = std::thread([this] { run(); });
  }
  ~RawServer() {
    [[maybe_unused]] ssize_t n = ::write(m_stop[1], "x", 1);
    m_thread.join();
    ::close(m_listen);
    ::close(m_stop[0]);
    ::close(m_stop[1]);
  }
  int accepted() const { return m_accepted.load(); }
  int port = 0;

private:
  void run() {
    for (int index = 0;; ++index) {
      pollfd fds[2] = {{m_listen, POLLIN, 0}, {m_stop[0], POLLIN, 0}};
      if (::poll(fds, 2, -1) <= 0 || fds[1].revents != 0) {
        return;
      }
      const int fd = ask::core::platform::accept_cloexec(m_listen);
      if (fd < 0) {
        return;
      }
      m_accepted.fetch_add(1);
      m_script(fd, index);
      ::close(fd);
    }
  }

  Script m_script;
  int m_listen = -1;
  int m_stop[2] = {-1, -1};
  std::atomic<int> m_accepted{0};
  std::thread m_thread;
};

// Reads one request from `fd` (waiting k_patience at most); nullopt when the peer closed.
std::optional<HttpRequest> read_request(int fd, RequestParser& parser) {
  const auto end = Clock::now() + k_patience;
  while (parser.state() == RequestParser::State::incomplete) {
    pollfd p{fd, POLLIN, 0};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now());
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
      return std::nullopt;
    }
    char buffer[4096];
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) {
      return std::nullopt;
    }
    parser.feed(std::string_view(buffer, static_cast<std::size_t>(n)));
  }
  if (parser.state() != RequestParser::State::complete) {
    return std::nullopt;
  }
  return parser.take();
}

std::optional<HttpRequest> read_request(int fd) {
  RequestParser parser;
  return read_request(fd, parser);
}

void send_text(int fd, std::string_view text) {
  while (!text.empty()) {
    const ssize_t n = ask::core::platform::send_nosignal(fd, text.data(), text.size());
    if (n <= 0) {
      return;
    }
    text.remove_prefix(static_cast<std::size_t>(n));
  }
}

// True once the peer has closed `fd` (anything it sends is discarded), false after k_patience.
bool wait_closed(int fd) {
  const auto end = Clock::now() + k_patience;
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now());
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
      return false;
    }
    char buffer[4096];
    if (::recv(fd, buffer, sizeof buffer, 0) <= 0) {
      return true;
    }
  }
}

// A script that answers each connection's first request with `response`, then waits for the
// client to close.
RawServer::Script answer(std::string response) {
  return [response = std::move(response)](int fd, int) {
    if (read_request(fd)) {
      send_text(fd, response);
      wait_closed(fd);
    }
  };
}

ClientRequest get(std::string target = "/") {
  ClientRequest request;
  request.method = "GET";
  request.target = std::move(target);
  return request;
}

ClientTimeouts short_timeouts() {
  ClientTimeouts timeouts;
  timeouts.connect = 2s;
  timeouts.first_byte = 5s;
  timeouts.idle = 5s;
  return timeouts;
}

std::string peer_of(int port) {
  return "127.0.0.1:" + std::to_string(port);
}

template <class T> bool ready_within(std::future<T>& future, std::chrono::nanoseconds limit) {
  return future.wait_for(limit) == std::future_status::ready;
}

} // namespace

TEST_CASE("HttpClient: GET and POST round trips against HttpServer") {
  TestServer server([](const HttpRequest& request, Exchange& exchange) {
    std::string body = request.method + " " + request.target +
                       " host=" + std::string(request.header("Host").value_or("-")) +
                       " length=" + std::string(request.header("Content-Length").value_or("-")) +
                       " x=" + std::string(request.header("X-Test").value_or("-")) +
                       " body=" + request.body;
    const int status = request.path == "/fail" ? 503 : 200;
    exchange.send_response(
        status, {{"Content-Type", "text/plain"}, {"Content-Length", std::to_string(body.size())}},
        body);
  });
  HttpClient client("127.0.0.1", server.port);
  CHECK(client.host() == "127.0.0.1");
  CHECK(client.port() == server.port);

  ClientRequest request = get("/v1/models?x=1");
  request.headers = {{"X-Test", "yes"}};
  auto response = client.start(request, short_timeouts());
  REQUIRE(response);
  CHECK(response->head().status == 200);
  CHECK(response->head().reason == "OK");
  CHECK(response->head().header("content-type") == "text/plain");
  CHECK(response->read_all(1024).value() ==
        "GET /v1/models?x=1 host=" + peer_of(server.port) + " length=- x=yes body=");

  ClientRequest post;
  post.target = "/api/chat";
  post.body = R"({"model":"m"})";
  response = client.start(post, short_timeouts());
  REQUIRE(response);
  CHECK(response->read_all(1024).value() ==
        "POST /api/chat host=" + peer_of(server.port) + " length=13 x=- body={\"model\":\"m\"}");

  ClientRequest empty_post;
  empty_post.target = "/fail";
  response = client.start(empty_post, short_timeouts());
  REQUIRE(response); // any status is a successful start
  CHECK(response->head().status == 503);
  CHECK(contains(response->read_all(1024).value(), "length=0 "));
}

TEST_CASE("HttpClient: keep-alive reuses one connection") {
  std::mutex mutex;
  std::vector<std::string> peers;
  TestServer server([&](const HttpRequest&, Exchange& exchange) {
    {
      std::lock_guard lock(mutex);
      peers.push_back(exchange.peer());
    }
    exchange.send_response(200, {{"Content-Length", "2"}}, "ok");
  });
  HttpClient client("127.0.0.1", server.port);
  for (int i = 0; i < 3; ++i) {
    auto response = client.start(get(), short_timeouts());
    REQUIRE(response);
    CHECK(response->read_all(100).value() == "ok");
    CHECK(response->fd() == -1); // back in the pool
    CHECK(client.idle_connections() == 1);
  }
  std::lock_guard lock(mutex);
  REQUIRE(peers.size() == 3);
  CHECK(std::set<std::string>(peers.begin(), peers.end()).size() == 1);
}

TEST_CASE("HttpClient: a chunked stream is read piece by piece") {
  std::promise<void> go_on;
  std::shared_future<void> go_on_seen = go_on.get_future().share();
  TestServer server([&](const HttpRequest&, Exchange& exchange) {
    exchange.begin_chunked(200, {{"Transfer-Encoding", "chunked"}});
    exchange.send_chunk("first");
    go_on_seen.wait_for(k_patience); // the client has read the first piece
    exchange.send_chunk("second");
    exchange.send_chunk("third");
    exchange.end_chunked();
  });
  HttpClient client("127.0.0.1", server.port);
  auto response = client.start(get(), short_timeouts());
  REQUIRE(response);
  std::string out;
  REQUIRE(response->read(out).value());
  CHECK(out == "first");
  go_on.set_value();
  while (response->read(out).value()) {
  }
  CHECK(out == "firstsecondthird");
  CHECK(!response->read(out).value()); // stays ended
  CHECK(client.idle_connections() == 1);
}

TEST_CASE("HttpClient: a body delimited by the close") {
  RawServer server([](int fd, int) {
    if (read_request(fd)) {
      send_text(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end");
    }
  });
  HttpClient client("127.0.0.1", server.port);
  auto response = client.start(get(), short_timeouts());
  REQUIRE(response);
  CHECK(response->read_all(100).value() == "until the end");
  CHECK(client.idle_connections() == 0);
}

TEST_CASE("HttpClient: HEAD and 1xx heads") {
  TestServer server([](const HttpRequest& request, Exchange& exchange) {
    if (request.method == "HEAD") {
      exchange.send_response(200, {{"Content-Length", "5"}}, "");
    } else {
      exchange.send_raw("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\n\r\n");
      exchange.send_response(200, {{"Content-Length", "4"}}, "done");
    }
  });
  HttpClient client("127.0.0.1", server.port);
  ClientRequest head = get();
  head.method = "HEAD";
  auto response = client.start(head, short_timeouts());
  REQUIRE(response);
  CHECK(response->head().header("Content-Length") == "5");
  std::string out;
  CHECK(!response->read(out).value());
  CHECK(client.idle_connections() == 1);
  response = client.start(get(), short_timeouts());
  REQUIRE(response);
  CHECK(response->head().status == 200);
  CHECK(response->read_all(100).value() == "done");
}

TEST_CASE("HttpClient: a pooled connection the server has closed is replaced") {
  std::promise<void> first_closed;
  RawServer server([&](int fd, int index) {
    if (read_request(fd)) {
      send_text(fd, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n" + std::to_string(index));
    }
    if (index == 0) {
      ::shutdown(fd, SHUT_RDWR); // the server's keep-alive timeout, as it were
      first_closed.set_value();
    } else {
      wait_closed(fd);
    }
  });
  HttpClient client("127.0.0.1", server.port);
  CHECK(client.start(get(), short_timeouts())->read_all(10).value() == "0");
  CHECK(client.idle_connections() == 1);
  REQUIRE(first_closed.get_future().wait_for(k_patience) == std::future_status::ready);
  auto second = client.start(get(), short_timeouts());
  REQUIRE(second);
  CHECK(second->read_all(10).value() == "1");
  CHECK(server.accepted() == 2);
}

TEST_CASE("HttpClient: a reused connection closed before any response byte is retried once") {
  std::atomic<int> requests{0};
  RawServer server([&](int fd, int index) {
    RequestParser parser;
    if (!read_request(fd, parser)) {
      return;
    }
    ++requests;
    if (index == 0) {
      send_text(fd, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst");
      if (read_request(fd, parser)) {
        ++requests; // read it, then close without answering (a keep-alive race)
      }
      return;
    }
    send_text(fd, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nretry");
    wait_closed(fd);
  });
  HttpClient client("127.0.0.1", server.port);
  CHECK(client.start(get(), short_timeouts())->read_all(10).value() == "first");
  ClientRequest post;
  post.target = "/again";
  post.body = "payload";
  auto response = client.start(post, short_timeouts());
  REQUIRE(response);
  CHECK(response->read_all(10).value() == "retry");
  CHECK(server.accepted() == 2);
  CHECK(requests.load() == 3);
}

TEST_CASE("HttpClient: a fresh connection closed before any byte is an error, not retried") {
  RawServer server([](int fd, int) { read_request(fd); });
  HttpClient client("127.0.0.1", server.port);
  auto response = client.start(get(), short_timeouts());
  REQUIRE(!response);
  CHECK(response.error().kind == ErrorKind::connect);
  CHECK(response.error().message ==
        peer_of(server.port) + " closed the connection before sending a response");
  CHECK(server.accepted() == 1);
}

TEST_CASE("HttpClient: connect refused, and names with several addresses") {
  // A bound socket that does not listen refuses connections.
  const int fd = ask::core::platform::socket_cloexec(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const int port = ntohs(addr.sin_port);
  HttpClient client("127.0.0.1", port);
  auto response = client.start(get(), short_timeouts());
  REQUIRE(!response);
  CHECK(response.error().kind == ErrorKind::connect);
  CHECK(response.error().message == "connect to " + peer_of(port) + ": Connection refused");
  HttpClient by_name("localhost", port);
  response = by_name.start(get(), short_timeouts());
  REQUIRE(!response);
  CHECK(response.error().kind == ErrorKind::connect);
  CHECK(contains(response.error().message, "connect to localhost:" + std::to_string(port)));
  ::close(fd);

  // "localhost" may resolve to ::1 first: the client goes on to 127.0.0.1.
  TestServer server([](const HttpRequest&, Exchange& exchange) {
    exchange.send_response(200, {{"Content-Length", "2"}}, "ok");
  });
  HttpClient local("localhost", server.port);
  auto ok = local.start(get(), short_timeouts());
  REQUIRE(ok);
  CHECK(ok->read_all(10).value() == "ok");
}

TEST_CASE("HttpClient: connect timeout") {
  // A listener with a full accept queue drops SYNs, so a connect hangs.
  const int listener = ask::core::platform::socket_cloexec(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(listener, 0) == 0);
  socklen_t len = sizeof addr;
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
  std::vector<int> fillers;
  for (int i = 0; i < 3; ++i) {
    fillers.push_back(ask::core::platform::socket_cloexec(AF_INET, SOCK_STREAM, 0, true));
    // Non-blocking: 0 or EINPROGRESS, and either way it takes a place in the backlog.
    (void)::connect(fillers.back(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  }
  HttpClient client("127.0.0.1", ntohs(addr.sin_port));
  ClientTimeouts timeouts = short_timeouts();
  timeouts.connect = 200ms;
  const auto before = Clock::now();
  auto response = client.start(get(), timeouts);
  const auto took = Clock::now() - before;
  REQUIRE(!response);
  CHECK(response.error().kind == ErrorKind::timeout);
  CHECK(response.error().message ==
        "connect to " + peer_of(ntohs(addr.sin_port)) + " timed out after 200ms");
  CHECK(took >= 200ms);
  CHECK(took < 3s);
  for (int fd : fillers) {
    ::close(fd);
  }
  ::close(listener);
}

TEST_CASE("HttpClient: first-byte timeout closes the connection") {
  std::promise<bool> closed;
  RawServer server([&](int fd, int) {
    read_request(fd);
    closed.set_value(wait_closed(fd));
  });
  HttpClient client("127.0.0.1", server.port);
  ClientTimeouts timeouts = short_timeouts();
  timeouts.first_byte = 150ms;
  const auto before = Clock::now();
  auto response = client.start(get(), timeouts);
  const auto took = Clock::now() - before;
  REQUIRE(!response);
  CHECK(response.error().kind == ErrorKind::timeout);
  CHECK(response.error().message == "no first byte from " + peer_of(server.port) + " within 150ms");
  CHECK(took >= 150ms);
  CHECK(took < 3s);
  auto seen = closed.get_future();
  REQUIRE(ready_within(seen, k_patience));
  CHECK(seen.get());
}

TEST_CASE("HttpClient: idle timeout and the overall deadline end a stalled body") {
  std::promise<bool> closed;
  RawServer server([&](int fd, int index) {
    if (read_request(fd)) {
      send_text(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\none\r\n");
      const bool was_closed = wait_closed(fd);
      if (index == 0) {
        closed.set_value(was_closed);
      }
    }
  });
  HttpClient client("127.0.0.1", server.port);
  SUBCASE("idle") {
    ClientTimeouts timeouts = short_timeouts();
    timeouts.idle = 150ms;
    auto response = client.start(get(), timeouts);
    REQUIRE(response);
    std::string out;
    CHECK(response->read(out).value());
    CHECK(out == "one");
    const auto before = Clock::now();
    auto more = response->read(out);
    const auto took = Clock::now() - before;
    REQUIRE(!more);
    CHECK(more.error().kind == ErrorKind::timeout);
    CHECK(more.error().message ==
          "no data from " + peer_of(server.port) + " for 150ms (idle timeout)");
    CHECK(took >= 150ms);
    CHECK(took < 3s);
    CHECK(response->fd() == -1);
    CHECK(response->read(out).error().kind == ErrorKind::timeout); // stays failed
  }
  SUBCASE("deadline") {
    ClientTimeouts timeouts = short_timeouts();
    timeouts.deadline = Clock::now() + 300ms;
    auto response = client.start(get(), timeouts);
    REQUIRE(response);
    std::string out;
    CHECK(response->read(out).value());
    auto more = response->read(out);
    REQUIRE(!more);
    CHECK(more.error().kind == ErrorKind::timeout);
    CHECK(more.error().message ==
          "request to " + peer_of(server.port) + " passed its deadline while reading the body");
    CHECK(Clock::now() >= *timeouts.deadline);
    CHECK(Clock::now() < *timeouts.deadline + 3s);
  }
  auto seen = closed.get_future();
  REQUIRE(ready_within(seen, k_patience));
  CHECK(seen.get());
}

TEST_CASE("HttpClient: a deadline shorter than the first-byte timeout wins") {
  RawServer server([](int fd, int) {
    read_request(fd);
    wait_closed(fd);
  });
  HttpClient client("127.0.0.1", server.port);
  ClientTimeouts timeouts = short_timeouts();
  timeouts.deadline = Clock::now() + 150ms;
  auto response = client.start(get(), timeouts);
  REQUIRE(!response);
  CHECK(response.error().kind == ErrorKind::timeout);
  CHECK(response.error().message == "request to " + peer_of(server.port) +
                                        " passed its deadline while waiting for the response");
  timeouts.deadline = Clock::now();
  response = client.start(get(), timeouts);
  REQUIRE(!response);
  CHECK(response.error().message ==
        "request to " + peer_of(server.port) + " passed its deadline before it was sent");
  CHECK(server.accepted() == 1);
}

TEST_CASE("HttpClient: the Watch's client socket cancels a pending read") {
  std::promise<bool> closed;
  RawServer server([&](int fd, int) {
    if (read_request(fd)) {
      send_text(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\none\r\n");
      closed.set_value(wait_closed(fd));
    }
  });
  int pair[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == 0);
  HttpClient client("127.0.0.1", server.port);
  ClientTimeouts timeouts = short_timeouts();
  timeouts.idle = 30s;
  auto response = client.start(get(), timeouts, Watch{pair[0], -1, {}});
  REQUIRE(response);
  std::string out;
  CHECK(response->read(out).value());
  const auto before = Clock::now();
  std::thread client_leaves([&] { ::close(pair[1]); });
  auto more = response->read(out);
  const auto took = Clock::now() - before;
  client_leaves.join();
  REQUIRE(!more);
  CHECK(more.error().kind == ErrorKind::cancelled);
  CHECK(more.error().message ==
        "request to " + peer_of(server.port) + " cancelled: the client went away");
  CHECK(took < 3s);
  CHECK(response->fd() == -1);
  auto seen = closed.get_future();
  REQUIRE(ready_within(seen, k_patience)); // the backend sees its connection close
  CHECK(seen.get());
  ::close(pair[0]);
}

TEST_CASE("HttpClient: unread bytes from the Watch's client are not its hang-up") {
  // askd's client may pipeline its next request while this one waits upstream. The portable
  // path sees those bytes as POLLIN (core/platform.h peer_hung_up): not a cancellation.
  std::promise<void> go;
  RawServer server([&](int fd, int) {
    if (read_request(fd)) {
      go.get_future().wait(); // answers once the client's bytes are there
      send_text(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    }
  });
  int pair[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == 0);
  HttpClient client("127.0.0.1", server.port);
  constexpr std::string_view k_next = "GET /next HTTP/1.1\r\n\r\n";
  ssize_t written = 0;
  std::thread pipeliner([&] {
    written = ::write(pair[1], k_next.data(), k_next.size());
    go.set_value();
  });
  auto response = client.start(get(), short_timeouts(), Watch{pair[0], -1, {}});
  pipeliner.join();
  CHECK(written == static_cast<ssize_t>(k_next.size()));
  REQUIRE(response);
  CHECK(response->head().status == 200);
  CHECK(response->read_all(1024).value() == "ok");
  ::close(pair[0]);
  ::close(pair[1]);
}

TEST_CASE("HttpClient: the Watch's stop pipe cancels waiting for the head") {
  std::promise<bool> closed;
  RawServer server([&](int fd, int) {
    read_request(fd);
    closed.set_value(wait_closed(fd));
  });
  int stop[2];
  REQUIRE(::pipe(stop) == 0);
  HttpClient client("127.0.0.1", server.port);
  ClientTimeouts timeouts = short_timeouts();
  timeouts.first_byte = 30s;
  std::thread stopper([&] { [[maybe_unused]] ssize_t n = ::write(stop[1], "x", 1); });
  const auto before = Clock::now();
  auto response = client.start(get(), timeouts, Watch{-1, stop[0], {}});
  const auto took = Clock::now() - before;
  stopper.join();
  REQUIRE(!response);
  CHECK(response.error().kind == ErrorKind::cancelled);
  CHECK(contains(response.error().message, "askd is stopping"));
  CHECK(took < 3s);
  auto seen = closed.get_future();
  REQUIRE(ready_within(seen, k_patience));
  CHECK(seen.get());
  ::close(stop[0]);
  ::close(stop[1]);
}

TEST_CASE("HttpClient: abort() or destroying a stream mid-body closes the connection") {
  std::promise<bool> closed[2];
  RawServer server([&](int fd, int index) {
    if (read_request(fd)) {
      send_text(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
      closed[index].set_value(wait_closed(fd));
    }
  });
  HttpClient client("127.0.0.1", server.port);
  {
    auto response = client.start(get(), short_timeouts());
    REQUIRE(response);
    std::string out;
    CHECK(response->read(out).value());
    CHECK(out == "0123456789");
    response->abort();
    response->abort(); // idempotent
    CHECK(response->fd() == -1);
    CHECK(response->read(out).error().kind == ErrorKind::cancelled);
    auto seen = closed[0].get_future();
    REQUIRE(ready_within(seen, k_patience));
    CHECK(seen.get());
  }
  {
    auto response = client.start(get(), short_timeouts());
    REQUIRE(response);
    ResponseStream moved = std::move(*response);
    std::string out;
    CHECK(moved.read(out).value());
  } // destroyed mid-body
  auto seen = closed[1].get_future();
  REQUIRE(ready_within(seen, k_patience));
  CHECK(seen.get());
  CHECK(client.idle_connections() == 0);
}

TEST_CASE("HttpClient: malformed heads are upstream_status 502 errors") {
  struct Case {
    std::string response;
    std::string message;
  };
  const std::string many_headers = [] {
    std::string s = "HTTP/1.1 200 OK\r\n";
    for (int i = 0; i <= 100; ++i) {
      s += "X-" + std::to_string(i) + ": v\r\n";
    }
    return s + "\r\n";
  }();
  const Case cases[] = {
      {"SSH-2.0-OpenSSH_9.2\r\n", "not an HTTP response"},
      {"HTTP/1.1 2OO OK\r\n\r\n", "bad status line"},
      {"HTTP/1.1 200 OK\r\nX: " + std::string(70 * 1024, 'a') + "\r\n\r\n",
       "response head larger than 65536 bytes"},
      {many_headers, "more than 100 header fields"},
      {"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n", "bad Content-Length"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 184467440737095516160\r\n\r\n", "bad Content-Length"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.message);
    RawServer server(answer(c.response));
    HttpClient client("127.0.0.1", server.port);
    auto response = client.start(get(), short_timeouts());
    REQUIRE(!response);
    CHECK(response.error().kind == ErrorKind::upstream_status);
    CHECK(response.error().http_status == 502);
    CHECK(response.error().message.starts_with("malformed response from " + peer_of(server.port) +
                                               ": " + c.message));
  }
}

TEST_CASE("HttpClient: bad chunk framing fails the read") {
  RawServer server(answer("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "3\r\nabc\r\nnot-hex\r\n"));
  HttpClient client("127.0.0.1", server.port);
  auto response = client.start(get(), short_timeouts());
  REQUIRE(response);
  std::string out;
  CHECK(response->read(out).value()); // what came before the bad framing is delivered
  CHECK(out == "abc");
  auto more = response->read(out);
  REQUIRE(!more);
  CHECK(more.error().kind == ErrorKind::upstream_status);
  CHECK(more.error().http_status == 502);
  CHECK(contains(more.error().message,
                 "malformed response from " + peer_of(server.port) + ": bad chunk size line"));
  CHECK(response->fd() == -1);
}

TEST_CASE("HttpClient: a body cut short is a connect error") {
  SUBCASE("Content-Length") {
    RawServer server([](int fd, int) {
      if (read_request(fd)) {
        send_text(fd, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345");
      }
    });
    HttpClient client("127.0.0.1", server.port);
    auto response = client.start(get(), short_timeouts());
    REQUIRE(response);
    auto body = response->read_all(100);
    REQUIRE(!body);
    CHECK(body.error().kind == ErrorKind::connect);
    CHECK(body.error().message == peer_of(server.port) + " closed the connection mid-body");
  }
  SUBCASE("chunked") {
    RawServer server([](int fd, int) {
      if (read_request(fd)) {
        send_text(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab");
      }
    });
    HttpClient client("127.0.0.1", server.port);
    auto body = client.start(get(), short_timeouts())->read_all(100);
    REQUIRE(!body);
    CHECK(body.error().message == peer_of(server.port) + " closed the connection mid-body");
  }
  SUBCASE("head") {
    RawServer server([](int fd, int) {
      if (read_request(fd)) {
        send_text(fd, "HTTP/1.1 200 OK\r\nContent-");
      }
    });
    HttpClient client("127.0.0.1", server.port);
    auto response = client.start(get(), short_timeouts());
    REQUIRE(!response);
    CHECK(response.error().kind == ErrorKind::connect);
    CHECK(response.error().message == peer_of(server.port) + " closed the connection mid-head");
  }
}

TEST_CASE("HttpClient: read_all over its limit is a 502 and closes the connection") {
  TestServer server([](const HttpRequest&, Exchange& exchange) {
    exchange.send_response(200, {{"Content-Length", "200000"}}, std::string(200000, 'x'));
  });
  HttpClient client("127.0.0.1", server.port);
  auto response = client.start(get(), short_timeouts());
  REQUIRE(response);
  auto body = response->read_all(1000);
  REQUIRE(!body);
  CHECK(body.error().kind == ErrorKind::upstream_status);
  CHECK(body.error().http_status == 502);
  CHECK(body.error().message ==
        "response from " + peer_of(server.port) + " larger than 1000 bytes");
  CHECK(response->fd() == -1);
  CHECK(client.idle_connections() == 0);
  CHECK(client.start(get(), short_timeouts())->read_all(200000).value().size() == 200000);
  CHECK(client.idle_connections() == 1);
}

TEST_CASE("HttpClient: requests that cannot be sent as they are") {
  HttpClient client("127.0.0.1", 1); // never reached
  ClientRequest injected = get();
  injected.headers = {{"X-Evil", "a\r\nX-Injected: yes"}};
  CHECK(client.start(injected, short_timeouts()).error().kind == ErrorKind::bad_request);
  CHECK(client.start(get("/a b"), short_timeouts()).error().kind == ErrorKind::bad_request);
  CHECK(client.start(get(""), short_timeouts()).error().kind == ErrorKind::bad_request);
  ClientRequest length = get();
  length.headers = {{"Content-Length", "3"}};
  CHECK(client.start(length, short_timeouts()).error().kind == ErrorKind::bad_request);
}

TEST_CASE("HttpClient: pool bounds, expiry, Connection: close, and streams outliving it") {
  std::mutex mutex;
  std::set<std::string> peers;
  TestServer server([&](const HttpRequest&, Exchange& exchange) {
    {
      std::lock_guard lock(mutex);
      peers.insert(exchange.peer());
    }
    exchange.send_response(200, {{"Content-Length", "2"}}, "ok");
  });
  auto connections = [&] {
    std::lock_guard lock(mutex);
    return peers.size();
  };
  SUBCASE("an idle timeout of zero keeps nothing") {
    ClientOptions options;
    options.idle_timeout = 0s;
    HttpClient client("127.0.0.1", server.port, options);
    CHECK(client.start(get(), short_timeouts())->read_all(10).value() == "ok");
    CHECK(client.idle_connections() == 0);
    CHECK(client.start(get(), short_timeouts())->read_all(10).value() == "ok");
    CHECK(connections() == 2);
  }
  SUBCASE("at most max_idle_connections are kept") {
    ClientOptions options;
    options.max_idle_connections = 1;
    HttpClient client("127.0.0.1", server.port, options);
    auto a = client.start(get(), short_timeouts());
    auto b = client.start(get(), short_timeouts());
    REQUIRE(a);
    REQUIRE(b);
    CHECK(a->fd() != b->fd());
    CHECK(a->read_all(10).value() == "ok");
    CHECK(b->read_all(10).value() == "ok");
    CHECK(client.idle_connections() == 1);
  }
  SUBCASE("a request that asks to close is not pooled") {
    HttpClient client("127.0.0.1", server.port);
    ClientRequest request = get();
    request.headers = {{"Connection", "close"}};
    CHECK(client.start(request, short_timeouts())->read_all(10).value() == "ok");
    CHECK(client.idle_connections() == 0);
  }
  SUBCASE("a stream outlives its client") {
    auto client = std::make_unique<HttpClient>("127.0.0.1", server.port);
    auto response = client->start(get(), short_timeouts());
    REQUIRE(response);
    client.reset();
    CHECK(response->read_all(10).value() == "ok");
  }
}

TEST_CASE("HttpClient: concurrent requests share the pool safely") {
  TestServer server([](const HttpRequest& request, Exchange& exchange) {
    exchange.send_response(200, {{"Content-Length", std::to_string(request.body.size())}},
                           request.body);
  });
  HttpClient client("127.0.0.1", server.port);
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        ClientRequest request;
        request.target = "/echo";
        request.body = std::to_string(t) + "-" + std::to_string(i);
        auto response = client.start(request, short_timeouts());
        if (response && response->read_all(100).value_or("") == request.body) {
          ++good;
        }
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  CHECK(good.load() == 100);
  CHECK(client.idle_connections() <= 4);
  CHECK(client.idle_connections() >= 1);
}

// ---- HTTPS ----------------------------------------------------------------------------------

namespace {

// A self-signed certificate for DNS name "localhost" only, made at test time, written to a
// PEM file (the client's ca_file), and a server context that presents it.
class TestCertificate {
public:
  TestCertificate() {
    m_key = EVP_EC_gen("P-256");
    REQUIRE(m_key != nullptr);
    m_cert = X509_new();
    X509_set_version(m_cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(m_cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(m_cert), -60);
    X509_gmtime_adj(X509_getm_notAfter(m_cert), 3600);
    X509_set_pubkey(m_cert, m_key);
    X509_NAME* name = X509_get_subject_name(m_cert);
    const std::string cn = "localhost";
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
    X509_set_issuer_name(m_cert, name);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, m_cert, m_cert, nullptr, nullptr, 0);
    X509_EXTENSION* san = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, "DNS:localhost");
    REQUIRE(san != nullptr);
    X509_add_ext(m_cert, san, -1);
    X509_EXTENSION_free(san);
    REQUIRE(X509_sign(m_cert, m_key, EVP_sha256()) > 0);

    char path[] = "/tmp/ask-net-test-ca-XXXXXX";
    const int fd = ::mkstemp(path);
    REQUIRE(fd >= 0);
    FILE* file = ::fdopen(fd, "w");
    PEM_write_X509(file, m_cert);
    std::fclose(file);
    ca_file = path;

    server = SSL_CTX_new(TLS_server_method());
    REQUIRE(SSL_CTX_use_certificate(server, m_cert) == 1);
    REQUIRE(SSL_CTX_use_PrivateKey(server, m_key) == 1);
  }
  ~TestCertificate() {
    ::unlink(ca_file.c_str());
    SSL_CTX_free(server);
    X509_free(m_cert);
    EVP_PKEY_free(m_key);
  }
  TestCertificate(const TestCertificate&) = delete;
  TestCertificate& operator=(const TestCertificate&) = delete;

  std::string ca_file;
  SSL_CTX* server = nullptr;

private:
  EVP_PKEY* m_key = nullptr;
  X509* m_cert = nullptr;
};

// Serves HTTPS on each connection: the handshake, then requests until the client closes.
// "/big" answers 100000 bytes, "/close" and "/cut" end the connection (see below), anything
// else answers "sni=<server name> <target>".
RawServer::Script tls_script(SSL_CTX* context, std::atomic<int>& handshakes) {
  return [context, &handshakes](int fd, int) {
    timeval patience{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &patience, sizeof patience);
    SSL* ssl = SSL_new(context);
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) == 1) {
      ++handshakes;
      RequestParser parser;
      for (bool open = true; open;) {
        while (open && parser.state() == RequestParser::State::incomplete) {
          char buffer[4096];
          const int n = SSL_read(ssl, buffer, sizeof buffer);
          open = n > 0;
          if (open) {
            parser.feed(std::string_view(buffer, static_cast<std::size_t>(n)));
          }
        }
        if (!open || parser.state() != RequestParser::State::complete) {
          break;
        }
        const HttpRequest request = parser.take();
        if (request.target == "/close" || request.target == "/cut") {
          // Ends the connection without close_notify, after a body delimited by the close or
          // cut short.
          const std::string reply = request.target == "/close"
                                        ? "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nbye"
                                        : "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf";
          SSL_write(ssl, reply.data(), static_cast<int>(reply.size()));
          break;
        }
        const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
        const std::string body = request.target == "/big"
                                     ? std::string(100000, 'b')
                                     : "sni=" + std::string(sni ? sni : "-") + " " + request.target;
        const std::string response =
            "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
        open = SSL_write(ssl, response.data(), static_cast<int>(response.size())) > 0;
      }
    }
    SSL_free(ssl);
  };
}

ClientOptions tls_options(std::string ca_file) {
  ClientOptions options;
  options.tls = true;
  options.ca_file = std::move(ca_file);
  return options;
}

} // namespace

TEST_CASE("HttpClient: HTTPS with SNI, certificate verification and keep-alive") {
  TestCertificate certificate;
  std::atomic<int> handshakes{0};
  RawServer server(tls_script(certificate.server, handshakes));
  HttpClient client("localhost", server.port, tls_options(certificate.ca_file));
  auto response = client.start(get("/a"), short_timeouts());
  REQUIRE(response);
  CHECK(response->read_all(1000).value() == "sni=localhost /a");
  response = client.start(get("/big"), short_timeouts());
  REQUIRE(response);
  CHECK(response->read_all(1 << 20).value() == std::string(100000, 'b'));
  response = client.start(get("/b"), short_timeouts());
  REQUIRE(response);
  CHECK(response->read_all(1000).value() == "sni=localhost /b");
  CHECK(handshakes.load() == 1);
  CHECK(server.accepted() == 1);
  response = client.start(get("/close"), short_timeouts());
  REQUIRE(response);
  CHECK(response->read_all(1000).value() == "bye");
  response = client.start(get("/cut"), short_timeouts());
  REQUIRE(response);
  auto cut = response->read_all(1000);
  REQUIRE(!cut);
  CHECK(cut.error().message ==
        "localhost:" + std::to_string(server.port) + " closed the connection mid-body");
  CHECK(handshakes.load() == 2); // "/close" went on the first connection
}

TEST_CASE("HttpClient: HTTPS refuses certificates it cannot verify") {
  TestCertificate certificate;
  std::atomic<int> handshakes{0};
  RawServer server(tls_script(certificate.server, handshakes));
  SUBCASE("the name does not match") {
    HttpClient client("127.0.0.1", server.port, tls_options(certificate.ca_file));
    auto response = client.start(get(), short_timeouts());
    REQUIRE(!response);
    CHECK(response.error().kind == ErrorKind::connect);
    CHECK(response.error().message.starts_with("TLS handshake with " + peer_of(server.port) +
                                               ": certificate verify failed"));
    CHECK(contains(response.error().message, "for address 127.0.0.1"));
  }
  SUBCASE("not signed by a trusted authority") {
    HttpClient client("localhost", server.port, tls_options(""));
    auto response = client.start(get(), short_timeouts());
    REQUIRE(!response);
    CHECK(response.error().kind == ErrorKind::connect);
    CHECK(contains(response.error().message, "certificate verify failed"));
  }
  CHECK(handshakes.load() == 0);
}

TEST_CASE("HttpClient: HTTPS setup and handshake failures") {
  SUBCASE("a CA file that cannot be read") {
    HttpClient client("localhost", 1, tls_options("/nonexistent/ca.pem"));
    auto response = client.start(get(), short_timeouts());
    REQUIRE(!response);
    CHECK(response.error().kind == ErrorKind::connect);
    CHECK(contains(response.error().message, "cannot load CA file /nonexistent/ca.pem"));
  }
  SUBCASE("a server that never answers the handshake") {
    std::promise<bool> closed;
    RawServer server([&](int fd, int) { closed.set_value(wait_closed(fd)); });
    ClientTimeouts timeouts = short_timeouts();
    timeouts.connect = 200ms;
    HttpClient client("127.0.0.1", server.port, tls_options(""));
    const auto before = Clock::now();
    auto response = client.start(get(), timeouts);
    REQUIRE(!response);
    CHECK(response.error().kind == ErrorKind::timeout);
    CHECK(response.error().message ==
          "TLS handshake with " + peer_of(server.port) + " timed out after 200ms");
    CHECK(Clock::now() - before < 3s);
    auto seen = closed.get_future();
    REQUIRE(ready_within(seen, k_patience));
    CHECK(seen.get());
  }
  SUBCASE("a server that speaks plain HTTP") {
    RawServer server([](int fd, int) {
      send_text(fd, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
      wait_closed(fd);
    });
    HttpClient client("127.0.0.1", server.port, tls_options(""));
    auto response = client.start(get(), short_timeouts());
    REQUIRE(!response);
    CHECK(response.error().kind == ErrorKind::connect);
    CHECK(response.error().message.starts_with("TLS handshake with " + peer_of(server.port)));
  }
}

TEST_CASE("HttpClient: a server that closes while the request is being sent") {
  // The server reads a little and closes with bytes unread, so the client's writes fail with
  // ECONNRESET or EPIPE (which must not raise SIGPIPE: that would end this test program).
  TestCertificate certificate;
  bool tls = false;
  SUBCASE("plain") {}
  SUBCASE("TLS") {
    tls = true;
  }
  RawServer server([&](int fd, int) {
    char buffer[100];
    if (!tls) {
      ::recv(fd, buffer, sizeof buffer, 0);
      return;
    }
    SSL* ssl = SSL_new(certificate.server);
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) == 1) {
      SSL_read(ssl, buffer, sizeof buffer);
    }
    SSL_free(ssl);
  });
  HttpClient client("localhost", server.port,
                    tls ? tls_options(certificate.ca_file) : ClientOptions{});
  ClientRequest post;
  post.target = "/upload";
  post.body = std::string(32 << 20, 'u');
  auto response = client.start(post, short_timeouts());
  REQUIRE(!response);
  CHECK(response.error().kind == ErrorKind::connect);
  CHECK(response.error().message.starts_with("send to localhost:" + std::to_string(server.port) +
                                             ": "));
}
