#include "cache/key.h"

#include <string>

#include <doctest/doctest.h>

using ask::cache::cache_key;
using ask::cache::canonical_form;
using ask::cache::short_hash;
using nlohmann::json;

namespace {

// What `ask --9b "hello"` sends to askd.
json hello_request() {
  return json::parse(R"({"model":"fast-9b","messages":[{"role":"user","content":"hello"}],)"
                     R"("stream":true,"stream_options":{"include_usage":true}})");
}

json request(const std::string& system, const std::string& user) {
  return json{{"model", "fast-9b"},
              {"messages",
               json::array({json{{"role", "system"}, {"content", system}},
                            json{{"role", "user"}, {"content", user}}})},
              {"temperature", 0.2},
              {"max_tokens", 200},
              {"stream", true}};
}

bool is_lower_hex(const std::string& s) {
  return s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

} // namespace

TEST_CASE("cache_key: canonical form of `ask --9b hello` is pinned (docs/cache.md)") {
  const std::string canonical = canonical_form("fast-9b", hello_request());
  CHECK(canonical ==
        R"(["ask-cache-v1","fast-9b",{"messages":[{"content":"hello","role":"user"}]}])");
  // Computed by hand, so the canonical form cannot drift silently:
  //   printf '%s' '["ask-cache-v1","fast-9b",{"messages":[{"content":"hello","role":"user"}]}]' |
  //     sha256sum
  CHECK(cache_key("fast-9b", hello_request()) ==
        "92218927ea4f7e012ba26ed9b5d5d752a68cdc855e03a4b24f621f9b85f6588a");
  CHECK(short_hash(cache_key("fast-9b", hello_request())) == "92218927");
}

TEST_CASE("cache_key: parameters and UTF-8 text appear in the canonical form as pinned") {
  const json req = request("Be terse.", "Summarise: ünïcode ✓");
  const std::string canonical = canonical_form("fast-9b", req);
  CHECK(canonical == R"(["ask-cache-v1","fast-9b",{"max_tokens":200,"messages":[{"content":)"
                     R"("Be terse.","role":"system"},{"content":"Summarise: ünïcode ✓","role":)"
                     R"("user"}],"temperature":0.2}])");
  // printf '%s' '<the canonical text above>' | sha256sum
  CHECK(cache_key("fast-9b", req) ==
        "f7ce49a3f0b957d4b1a8ced39a28658c8fcbc43844e68c2145bb9c50731f29bf");
}

TEST_CASE("cache_key: 64 lower-case hex digits, stable across calls") {
  const std::string key = cache_key("fast-9b", request("s", "u"));
  CHECK(key.size() == 64);
  CHECK(is_lower_hex(key));
  CHECK(key == cache_key("fast-9b", request("s", "u")));
}

TEST_CASE("cache_key: ignores model, stream and stream_options inside the request") {
  const json base = request("s", "u");
  json other = base;
  other["model"] = "something-else";
  other["stream"] = false;
  other["stream_options"] = json{{"include_usage", false}};
  CHECK(cache_key("fast-9b", base) == cache_key("fast-9b", other));
  json bare = base;
  bare.erase("model");
  bare.erase("stream");
  CHECK(cache_key("fast-9b", base) == cache_key("fast-9b", bare));
}

TEST_CASE("cache_key: changes with the model argument and every answer-changing field") {
  const json base = request("system text", "user text");
  const std::string key = cache_key("fast-9b", base);
  CHECK(key != cache_key("fast-1b", base));
  CHECK(key != cache_key("fast-9b", request("system text!", "user text")));
  CHECK(key != cache_key("fast-9b", request("system text", "user text!")));
  json warmer = base;
  warmer["temperature"] = 0.3;
  CHECK(key != cache_key("fast-9b", warmer));
  json longer = base;
  longer["max_tokens"] = 201;
  CHECK(key != cache_key("fast-9b", longer));
  json no_system = base;
  no_system["messages"].erase(0);
  CHECK(key != cache_key("fast-9b", no_system));
}

TEST_CASE("cache_key: key order in the input objects does not matter") {
  const json a = json::parse(
      R"({"temperature":0.5,"messages":[{"role":"user","content":"x"}],"max_tokens":9})");
  const json b = json::parse(
      R"({"max_tokens":9,"messages":[{"content":"x","role":"user"}],"temperature":0.5})");
  CHECK(canonical_form("m", a) == canonical_form("m", b));
  CHECK(cache_key("m", a) == cache_key("m", b));
}

TEST_CASE("cache_key: invalid UTF-8 is replaced, never thrown") {
  json req = request("s", "bad \xff\xfe bytes");
  std::string canonical;
  CHECK_NOTHROW(canonical = canonical_form("fast-\xc3", req));
  CHECK(canonical.find("bad \xef\xbf\xbd") != std::string::npos); // U+FFFD
  CHECK(canonical.find("fast-\xef\xbf\xbd") != std::string::npos);
  std::string key;
  CHECK_NOTHROW(key = cache_key("fast-9b", req));
  CHECK(key.size() == 64);
  CHECK(key != cache_key("fast-9b", request("s", "bad  bytes")));
}

TEST_CASE("cache_key: a request that is not an object is used as it is") {
  CHECK(canonical_form("m", json("hi")) == R"(["ask-cache-v1","m","hi"])");
  CHECK(canonical_form("m", json()) == R"(["ask-cache-v1","m",null])");
  CHECK(cache_key("m", json::array({1, 2})).size() == 64);
}
