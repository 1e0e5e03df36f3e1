// libFuzzer target: parse_chat_request on arbitrary bytes must not crash, and whatever it
// accepts must serialise back to the same JSON and parse again. Chunk, response and error
// body parsers get the same bytes (they must not crash).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "core/openai.h"

using namespace ask::core;

namespace {

[[noreturn]] void die(const char* what, const Json& a, const Json& b) {
  std::fprintf(stderr, "%s\n  first:  %s\n  second: %s\n", what, a.dump().c_str(),
               b.dump().c_str());
  std::abort();
}

void check_request(std::string_view text) {
  const auto req = parse_chat_request(text);
  if (!req) {
    if (req.error().kind != ErrorKind::bad_request || req.error().message.empty()) {
      std::abort();
    }
    return;
  }
  const Json original = Json::parse(text);
  const Json out = to_json(*req);
  if (out != original) {
    die("to_json(parse(x)) != x", original, out);
  }
  const auto again = parse_chat_request(out);
  if (!again) {
    die("parse(to_json(parse(x))) failed", out, Json(again.error().message));
  }
  if (to_json(*again) != out) {
    die("second round trip differs", out, to_json(*again));
  }
}

void check_replies(std::string_view text) {
  const Json body = Json::parse(text, nullptr, false);
  if (body.is_discarded()) {
    return;
  }
  if (auto chunk = parse_chat_chunk(body)) {
    (void)to_json(*chunk);
    ChunkAccumulator acc;
    acc.add(*chunk);
    acc.add(*chunk);
    (void)to_json(acc.result());
  }
  if (auto resp = parse_chat_response(body)) {
    (void)to_json(*resp);
  }
  if (auto err = parse_error_body(body)) {
    (void)to_json(*err);
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  check_request(text);
  check_replies(text);
  return 0;
}
