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
  const std::string wire = "POST /api/chat HTTP/1.1\r\nHost: a\r\nContent-Length: 13\r\nContent-Type: "
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
      "GET /a HTTP/1.1\r\nHost: a\r\n\r\nPOST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhiGET /c HTTP/1.1\r\nHost: a\r\n");
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
  p.feed("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\n\r\n");
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
      {"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"GET / HTTP/1.1 extra\r\n\r\n", 400},
      {"GET nopath HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"GET / HTTP/2.0\r\n\r\n", 505},
      {"GET / FTP/1.0\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: a\r\n: empty\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 12a\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\ncontent-length: 3\r\n\r\nabc", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n",
       400},
      {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\n\r\n", 400},                         // no Host
      {"GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n", 400}, // two
      {"GET / HTTP/1.1\nHost: a\n\n", 400},                      // bare LF
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
  CHECK(p.feed("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nhi") ==
        State::complete);
  CHECK(p.take().body == "hi");
}

TEST_CASE("RequestParser: sizes are bounded") {
  RequestLimits limits;
  limits.max_header_bytes = 64;
  limits.max_headers = 2;
  limits.max_body_bytes = 10;
  RequestParser big_head(limits);
  CHECK(big_head.feed("GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(100, 'a')) == State::failed);
  CHECK(big_head.error_status() == 431);
  RequestParser many(limits);
  CHECK(many.feed("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n") == State::failed);
  CHECK(many.error_status() == 431);
  RequestParser body(limits);
  CHECK(body.feed("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n") == State::failed);
  CHECK(body.error_status() == 413);
  RequestParser after_failure(limits);
  after_failure.feed("BAD\r\n\r\n");
  CHECK(after_failure.feed("GET / HTTP/1.1\r\nHost: a\r\n\r\n") == State::failed);
}

TEST_CASE("RequestParser: HTTP/1.0 needs no Host - leading empty lines are skipped") {
  RequestParser p;
  CHECK(p.feed("\r\n\r\nGET /x HTTP/1.0\r\n\r\n") == State::complete);
  CHECK(p.take().path == "/x");
}

TEST_CASE("RequestParser: a bare LF fails as soon as it arrives, without waiting for the head") {
  for (const char* wire : {"GET / HTTP/1.1\n", "GET / HTTP/1.1\r\nHost: a\n", "\n"}) {
    CAPTURE(wire);
    RequestParser p;
    CHECK(p.feed(wire) == State::failed);
    CHECK(p.error_status() == 400);
    CHECK(p.error_message().find("bare LF") != std::string::npos);
  }
  // A CR in one piece and its LF in the next is a CRLF.
  RequestParser split;
  CHECK(split.feed("GET / HTTP/1.1\r") == State::incomplete);
  CHECK(split.feed("\nHost: a\r") == State::incomplete);
  CHECK(split.feed("\n\r") == State::incomplete);
  CHECK(split.feed("\n") == State::complete);
}

TEST_CASE("RequestParser: the head is there before the body") {
  RequestParser p;
  CHECK(p.feed("POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n"
               "Expect: 100-continue\r\n\r\nabc") == State::incomplete);
  REQUIRE(p.head_done());
  CHECK(p.head().path == "/v1/chat/completions");
  CHECK(p.head().header("Expect") == "100-continue");
  CHECK(p.expects_body());
  CHECK(p.declared_length() == 10);
  CHECK(p.body_bytes_received() == 3);
  CHECK(p.feed("defghij") == State::complete);
  CHECK(p.take().body == "abcdefghij");
  CHECK(!p.head_done());
  CHECK(p.body_bytes_received() == 0);
}

TEST_CASE("RequestParser: a chunked body split at every byte is the same request") {
  const std::string wire = "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n"
                           "5;name=value\r\nhello\r\n"
                           "1 \r\n,\r\n"
                           "A\r\n 012345678\r\n"
                           "0\r\nX-Trailer: dropped\r\n\r\n"
                           "GET /next HTTP/1.1\r\nHost: a\r\n\r\n";
  for (std::size_t split = 0; split <= wire.size(); ++split) {
    CAPTURE(split);
    RequestParser p;
    p.feed(wire.substr(0, split));
    CHECK(p.feed(wire.substr(split)) == State::complete);
    HttpRequest r = p.take();
    CHECK(r.body == "hello, 012345678");
    REQUIRE(p.state() == State::complete);
    CHECK(p.take().path == "/next");
  }
  // Wire bytes count towards the body's progress as they come.
  RequestParser p;
  p.feed("POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab");
  CHECK(p.expects_body());
  CHECK(p.body_bytes_received() == 5);
}

TEST_CASE("RequestParser: malformed or oversized chunked bodies fail") {
  RequestLimits limits;
  limits.max_body_bytes = 10;
  limits.max_header_bytes = 128;
  const std::string head = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
  struct Case {
    std::string body;
    int status;
  };
  const Case cases[] = {
      {"z\r\n", 400},                                  // not hex
      {"\r\n", 400},                                   // no size
      {"-1\r\n", 400},                                 // sign
      {"3\r\nabcX\r\n", 400},                         // data longer than its size
      {"3\nabc", 400},                                  // bare LF after the size
      {"b\r\n", 413},                                  // 11 > 10
      {"6\r\nabcdef\r\n5\r\n", 413},                 // 6 + 5 > 10
      {"ffffffffffffffffffff\r\n", 413},               // overflows
      {std::string(5000, '1'), 400},                    // a size line without end
      {"0\r\n" + std::string(200, 'x'), 431},          // trailers beyond the head limit
      {"0\r\nX: y\n", 400},                            // bare LF in a trailer
  };
  for (const Case& c : cases) {
    CAPTURE(c.body.substr(0, 40));
    RequestParser p(limits);
    CHECK(p.feed(head + c.body) == State::failed);
    CHECK(p.error_status() == c.status);
  }
}

TEST_CASE("iequals compares ASCII without case") {
  CHECK(iequals("Content-Length", "content-length"));
  CHECK(!iequals("Content-Length", "Content-Type"));
  CHECK(!iequals("a", "ab"));
}
