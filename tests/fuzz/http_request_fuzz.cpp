// libFuzzer target: net::RequestParser, which reads every byte a client sends to askd and
// llm-sim. It must never crash or grow without bound, and must give the same requests (or
// the same failure) however the bytes are split. The first byte picks the split point.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "net/http_request.h"

namespace {

struct Outcome {
  std::vector<std::string> requests; // method, target, headers and body, flattened
  bool failed = false;
  int status = 0;
};

std::string flatten(const ask::net::HttpRequest& r) {
  std::string out = r.method + ' ' + r.target + ' ' + r.version + '\n';
  for (const auto& [name, value] : r.headers) {
    out += name + ':' + value + '\n';
  }
  return out + r.body;
}

void drain(ask::net::RequestParser& parser, Outcome& out) {
  while (parser.state() == ask::net::RequestParser::State::complete) {
    out.requests.push_back(flatten(parser.take()));
    parser.feed({}); // parse what is buffered (pipelining)
  }
}

Outcome run(std::string_view first, std::string_view second) {
  ask::net::RequestLimits limits;
  limits.max_header_bytes = 2048; // small, so the fuzzer reaches the limits
  limits.max_headers = 16;
  limits.max_body_bytes = 4096;
  ask::net::RequestParser parser(limits);
  Outcome out;
  for (std::string_view piece : {first, second}) {
    if (parser.state() == ask::net::RequestParser::State::failed) {
      break;
    }
    parser.feed(piece);
    drain(parser, out);
  }
  out.failed = parser.state() == ask::net::RequestParser::State::failed;
  out.status = out.failed ? parser.error_status() : 0;
  return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::size_t split = data[0] % (input.size() + 1);
  const Outcome whole = run(input, {});
  const Outcome pieces = run(input.substr(0, split), input.substr(split));
  if (whole.requests != pieces.requests || whole.failed != pieces.failed ||
      whole.status != pieces.status) {
    std::fprintf(stderr, "split at %zu changed the outcome\n", split);
    std::abort();
  }
  return 0;
}
