#include "net/response_parser.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace ask::net;
using ResponseState = ResponseParser::State;

namespace {

struct Parsed {
  ResponseState state = ResponseState::head;
  ResponseHead head;
  std::string body;
  std::string error;
  std::size_t unconsumed = 0; // bytes the parser left after the end of the message
  bool keep_alive = false;
  BodyFraming framing = BodyFraming::none;
};

// Feeds `wire` cut at `cuts` (sorted offsets), as a client would, then finish() when `eof`.
Parsed parse_pieces(std::string_view wire, const std::vector<std::size_t>& cuts, bool eof = false,
                    bool head_request = false, ResponseLimits limits = {}) {
  ResponseParser parser(limits);
  parser.reset(head_request);
  Parsed out;
  std::size_t from = 0;
  std::vector<std::size_t> ends = cuts;
  ends.push_back(wire.size());
  for (std::size_t end : ends) {
    std::string_view piece = wire.substr(from, end - from);
    from = end;
    while (!piece.empty()) {
      const std::size_t n = parser.feed(piece, out.body);
      CHECK(n <= piece.size());
      if (n == 0) {
        break; // complete or failed
      }
      piece.remove_prefix(n);
    }
    out.unconsumed += piece.size();
  }
  if (eof) {
    parser.finish();
  }
  out.state = parser.state();
  out.error = parser.error();
  out.keep_alive = parser.keep_alive();
  out.framing = parser.framing();
  out.head = parser.take_head();
  return out;
}

Parsed parse(std::string_view wire, bool eof = false, bool head_request = false,
             ResponseLimits limits = {}) {
  return parse_pieces(wire, {}, eof, head_request, limits);
}

} // namespace

TEST_CASE("ResponseParser: a Content-Length response") {
  Parsed r = parse("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Spaced:  a b  \r\n"
                   "Content-Length: 5\r\n\r\nhello");
  CHECK(r.state == ResponseState::complete);
  CHECK(r.head.status == 200);
  CHECK(r.head.reason == "OK");
  REQUIRE(r.head.headers.size() == 3);
  CHECK(r.head.headers[0].first == "Content-Type");
  CHECK(r.head.header("x-spaced") == "a b");
  CHECK(!r.head.header("missing"));
  CHECK(r.body == "hello");
  CHECK(r.framing == BodyFraming::length);
  CHECK(r.keep_alive);
  CHECK(r.unconsumed == 0);
}

TEST_CASE("ResponseParser: feed stops at the end of the head") {
  ResponseParser parser;
  parser.reset();
  std::string body;
  const std::string wire = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
  const std::size_t n = parser.feed(wire, body);
  CHECK(n == wire.size() - 3);
  CHECK(parser.state() == ResponseState::body);
  CHECK(body.empty());
  CHECK(parser.head().status == 200);
  CHECK(parser.content_length() == 3);
  CHECK(parser.feed(std::string_view(wire).substr(n), body) == 3);
  CHECK(parser.state() == ResponseState::complete);
  CHECK(body == "abc");
  CHECK(parser.feed("more", body) == 0);
}

TEST_CASE("ResponseParser: a chunked body split at every byte is the same response") {
  const std::string wire = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "5;name=value;other\r\nhello\r\n"
                           "1 \r\n,\r\n"
                           "0006\r\n world\r\n"
                           "0\r\nX-Trailer: yes\r\nX-Other: 1\r\n\r\n";
  const Parsed whole = parse(wire);
  CHECK(whole.state == ResponseState::complete);
  CHECK(whole.body == "hello, world");
  CHECK(whole.framing == BodyFraming::chunked);
  CHECK(whole.keep_alive);
  for (std::size_t cut = 0; cut <= wire.size(); ++cut) {
    CAPTURE(cut);
    const Parsed r = parse_pieces(wire, {cut});
    CHECK(r.state == ResponseState::complete);
    CHECK(r.body == whole.body);
    CHECK(r.head.status == 200);
    CHECK(r.unconsumed == 0);
  }
  std::vector<std::size_t> every_byte;
  for (std::size_t i = 1; i < wire.size(); ++i) {
    every_byte.push_back(i);
  }
  const Parsed bytewise = parse_pieces(wire, every_byte);
  CHECK(bytewise.state == ResponseState::complete);
  CHECK(bytewise.body == whole.body);
}

TEST_CASE("ResponseParser: a Content-Length response split at every byte") {
  const std::string wire = "HTTP/1.1 201 Created\r\nContent-Length: 10\r\n\r\n0123456789";
  for (std::size_t cut = 0; cut <= wire.size(); ++cut) {
    CAPTURE(cut);
    const Parsed r = parse_pieces(wire, {cut});
    CHECK(r.state == ResponseState::complete);
    CHECK(r.head.status == 201);
    CHECK(r.body == "0123456789");
  }
}

TEST_CASE("ResponseParser: bare LF line ends are accepted") {
  Parsed r = parse("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n3\nabc\n0\n\n");
  CHECK(r.state == ResponseState::complete);
  CHECK(r.body == "abc");
}

TEST_CASE("ResponseParser: a body delimited by the close ends at finish()") {
  const std::string wire =
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nstreamed until close";
  Parsed open = parse(wire);
  CHECK(open.state == ResponseState::body);
  CHECK(open.framing == BodyFraming::until_close);
  CHECK(!open.keep_alive);
  Parsed closed = parse(wire, true);
  CHECK(closed.state == ResponseState::complete);
  CHECK(closed.body == "streamed until close");
  Parsed http10 = parse("HTTP/1.0 200 OK\r\n\r\nold", true);
  CHECK(http10.state == ResponseState::complete);
  CHECK(http10.body == "old");
}

TEST_CASE("ResponseParser: 1xx heads are skipped") {
  Parsed r = parse("HTTP/1.1 100 Continue\r\n\r\n"
                   "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
                   "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  CHECK(r.state == ResponseState::complete);
  CHECK(r.head.status == 200);
  CHECK(!r.head.header("Link"));
  CHECK(r.body == "ok");
}

TEST_CASE("ResponseParser: HEAD, 204 and 304 responses have no body") {
  Parsed head = parse("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", false, true);
  CHECK(head.state == ResponseState::complete);
  CHECK(head.framing == BodyFraming::none);
  CHECK(head.keep_alive);
  Parsed no_content = parse("HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\n");
  CHECK(no_content.state == ResponseState::complete);
  CHECK(no_content.body.empty());
  CHECK(no_content.unconsumed == 17); // the next response is left alone
  Parsed not_modified = parse("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n");
  CHECK(not_modified.state == ResponseState::complete);
}

TEST_CASE("ResponseParser: bytes after the end of the message are not consumed") {
  Parsed r = parse("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA");
  CHECK(r.state == ResponseState::complete);
  CHECK(r.body == "ok");
  CHECK(r.unconsumed == 5);
  Parsed chunked = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nX");
  CHECK(chunked.state == ResponseState::complete);
  CHECK(chunked.unconsumed == 1);
}

TEST_CASE("ResponseParser: keep-alive follows the version and Connection") {
  CHECK(!parse("HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 0\r\n\r\n")
             .keep_alive);
  CHECK(!parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").keep_alive);
  CHECK(parse("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n").keep_alive);
  // Transfer-Encoding and Content-Length together: chunked wins, the connection is not reused.
  Parsed both = parse("HTTP/1.1 200 OK\r\nContent-Length: 9\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "2\r\nab\r\n0\r\n\r\n");
  CHECK(both.state == ResponseState::complete);
  CHECK(both.body == "ab");
  CHECK(!both.keep_alive);
}

TEST_CASE("ResponseParser: agreeing Content-Length values, folded lines, odd spacing") {
  Parsed r = parse("HTTP/1.1 200 \r\nContent-Length: 2, 2\r\ncontent-length: 2\r\n"
                   "X-Folded: first\r\n  second\r\n\tthird\r\n\r\nok");
  CHECK(r.state == ResponseState::complete);
  CHECK(r.head.reason.empty());
  CHECK(r.head.header("X-Folded") == "first second third");
  CHECK(r.body == "ok");
  CHECK(parse("HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n").head.status == 404);
}

TEST_CASE("ResponseParser: a huge chunk streams without being buffered") {
  ResponseParser parser;
  parser.reset();
  std::string body;
  std::string_view wire = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "7fffffffffffffff\r\nabc";
  while (!wire.empty()) {
    const std::size_t n = parser.feed(wire, body);
    REQUIRE(n > 0);
    wire.remove_prefix(n);
  }
  CHECK(parser.state() == ResponseState::body);
  CHECK(body == "abc");
  CHECK(parser.finish() == ResponseState::failed);
}

TEST_CASE("ResponseParser: malformed responses fail with a reason") {
  struct Case {
    const char* wire;
    const char* error; // a part of the message
  };
  const Case cases[] = {
      {"SSH-2.0-OpenSSH_9.2\r\n", "not an HTTP response"},
      {"<html>", "not an HTTP response"}, // no line end needed to tell
      {"HTTP/2 200\r\n\r\n", "unsupported HTTP version"},
      {"HTTP/1.1 20 OK\r\n\r\n", "bad status line"},
      {"HTTP/1.1 2000 OK\r\n\r\n", "bad status line"},
      {"HTTP/1.1  200 OK\r\n\r\n", "bad status line"},
      {"HTTP/1.x 200 OK\r\n\r\n", "bad status line"},
      {"HTTP/1.1 099 Low\r\n\r\n", "bad status code"},
      {"HTTP/1.1 600 High\r\n\r\n", "bad status code"},
      {"HTTP/1.1 101 Switching Protocols\r\n\r\n", "101"},
      {"HTTP/1.1 200 O\x01K\r\n\r\n", "bad status line"},
      {"HTTP/1.1 200 OK\rX\r\n\r\n", "bad status line"},
      {"HTTP/1.1 200 OK\r\nNoColon\r\n\r\n", "malformed header line"},
      {"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", "malformed header line"},
      {"HTTP/1.1 200 OK\r\nName : x\r\n\r\n", "malformed header line"},
      {"HTTP/1.1 200 OK\r\n: x\r\n\r\n", "malformed header line"},
      {"HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", "malformed value"},
      {"HTTP/1.1 200 OK\r\n folded-first\r\n\r\n", "malformed header line"},
      {"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "bad Content-Length"},
      {"HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\n", "bad Content-Length"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 12a\r\n\r\n", "bad Content-Length"},
      {"HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n", "bad Content-Length"},
      {"HTTP/1.1 200 OK\r\nContent-Length: ,\r\n\r\n", "bad Content-Length"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n", "bad Content-Length"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n", "bad Content-Length"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n", "bad Content-Length"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "unsupported"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", "bad Transfer-Enc"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: \r\n\r\n", "bad Transfer-Encoding"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size line"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", "bad chunk size line"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", "bad chunk size line"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 x\r\n", "bad chunk size line"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\n", "bad chunk size line"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;a\rb\r\n", "bad chunk size line"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n",
       "chunk size too large"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n", "missing CRLF"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\r\n", "missing CRLF"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nnot a trailer\r\n\r\n",
       "malformed trailer line"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n folded\r\n\r\n",
       "malformed trailer line"},
  };
  for (const Case& c : cases) {
    const std::string wire = c.wire;
    CAPTURE(wire);
    const Parsed r = parse(wire);
    CHECK(r.state == ResponseState::failed);
    CHECK(r.error.find(c.error) != std::string::npos);
  }
}

TEST_CASE("ResponseParser: a NUL in a header value is malformed") {
  const std::string_view wire("HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n", 27);
  const Parsed r = parse(wire);
  CHECK(r.state == ResponseState::failed);
  CHECK(r.error.find("malformed value") != std::string::npos);
}

TEST_CASE("ResponseParser: sizes and counts are bounded") {
  ResponseLimits limits;
  limits.max_head_bytes = 128;
  limits.max_headers = 3;
  limits.max_chunk_line_bytes = 16;
  limits.max_interim_heads = 2;
  // The head limit holds without a line end in sight.
  Parsed big = parse("HTTP/1.1 200 OK\r\nX: " + std::string(200, 'a'), false, false, limits);
  CHECK(big.state == ResponseState::failed);
  CHECK(big.error.find("larger than 128 bytes") != std::string::npos);
  Parsed many =
      parse("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", false, false, limits);
  CHECK(many.state == ResponseState::failed);
  CHECK(many.error.find("more than 3 header fields") != std::string::npos);
  Parsed three =
      parse("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nContent-Length: 0\r\n\r\n", false, false, limits);
  CHECK(three.state == ResponseState::complete);
  const std::string chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  Parsed long_line = parse(chunked + "1;" + std::string(100, 'e'), false, false, limits);
  CHECK(long_line.state == ResponseState::failed);
  CHECK(long_line.error.find("chunk size line longer") != std::string::npos);
  Parsed many_trailers =
      parse(chunked + "0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", false, false, limits);
  CHECK(many_trailers.state == ResponseState::failed);
  Parsed big_trailers = parse(chunked + "0\r\nA: " + std::string(200, 'a'), false, false, limits);
  CHECK(big_trailers.state == ResponseState::failed);
  Parsed interim = parse("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n"
                         "HTTP/1.1 103 Early Hints\r\n\r\n",
                         false, false, limits);
  CHECK(interim.state == ResponseState::failed);
  CHECK(interim.error.find("interim") != std::string::npos);
}

TEST_CASE("ResponseParser: a connection closed early fails") {
  CHECK(parse("", true).error == "no response");
  CHECK(parse("HTTP/1.1 200 OK\r\nContent-", true).error.find("head was cut off") !=
        std::string::npos);
  Parsed body = parse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf", true);
  CHECK(body.state == ResponseState::failed);
  CHECK(body.body == "half");
  CHECK(body.error.find("body was cut off") != std::string::npos);
  CHECK(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nab", true).state ==
        ResponseState::failed);
}

TEST_CASE("ResponseParser: reset() starts a new response") {
  ResponseParser parser;
  std::string body;
  parser.reset();
  parser.feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", body);
  parser.feed("zz\r\n", body);
  REQUIRE(parser.state() == ResponseState::failed);
  parser.reset(true);
  CHECK(parser.state() == ResponseState::head);
  CHECK(!parser.started());
  CHECK(parser.error().empty());
  parser.feed("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", body);
  CHECK(parser.state() == ResponseState::complete); // a HEAD response
  CHECK(parser.started());
}
