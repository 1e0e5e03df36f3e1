// OpenAI text completions <-> Ollama /api/generate: the request (raw without a suffix, the
// model's template with one), the whole reply (a recorded one included) and the stream, and
// malformed replies.
#include "proxy/ollama_generate.h"

#include <doctest/doctest.h>

#include "core/test_fixtures.h"

using ask::core::Json;
using ask::proxy::completion_from_ollama;
using ask::proxy::ollama_generate_request;
using ask::proxy::OllamaGenerateTranslator;
using ask::proxy::ReplyMeta;

namespace {

const ReplyMeta k_generate_meta{"chatcmpl-abc", 1700000000, "coder"};

Json generate(const char* openai, std::optional<ask::core::Duration> keep_alive = std::nullopt,
              bool stream = false) {
  auto r = ollama_generate_request(Json::parse(openai), "qwen2.5-coder:1.5b", keep_alive, stream);
  REQUIRE(r.has_value());
  return *r;
}

} // namespace

TEST_CASE("ollama_generate_request: a plain prompt goes raw, with its options") {
  const Json body = generate(R"({"model":"coder","prompt":["def add(a, b):"],"max_tokens":32,
      "temperature":0.2,"top_p":0.9,"seed":7,"stop":"\n\n","stream":false,"user":"u",
      "stream_options":{"include_usage":true}})");
  CHECK(body == Json::parse(R"({"model":"qwen2.5-coder:1.5b","prompt":"def add(a, b):",
      "raw":true,"think":false,"stream":false,"options":{"num_predict":32,"temperature":0.2,"top_p":0.9,
      "seed":7,"stop":["\n\n"]}})"));
}

TEST_CASE("ollama_generate_request: a suffix goes without raw, so that the FIM template runs") {
  const Json body =
      generate(R"({"model":"coder","prompt":"def add(a, b):\n","suffix":"\n  return c",
      "stream":true})",
               {}, true);
  CHECK(body == Json::parse(R"({"model":"qwen2.5-coder:1.5b","prompt":"def add(a, b):\n",
      "suffix":"\n  return c","think":false,"stream":true})"));
  // An empty suffix is no suffix.
  CHECK(generate(R"({"model":"coder","prompt":"x","suffix":""})")["raw"] == true);
}

TEST_CASE("ollama_generate_request: keep_alive, and the request's own Ollama options") {
  Json body = generate(R"({"model":"coder","prompt":"x"})", ask::core::Duration::seconds(600));
  CHECK(body["keep_alive"] == 600);

  body = generate(R"({"model":"coder","prompt":"x","options":{"num_ctx":2048,"top_k":20,
      "bogus":1},"num_predict":5,"max_tokens":9})");
  CHECK(body["options"]["num_ctx"] == 2048);
  CHECK(body["options"]["top_k"] == 20);
  CHECK_FALSE(body["options"].contains("bogus"));
  CHECK(body["options"]["num_predict"] == 9); // max_tokens wins over Ollama's own name

  body = generate(R"({"model":"coder","prompt":"x"})");
  CHECK_FALSE(body.contains("keep_alive"));
  CHECK_FALSE(body.contains("options"));
}

TEST_CASE("ollama_generate_request: what Ollama cannot take") {
  auto tokens = ollama_generate_request(Json::parse(R"({"model":"c","prompt":[1,2,3]})"), "c",
                                        std::nullopt, false);
  REQUIRE_FALSE(tokens.has_value());
  CHECK(tokens.error().http_status == 501); // the backend's limit: the chain moves on

  auto logprobs = ollama_generate_request(Json::parse(R"({"model":"c","prompt":"x","logprobs":2})"),
                                          "c", std::nullopt, false);
  REQUIRE_FALSE(logprobs.has_value());
  CHECK(logprobs.error().status_for_client() == 400);
  CHECK(logprobs.error().message.find("logprobs") != std::string::npos);

  auto option = ollama_generate_request(
      Json::parse(R"({"model":"c","prompt":"x","options":{"num_ctx":"big"}})"), "c", std::nullopt,
      false);
  REQUIRE_FALSE(option.has_value());
  CHECK(option.error().message.find("options.num_ctx") != std::string::npos);
}

TEST_CASE("completion_from_ollama: a recorded whole reply becomes a text_completion") {
  const Json reply = Json::parse(ask::core::testing::read_fixture(
      "ollama/api-generate-nonstream-thinking-ollama-com-cloud-jq.json"));
  auto r = completion_from_ollama(reply, k_generate_meta);
  REQUIRE(r.has_value());
  CHECK(*r == Json::parse(R"({"id":"chatcmpl-abc","object":"text_completion",
      "created":1700000000,"model":"coder","choices":[{"text":"Soft, playful, nimble.",
      "index":0,"logprobs":null,"finish_reason":"stop"}],
      "usage":{"prompt_tokens":81,"completion_tokens":104,"total_tokens":185}})"));

  auto length = completion_from_ollama(
      Json::parse(R"({"response":"ab","done":true,"done_reason":"length","eval_count":2})"),
      k_generate_meta);
  REQUIRE(length.has_value());
  CHECK((*length)["choices"][0]["finish_reason"] == "length");
  CHECK((*length)["usage"]["prompt_tokens"] == 0);
}

TEST_CASE("completion_from_ollama: errors and malformed replies") {
  const Json error = Json::parse(
      ask::core::testing::read_fixture("ollama/api-generate-error-embedding-model.json"));
  auto e = completion_from_ollama(error, k_generate_meta);
  REQUIRE_FALSE(e.has_value());
  CHECK(e.error().kind == ask::core::ErrorKind::upstream_status);
  CHECK(e.error().message.find("does not support generate") != std::string::npos);

  for (const char* bad :
       {R"([])", R"({"response":5,"done":true})", R"({"response":"a","done":false})",
        R"({"response":"a","done":"yes"})", R"({"response":"a","done":true,"eval_count":-3})",
        R"({"response":"a","done":true,"done_reason":7})"}) {
    CAPTURE(bad);
    auto r = completion_from_ollama(Json::parse(bad), k_generate_meta);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().http_status == 502);
  }
}

TEST_CASE("OllamaGenerateTranslator: NDJSON lines become text_completion chunks") {
  OllamaGenerateTranslator t(k_generate_meta, true);
  std::vector<Json> chunks;
  for (
      const char* line : {
          R"({"model":"q","created_at":"2025-01-01T00:00:00Z","response":"  return","done":false})",
          R"({"model":"q","created_at":"2025-01-01T00:00:00Z","response":"","done":false})",
          R"({"model":"q","created_at":"2025-01-01T00:00:00Z","response":" a + b","done":false})",
          R"({"model":"q","created_at":"2025-01-01T00:00:00Z","response":"","done":true,
               "done_reason":"stop","total_duration":1,"prompt_eval_count":12,"eval_count":3})",
      }) {
    CHECK_FALSE(t.done());
    auto out = t.translate(Json::parse(line));
    REQUIRE(out.has_value());
    chunks.insert(chunks.end(), out->begin(), out->end());
  }
  CHECK(t.done());
  REQUIRE(chunks.size() == 4);
  CHECK(chunks[0] == Json::parse(R"({"id":"chatcmpl-abc","object":"text_completion",
      "created":1700000000,"model":"coder","choices":[{"text":"  return","index":0,
      "logprobs":null,"finish_reason":null}]})"));
  CHECK(chunks[1]["choices"][0]["text"] == " a + b");
  CHECK(chunks[2]["choices"][0]["text"] == "");
  CHECK(chunks[2]["choices"][0]["finish_reason"] == "stop");
  CHECK(chunks[3]["choices"] == Json::array());
  CHECK(chunks[3]["usage"]["total_tokens"] == 15);
  CHECK(t.usage().completion_tokens == 3);

  auto after = t.translate(Json::parse(R"({"response":"x","done":false})"));
  REQUIRE_FALSE(after.has_value());
  CHECK(after.error().http_status == 502);
}

TEST_CASE("OllamaGenerateTranslator: no usage chunk unless asked - errors mid-stream") {
  OllamaGenerateTranslator t(k_generate_meta, false);
  auto out = t.translate(Json::parse(R"({"response":"x","done":true,"done_reason":"length"})"));
  REQUIRE(out.has_value());
  REQUIRE(out->size() == 1);
  CHECK((*out)[0]["choices"][0]["text"] == "x");
  CHECK((*out)[0]["choices"][0]["finish_reason"] == "length");

  OllamaGenerateTranslator failing(k_generate_meta, false);
  auto err = failing.translate(Json::parse(R"({"error":"model runner has unexpectedly stopped"})"));
  REQUIRE_FALSE(err.has_value());
  CHECK(err.error().kind == ask::core::ErrorKind::upstream_status);
  CHECK(err.error().message.find("unexpectedly stopped") != std::string::npos);

  for (const char* bad : {R"({"response":"x"})", R"({"response":1,"done":false})", R"("x")",
                          R"({"done":true,"prompt_eval_count":"many"})"}) {
    CAPTURE(bad);
    OllamaGenerateTranslator fresh(k_generate_meta, false);
    auto r = fresh.translate(Json::parse(bad));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().http_status == 502);
    CHECK_FALSE(fresh.done());
  }
}

TEST_CASE("generate_error: Ollama's insert refusal falls back - other errors stay") {
  using ask::core::Error;
  using ask::proxy::generate_error;
  const Error insert = generate_error(Error::upstream(
      400, "ollama: ollama answered 400: registry.ollama.ai/library/llama3.2:1b does not support "
           "insert"));
  CHECK(insert.http_status == 501);
  CHECK(insert.message.find("does not support insert") != std::string::npos);
  CHECK(generate_error(Error::upstream(400, "invalid options")).http_status == 400);
  CHECK(generate_error(Error::upstream(404, "model not found, does not support insert"))
            .http_status == 404);
  CHECK(generate_error(Error::bad_request("does not support insert")).kind ==
        ask::core::ErrorKind::bad_request);
}
