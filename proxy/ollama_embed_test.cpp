// OpenAI embeddings <-> Ollama /api/embed: the request sent, the reply read (Ollama's
// documented shape, and the recorded empty-input reply in tests/fixtures/ollama), base64
// as OpenAI and llama-server encode it, and malformed replies refused.
#include "proxy/ollama_embed.h"

#include <doctest/doctest.h>

#include <sstream>

#include "core/test_fixtures.h"

namespace ollama_embed_test {

using ask::core::Json;
using ask::proxy::base64_float32;
using ask::proxy::ollama_embed_request;
using ask::proxy::openai_embeddings_from_ollama;

Json embed_json(const char* text) {
  return Json::parse(text);
}

TEST_CASE("ollama_embed_request: input, dimensions, truncate false, keep_alive, num_ctx") {
  auto one = ollama_embed_request(
      embed_json(R"({"model":"e","input":"hi","user":"u","encoding_format":"base64"})"),
      "nomic-embed-text", std::nullopt, std::nullopt);
  REQUIRE(one.has_value());
  CHECK(*one == embed_json(R"({"model":"nomic-embed-text","input":"hi","truncate":false})"));

  auto all = ollama_embed_request(embed_json(R"({"model":"e","input":["a","b"],"dimensions":64})"),
                                  "m:1", ask::core::Duration::seconds(300), 8192);
  REQUIRE(all.has_value());
  CHECK(*all == embed_json(R"({"model":"m:1","input":["a","b"],"truncate":false,"dimensions":64,
                      "options":{"num_ctx":8192},"keep_alive":300})"));
}

TEST_CASE("ollama_embed_request: token ids are refused, Ollama takes text only") {
  for (const char* body :
       {R"({"model":"e","input":[1,2,3]})", R"({"model":"e","input":[[1],[2]]})"}) {
    CAPTURE(body);
    auto r = ollama_embed_request(embed_json(body), "m", std::nullopt, std::nullopt);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind == ask::core::ErrorKind::bad_request);
    CHECK(r.error().message.starts_with("input: Ollama embeds text only"));
  }
}

TEST_CASE("openai_embeddings_from_ollama: vectors, usage and the served model's name") {
  const Json reply = embed_json(R"({"model":"nomic-embed-text","embeddings":[[0.25,0.1],[-1,2e-3]],
      "total_duration":14143917,"load_duration":1019500,"prompt_eval_count":8})");
  auto out = openai_embeddings_from_ollama(reply, "embed", 2, false);
  REQUIRE(out.has_value());
  CHECK(*out == embed_json(R"({"object":"list","model":"embed",
      "data":[{"object":"embedding","index":0,"embedding":[0.25,0.1]},
              {"object":"embedding","index":1,"embedding":[-1,2e-3]}],
      "usage":{"prompt_tokens":8,"total_tokens":8}})"));

  auto b64 = openai_embeddings_from_ollama(reply, "embed", 2, true);
  REQUIRE(b64.has_value());
  CHECK((*b64)["data"][0]["embedding"] == "AACAPs3MzD0="); // 0.25f, 0.1f little-endian
  CHECK((*b64)["data"][1]["embedding"].is_string());

  auto no_count =
      openai_embeddings_from_ollama(embed_json(R"({"embeddings":[[1]]})"), "e", 1, false);
  REQUIRE(no_count.has_value());
  CHECK((*no_count)["usage"]["prompt_tokens"] == 0);
}

TEST_CASE("base64_float32: float32 little-endian, padded") {
  CHECK(base64_float32({}) == "");
  CHECK(base64_float32({0.25F}) == "AACAPg==");
  CHECK(base64_float32({1.0F, -2.0F, 0.5F}) == "AACAPwAAAMAAAAA/");
  CHECK(base64_float32({0.25F, 0.1F}) == "AACAPs3MzD0=");
}

TEST_CASE("openai_embeddings_from_ollama: errors and malformed replies") {
  // Ollama's in-band error, as the chat translation reads it.
  auto err = openai_embeddings_from_ollama(
      embed_json(R"({"error":"the input length exceeds the context length"})"), "e", 1, false);
  REQUIRE_FALSE(err.has_value());
  CHECK(err.error().kind == ask::core::ErrorKind::upstream_status);
  CHECK(err.error().message == "the input length exceeds the context length");

  // Recorded: an empty input gets no vector; askd never sends one, and a reply short of the
  // inputs is malformed.
  const Json empty =
      embed_json(ask::core::testing::read_fixture("ollama/api-embed-empty-input.json").c_str());
  auto short_reply = openai_embeddings_from_ollama(empty, "e", 1, false);
  REQUIRE_FALSE(short_reply.has_value());
  CHECK(short_reply.error().http_status == 502);
  CHECK(short_reply.error().message ==
        "invalid Ollama embed reply: embeddings: 0 vectors for 1 inputs");

  struct Case {
    const char* reply;
    const char* message;
  };
  for (const Case& c : {
           Case{R"([])", "invalid Ollama embed reply: body: expected an object, got an array"},
           Case{R"({})", "invalid Ollama embed reply: embeddings: missing"},
           Case{R"({"embeddings":{}})",
                "invalid Ollama embed reply: embeddings: expected an array, got an object"},
           Case{R"({"embeddings":[1]})",
                "invalid Ollama embed reply: embeddings[0]: expected an array of numbers, got an "
                "integer"},
           Case{R"({"embeddings":[[1,"x"]]})",
                "invalid Ollama embed reply: embeddings[0][1]: expected a number, got a string"},
           Case{R"({"embeddings":[[1e39]]})",
                "invalid Ollama embed reply: embeddings[0][0]: not a finite float32"},
           Case{R"({"embeddings":[[1]],"prompt_eval_count":-1})",
                "invalid Ollama embed reply: prompt_eval_count: expected a token count (a "
                "non-negative integer)"},
           Case{R"({"embeddings":[[1]],"prompt_eval_count":"8"})",
                "invalid Ollama embed reply: prompt_eval_count: expected a token count (a "
                "non-negative integer)"},
       }) {
    CAPTURE(c.reply);
    auto r = openai_embeddings_from_ollama(embed_json(c.reply), "e", 1, false);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().http_status == 502);
    CHECK(r.error().message == c.message);
  }
}

} // namespace ollama_embed_test

namespace ollama_embed_test {

// llama-server b10587's own base64 of one vector next to its floats
// (tests/fixtures/llama-server/embeddings/float-base64.http): askd's encoding must match it.
TEST_CASE("base64_float32: the same text llama-server sends for encoding_format base64") {
  std::istringstream in(
      ask::core::testing::read_fixture("llama-server/embeddings/float-base64.http"));
  std::vector<Json> bodies;
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("{")) {
      bodies.push_back(Json::parse(line));
    }
  }
  REQUIRE(bodies.size() == 2);
  std::vector<float> floats;
  for (const Json& x : bodies[0]["data"][0]["embedding"]) {
    floats.push_back(x.get<float>());
  }
  REQUIRE(floats.size() > 16);
  CHECK(base64_float32(floats) == bodies[1]["data"][0]["embedding"].get<std::string>());
}

} // namespace ollama_embed_test
