// net::HttpServer against raw client sockets on loopback: the deadlines on each part of a
// request, the limits per client address, the head check before the body, Expect:
// 100-continue, chunked bodies, and a client that half-closes. Deadlines are real time here
// (the server polls its sockets), kept short; every wait has a bound that fails the test.

#include "net/http_server.h"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "core/unique_fd.h"
#include "tests/support/eventually.h"

// A named namespace rather than an anonymous one: in a unity batch with http_client_test.cpp
// the helpers' names would clash.
namespace ask::net::server_test {

using namespace std::chrono_literals;
using core::UniqueFd;
using Clock = std::chrono::steady_clock;

constexpr auto k_patience = 5s; // how long a test waits for something that should happen

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

class Server {
public:
  Server(Handler handler, ServerOptions options) : m_server(std::move(handler), std::move(options)) {
    port = m_server.listen("127.0.0.1", 0).value();
    m_thread = std::thread([this] { m_server.serve(); });
  }
  ~Server() {
    m_server.stop();
    m_thread.join();
  }
  ServerStats stats() const { return m_server.stats(); }
  int port = 0;

private:
  HttpServer m_server;
  std::thread m_thread;
};

// A client socket to 127.0.0.1:port, from `source` (any 127.x.y.z address is loopback on
// Linux: a second "peer" for the per-address limits).
UniqueFd connect_to(int port, const char* source = "127.0.0.1") {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(fd.valid());
  sockaddr_in from{};
  from.sin_family = AF_INET;
  ::inet_pton(AF_INET, source, &from.sin_addr);
  REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&from), sizeof from) == 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<std::uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  REQUIRE(::connect(fd.get(), reinterpret_cast<sockaddr*>(&to), sizeof to) == 0);
  return fd;
}

void send_text(int fd, std::string_view text) {
  REQUIRE(::send(fd, text.data(), text.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(text.size()));
}

// What the server sends until it closes, or until `until` is in the text, or k_patience.
struct Received {
  std::string text;
  bool closed = false; // the server closed (FIN or reset)
};

Received receive(int fd, std::string_view until = {}) {
  Received out;
  const auto end = Clock::now() + k_patience;
  while (Clock::now() < end) {
    if (!until.empty() && contains(out.text, until)) {
      return out;
    }
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) {
      continue;
    }
    char buffer[4096];
    ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) {
      out.closed = true;
      return out;
    }
    out.text.append(buffer, static_cast<std::size_t>(n));
  }
  return out;
}

// The handler of most tests: 200 with the request body echoed.
void echo(const HttpRequest& request, Exchange& exchange) {
  exchange.send_response(200, {{"Content-Length", std::to_string(request.body.size())}},
                         request.body);
}

ServerOptions quick() {
  ServerOptions options;
  options.deadlines.head = 300ms;
  options.deadlines.body = 300ms;
  options.deadlines.idle = 300ms;
  return options;
}

// Polls `done` until it holds or k_patience has passed.
template <class Pred>
bool eventually(Pred done) {
  return testing::eventually(done, k_patience);
}

TEST_CASE("HttpServer: a head that never ends is answered 408 at its deadline, trickled or not") {
  Server server(echo, quick());
  {
    UniqueFd c = connect_to(server.port);
    send_text(c.get(), "GET / HTTP/1.1\r\nHo");
    Received r = receive(c.get());
    CHECK(r.closed);
    CHECK(r.text.starts_with("HTTP/1.1 408 "));
  }
  {
    // One byte every 50 ms keeps each read short of a timeout, but not the whole head.
    UniqueFd c = connect_to(server.port);
    const auto start = Clock::now();
    const std::string head = "GET / HTTP/1.1\r\nX-Slow: " + std::string(200, 'a');
    std::string got;
    for (char ch : head) {
      if (::send(c.get(), &ch, 1, MSG_NOSIGNAL) != 1) {
        break;
      }
      pollfd p{c.get(), POLLIN, 0};
      if (::poll(&p, 1, 50) > 0) {
        break; // the server answered
      }
    }
    Received r = receive(c.get());
    CHECK(r.text.starts_with("HTTP/1.1 408 "));
    CHECK(Clock::now() - start < 200 * 50ms); // well before the whole head was sent
  }
  CHECK(server.stats().head_timeouts == 2);
}

TEST_CASE("HttpServer: a body slower than the minimum rate is answered 408") {
  ServerOptions options = quick();
  options.deadlines.body_min_rate = 1 << 20;
  Server server(echo, options);
  UniqueFd c = connect_to(server.port);
  send_text(c.get(), "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789");
  Received r = receive(c.get());
  CHECK(r.closed);
  CHECK(r.text.starts_with("HTTP/1.1 408 "));
  CHECK(contains(r.text, "bytes/s"));
  CHECK(server.stats().body_timeouts == 1);
  CHECK(server.stats().body_bytes_buffered == 0);
}

TEST_CASE("HttpServer: an idle connection is closed without an answer") {
  Server server(echo, quick());
  UniqueFd c = connect_to(server.port);
  send_text(c.get(), "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  Received first = receive(c.get(), "\r\n\r\n");
  CHECK(first.text.starts_with("HTTP/1.1 200 "));
  Received rest = receive(c.get());
  CHECK(rest.closed);
  CHECK(rest.text.empty());
  CHECK(server.stats().idle_timeouts == 1);
}

TEST_CASE("HttpServer: one address's connections cannot take another's") {
  ServerOptions options;
  options.peers.max_connections = 3;
  Server server(echo, options);
  std::vector<UniqueFd> idle;
  for (int i = 0; i < 3; ++i) {
    idle.push_back(connect_to(server.port, "127.0.0.2"));
  }
  // The fourth from that address is answered (not reset) even though it sends a request
  // after the answer is out.
  UniqueFd over = connect_to(server.port, "127.0.0.2");
  send_text(over.get(), "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello");
  Received refused = receive(over.get());
  CHECK(refused.text.starts_with("HTTP/1.1 503 "));
  CHECK(contains(refused.text, "too many open connections from 127.0.0.2"));
  CHECK(refused.closed);
  // Another address is served.
  UniqueFd other = connect_to(server.port, "127.0.0.1");
  send_text(other.get(), "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nok");
  CHECK(receive(other.get(), "\r\n\r\nok").text.starts_with("HTTP/1.1 200 "));
  const ServerStats stats = server.stats();
  CHECK(stats.rejected_peer == 1);
  CHECK(stats.open_connections == 4);
}

TEST_CASE("HttpServer: the head check refuses before a byte of the body is read") {
  std::atomic<int> handled{0};
  ServerOptions options;
  options.head_check = [](const HttpRequest& head,
                          const std::string& peer) -> std::optional<Rejection> {
    CHECK(peer.starts_with("127.0.0.1:"));
    if (head.header("Authorization") == "Bearer good") {
      return std::nullopt;
    }
    return Rejection{401, {{"WWW-Authenticate", "Bearer"}}, "no"};
  };
  Server server(
      [&](const HttpRequest& request, Exchange& exchange) {
        ++handled;
        echo(request, exchange);
      },
      options);
  {
    // A 30 MiB upload without a key: the answer comes after the head, the body is not read.
    UniqueFd c = connect_to(server.port);
    send_text(c.get(), "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 31457280\r\n\r\n");
    Received r = receive(c.get(), "\r\n\r\nno");
    CHECK(r.text.starts_with("HTTP/1.1 401 "));
    CHECK(contains(r.text, "WWW-Authenticate: Bearer\r\n"));
    CHECK(contains(r.text, "Connection: close\r\n"));
    CHECK(server.stats().body_bytes_buffered == 0);
  }
  {
    UniqueFd c = connect_to(server.port);
    send_text(c.get(), "POST / HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer good\r\n"
                       "Content-Length: 2\r\n\r\nhi");
    CHECK(receive(c.get(), "\r\n\r\nhi").text.starts_with("HTTP/1.1 200 "));
  }
  CHECK(handled == 1);
  CHECK(server.stats().rejected_head == 1);
}

TEST_CASE("HttpServer: Expect: 100-continue is answered before the body, and only then") {
  ServerOptions options;
  options.head_check = [](const HttpRequest& head, const std::string&) -> std::optional<Rejection> {
    if (head.path == "/secret") {
      return Rejection{401, {}, ""};
    }
    return std::nullopt;
  };
  Server server(echo, options);
  {
    UniqueFd c = connect_to(server.port);
    send_text(c.get(), "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: "
                       "5\r\n\r\n");
    Received interim = receive(c.get(), "\r\n\r\n");
    CHECK(interim.text == "HTTP/1.1 100 Continue\r\n\r\n");
    send_text(c.get(), "hello");
    CHECK(receive(c.get(), "hello").text.starts_with("HTTP/1.1 200 "));
  }
  {
    // Refused: no 100, the final answer at once.
    UniqueFd c = connect_to(server.port);
    send_text(c.get(), "POST /secret HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
                       "Content-Length: 5\r\n\r\n");
    CHECK(receive(c.get(), "\r\n\r\n").text.starts_with("HTTP/1.1 401 "));
  }
  {
    UniqueFd c = connect_to(server.port);
    send_text(c.get(), "POST / HTTP/1.1\r\nHost: a\r\nExpect: something-else\r\n"
                       "Content-Length: 5\r\n\r\n");
    CHECK(receive(c.get(), "\r\n\r\n").text.starts_with("HTTP/1.1 417 "));
  }
  CHECK(server.stats().continues == 1);
}

TEST_CASE("HttpServer: a chunked request body reaches the handler decoded") {
  Server server(echo, {});
  UniqueFd c = connect_to(server.port);
  send_text(c.get(), "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n");
  Received r = receive(c.get(), "abcdefg");
  CHECK(r.text.starts_with("HTTP/1.1 200 "));
  CHECK(contains(r.text, "Content-Length: 7\r\n"));
}

TEST_CASE("HttpServer: malformed heads are refused at once") {
  ServerOptions options;
  options.deadlines.head = 60s; // an answer within k_patience is not the deadline's
  Server server(echo, options);
  for (const char* wire : {"GET / HTTP/1.1\r\n\r\n", "GET / HTTP/1.1\nHost: a\n"}) {
    CAPTURE(wire);
    UniqueFd c = connect_to(server.port);
    send_text(c.get(), wire);
    Received r = receive(c.get());
    CHECK(r.text.starts_with("HTTP/1.1 400 "));
    CHECK(r.closed);
  }
}

TEST_CASE("HttpServer: request bodies being read are bounded per address and in all") {
  ServerOptions options;
  options.peers.max_body_bytes = 1000;
  options.peers.max_total_body_bytes = 1500;
  Server server(echo, options);
  const std::string head = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 600\r\n\r\n";
  UniqueFd first = connect_to(server.port, "127.0.0.2");
  send_text(first.get(), head + "partial");
  // The first body's 600 bytes are counted from its head on.
  REQUIRE(eventually([&] { return server.stats().body_bytes_buffered == 600; }));
  UniqueFd second = connect_to(server.port, "127.0.0.2");
  send_text(second.get(), head);
  Received r = receive(second.get());
  CHECK(r.text.starts_with("HTTP/1.1 503 "));
  CHECK(contains(r.text, "127.0.0.2"));
  // Another address still has room within the total: 600 + 600 <= 1500.
  UniqueFd third = connect_to(server.port, "127.0.0.3");
  send_text(third.get(), head + std::string(600, 'x'));
  CHECK(receive(third.get(), "\r\n\r\nx").text.starts_with("HTTP/1.1 200 "));
  // A chunked body is counted as it comes.
  UniqueFd chunked = connect_to(server.port, "127.0.0.3");
  send_text(chunked.get(), "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "3e8\r\n" + std::string(1000, 'y') + "\r\n");
  CHECK(receive(chunked.get()).text.starts_with("HTTP/1.1 503 "));
  CHECK(server.stats().rejected_body_buffer == 2);
  send_text(first.get(), std::string(593, 'z'));
  CHECK(receive(first.get(), "zzz").text.starts_with("HTTP/1.1 200 "));
}

TEST_CASE("HttpServer: a client that half-closes after its request still gets the answer") {
  std::atomic<int> waits{0};
  Server server(
      [&](const HttpRequest& request, Exchange& exchange) {
        // Waits as askd does for an upstream: the half-close is not the client leaving.
        if (exchange.wait_for(200ms) == WaitResult::elapsed && !exchange.client_gone()) {
          ++waits;
          echo(request, exchange);
        } else {
          exchange.close_connection(false);
        }
      },
      {});
  UniqueFd c = connect_to(server.port);
  send_text(c.get(), "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi");
  REQUIRE(::shutdown(c.get(), SHUT_WR) == 0);
  Received r = receive(c.get());
  // The probe that told a half-close from a close, then the answer, then the close.
  CHECK(r.text.starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 "));
  CHECK(r.text.ends_with("\r\n\r\nhi"));
  CHECK(r.closed);
  CHECK(waits == 1);
}

TEST_CASE("HttpServer: a client that closes for good while its request waits is gone") {
  std::atomic<int> gone{0};
  std::atomic<bool> done{false};
  Server server(
      [&](const HttpRequest& request, Exchange& exchange) {
        const WaitResult w = exchange.wait_for(k_patience);
        gone += w == WaitResult::client_gone ? 1 : 0;
        done = true;
        if (w != WaitResult::client_gone) {
          echo(request, exchange);
        }
      },
      {});
  for (const char* version : {"HTTP/1.1", "HTTP/1.0"}) {
    CAPTURE(version);
    done = false;
    {
      UniqueFd c = connect_to(server.port);
      send_text(c.get(), std::string("GET / ") + version + "\r\nHost: a\r\n\r\n");
    } // closed
    CHECK(eventually([&] { return done.load(); }));
  }
  CHECK(gone == 2);
}

} // namespace ask::net::server_test
