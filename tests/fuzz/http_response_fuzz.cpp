// libFuzzer target: ResponseParser must decode the same response however the bytes are split,
// never consume more than it is given, and never produce more body than it was fed. The
// first byte picks the flags (HEAD request, peer closes at the end), the second where to
// split; the rest is what a backend sent.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "net/response_parser.h"

namespace {

using ask::net::ResponseParser;

struct Outcome {
  ResponseParser::State state = ResponseParser::State::head;
  ask::net::ResponseHead head;
  std::string body;
  std::string error;
  std::size_t unconsumed = 0;
  bool keep_alive = false;
  ask::net::BodyFraming framing = ask::net::BodyFraming::none;
};

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "%s\n", what);
    std::abort();
  }
}

Outcome run(std::string_view first, std::string_view second, bool head_request, bool eof) {
  ask::net::ResponseLimits limits; // small, so the fuzzer reaches the limits
  limits.max_head_bytes = 512;
  limits.max_headers = 8;
  limits.max_chunk_line_bytes = 64;
  limits.max_interim_heads = 3;
  ResponseParser parser(limits);
  parser.reset(head_request);
  Outcome out;
  for (std::string_view piece : {first, second}) {
    while (!piece.empty()) {
      const std::size_t before = out.body.size();
      const std::size_t n = parser.feed(piece, out.body);
      check(n <= piece.size(), "consumed more than given");
      check(out.body.size() - before <= n, "more body than bytes consumed");
      if (n == 0) {
        break;
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
  check(out.state != ResponseParser::State::failed || !out.error.empty(), "failed silently");
  return out;
}

bool same(const Outcome& a, const Outcome& b) {
  if (a.state != b.state || a.error != b.error) {
    return false;
  }
  if (a.state == ResponseParser::State::failed) {
    return true; // where exactly it stopped reading may depend on the split
  }
  return a.body == b.body && a.unconsumed == b.unconsumed && a.keep_alive == b.keep_alive &&
         a.framing == b.framing && a.head.status == b.head.status &&
         a.head.reason == b.head.reason && a.head.headers == b.head.headers;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) {
    return 0;
  }
  const bool head_request = (data[0] & 1) != 0;
  const bool eof = (data[0] & 2) != 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 2, size - 2);
  const std::size_t split = input.size() * data[1] / 255; // anywhere in inputs of any size
  const Outcome whole = run(input, {}, head_request, eof);
  const Outcome parts = run(input.substr(0, split), input.substr(split), head_request, eof);
  if (!same(whole, parts)) {
    std::fprintf(stderr, "split at %zu changed the outcome: \"%s\" vs \"%s\"\n", split,
                 whole.error.c_str(), parts.error.c_str());
    std::abort();
  }
  return 0;
}
