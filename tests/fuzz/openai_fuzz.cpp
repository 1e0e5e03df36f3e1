// libFuzzer target: parse_chat_request on arbitrary bytes must not crash, and whatever it
// accepts must serialise back to the same JSON and parse again. The reply parsers (chunk,
// response, error body) get the same bytes through their text overloads and, when the bytes
// are JSON, through their Json overloads: both must agree and not crash. Every error must
// make an error body that dumps (valid UTF-8), and every accepted reply must dump too.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "core/openai.h"

using namespace ask::core;

namespace {

[[noreturn]] void die(const char* what, const Json& a, const Json& b) {
  std::fprintf(stderr, "%s\n  first:  %s\n  second: %s\n", what,
               a.dump(-1, ' ', false, Json::error_handler_t::replace).c_str(),
               b.dump(-1, ' ', false, Json::error_handler_t::replace).c_str());
  std::abort();
}

// An error askd would send: its body must dump without throwing (valid UTF-8).
void check_error(const Error& e) {
  if (e.message.empty()) {
    std::abort();
  }
  (void)to_json(error_body_for(e)).dump();
}

void check_request(std::string_view text) {
  const auto req = parse_chat_request(text);
  if (!req) {
    if (req.error().kind != ErrorKind::bad_request) {
      std::abort();
    }
    check_error(req.error());
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
  (void)out.dump();
}

// A reply parser's text and Json overloads must agree; malformed input is upstream_status.
template <class T>
void check_agree(const Result<T>& from_text, const Result<T>* from_json, const Json* body) {
  if (!from_text) {
    if (from_text.error().kind != ErrorKind::upstream_status) {
      std::abort();
    }
    check_error(from_text.error());
  } else {
    (void)to_json(*from_text).dump();
  }
  if (from_json == nullptr) {
    return;
  }
  if (from_text.has_value() != from_json->has_value()) {
    die("text and Json overloads disagree", *body, Json(from_text.has_value()));
  }
  if (from_text && to_json(*from_text) != to_json(**from_json)) {
    die("text and Json overloads give different values", to_json(*from_text), to_json(**from_json));
  }
}

void check_accumulator(const ChatChunk& chunk) {
  ChunkAccumulator acc;
  acc.add(chunk);
  acc.add(chunk);
  (void)to_json(acc.result()).dump();
  ChunkAccumulator tiny(16); // exercises the byte cap
  tiny.add(chunk);
  tiny.add(chunk);
  (void)to_json(tiny.result()).dump();
}

void check_replies(std::string_view text) {
  const Json body = Json::parse(text, nullptr, false);
  const bool json = !body.is_discarded();
  const auto chunk = parse_chat_chunk(text);
  const auto resp = parse_chat_response(text);
  const auto err = parse_error_body(text);
  if (json) {
    const auto chunk_json = parse_chat_chunk(body);
    const auto resp_json = parse_chat_response(body);
    const auto err_json = parse_error_body(body);
    check_agree(chunk, &chunk_json, &body);
    check_agree(resp, &resp_json, &body);
    check_agree(err, &err_json, &body);
  } else {
    check_agree<ChatChunk>(chunk, nullptr, nullptr);
    check_agree<ChatResponse>(resp, nullptr, nullptr);
    check_agree<ErrorBody>(err, nullptr, nullptr);
  }
  if (chunk) {
    check_accumulator(*chunk);
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  check_request(text);
  check_replies(text);
  return 0;
}
