#include "net/http_request.h"

#include <doctest/doctest.h>

using namespace ask::net;
using State = RequestParser::State;

TEST_CASE("RequestParser: a GET with headers and a query") {
  RequestParser p;
  CHECK(p.feed("GET /v1/models?x=1 HTTP/1.1\r\nHost: a\r\nX-Thing:  spaced  \r\n\r\n") ==
        State::complete);
  HttpRequest r = p.take();
  CHECK(r.method == "GET");
  CHECK(r.target == "/v1/models?x=1");
  CHECK(r.path == "/v1/models");
  CHECK(r.query == "x=1");
  CHECK(r.header("x-thing") == "spaced");
  CHECK(!r.header("missing"));
  CHECK(r.body.empty());
  CHECK(r.wants_keep_alive());
}

TEST_CASE("RequestParser: a POST body split at every byte is the same request") {
  const std::string wire = "POST /api/chat HTTP/1.1\r\nContent-Length: 13\r\nContent-Type: "
                           "application/json\r\n\r\n{\"model\":\"x\"}";
  for (std::size_t split = 0; split <= wire.size(); ++split) {
    RequestParser p;
    p.feed(wire.substr(0, split));
    CHECK(p.feed(wire.substr(split)) == State::complete);
    CHECK(p.take().body == "{\"model\":\"x\"}");
  }
}

TEST_CASE("RequestParser: pipelined requests come out one after another") {
  RequestParser p;
  p.feed(
      "GET /a HTTP/1.1\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 2\r\n\r\nhiGET /c HTTP/1.1\r\n");
  CHECK(p.take().path == "/a");
  REQUIRE(p.state() == State::complete);
  HttpRequest b = p.take();
  CHECK(b.path == "/b");
  CHECK(b.body == "hi");
  CHECK(p.state() == State::incomplete);
  CHECK(p.has_buffered_bytes());
  CHECK(p.feed("\r\n") == State::complete);
  CHECK(p.take().path == "/c");
}

TEST_CASE("RequestParser: keep-alive follows the version and the Connection header") {
  RequestParser p;
  p.feed("GET / HTTP/1.1\r\nConnection: keep-alive, close\r\n\r\n");
  CHECK(!p.take().wants_keep_alive());
  p.feed("GET / HTTP/1.0\r\n\r\n");
  CHECK(!p.take().wants_keep_alive());
  p.feed("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
  CHECK(p.take().wants_keep_alive());
}

TEST_CASE("RequestParser: malformed requests fail with the status to answer") {
  struct Case {
    const char* wire;
    int status;
  };
  const Case cases[] = {
      {"GARBAGE\r\n\r\n", 400},
      {"GET  / HTTP/1.1\r\n\r\n", 400},
      {"GET / HTTP/1.1 extra\r\n\r\n", 400},
      {"GET nopath HTTP/1.1\r\n\r\n", 400},
      {"G(T / HTTP/1.1\r\n\r\n", 400},
      {"GET / HTTP/2.0\r\n\r\n", 505},
      {"GET / FTP/1.0\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\n: empty\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nContent-Length: 12a\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nContent-Length: 2\r\ncontent-length: 3\r\n\r\nabc", 400},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 411},
  };
  for (const Case& c : cases) {
    CAPTURE(c.wire);
    RequestParser p;
    CHECK(p.feed(c.wire) == State::failed);
    CHECK(p.error_status() == c.status);
    CHECK(!p.error_message().empty());
  }
}

TEST_CASE("RequestParser: a repeated Content-Length with the same value is accepted") {
  RequestParser p;
  CHECK(p.feed("POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nhi") ==
        State::complete);
  CHECK(p.take().body == "hi");
}

TEST_CASE("RequestParser: sizes are bounded") {
  RequestLimits limits;
  limits.max_header_bytes = 64;
  limits.max_headers = 2;
  limits.max_body_bytes = 10;
  RequestParser big_head(limits);
  CHECK(big_head.feed("GET / HTTP/1.1\r\nX: " + std::string(100, 'a')) == State::failed);
  CHECK(big_head.error_status() == 431);
  RequestParser many(limits);
  CHECK(many.feed("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n") == State::failed);
  CHECK(many.error_status() == 431);
  RequestParser body(limits);
  CHECK(body.feed("POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n") == State::failed);
  CHECK(body.error_status() == 413);
  RequestParser after_failure(limits);
  after_failure.feed("BAD\r\n\r\n");
  CHECK(after_failure.feed("GET / HTTP/1.1\r\n\r\n") == State::failed);
}

TEST_CASE("iequals compares ASCII without case") {
  CHECK(iequals("Content-Length", "content-length"));
  CHECK(!iequals("Content-Length", "Content-Type"));
  CHECK(!iequals("a", "ab"));
}
