// Fill-in-the-middle on llama-server's /infill: the request from an OpenAI text completion,
// and the recorded replies (tests/fixtures/llama-server/infill*.{http,sse}: b10587 on a tiny
// model given FIM tokens, and one without) as text_completion objects; malformed ones refused.
#include "proxy/llama_infill.h"

#include <doctest/doctest.h>

#include "core/test_fixtures.h"

using ask::core::Json;
using ask::proxy::completion_from_infill;
using ask::proxy::InfillStreamTranslator;
using ask::proxy::llama_infill_request;
using ask::proxy::ReplyMeta;

namespace {

const ReplyMeta k_infill_meta{"chatcmpl-xyz", 1700000000, "coder"};

// Request `n` ("### n. what") of a recorded .http file: its status line and body.
struct Recorded {
  int status = 0;
  Json body;
};
Recorded recorded(const std::string& file, int n) {
  const std::string text = ask::core::testing::read_fixture("llama-server/" + file);
  const std::string mark = "### " + std::to_string(n) + ". ";
  auto start = text.find(mark);
  REQUIRE(start != std::string::npos);
  start = text.find("HTTP/1.1 ", start);
  REQUIRE(start != std::string::npos);
  auto end = text.find("\n### ", start);
  std::string response = text.substr(start, end == std::string::npos ? end : end - start);
  Recorded out;
  out.status = std::stoi(response.substr(9, 3));
  std::string body = ask::core::testing::http_body(response);
  out.body = Json::parse(body.substr(0, body.find_last_not_of("\r\n") + 1));
  return out;
}

} // namespace

TEST_CASE("llama_infill_request: prefix, suffix and the sampling settings") {
  auto r = llama_infill_request(
      Json::parse(R"({"model":"coder-q4","prompt":["def add(a, b):\n"],"suffix":"\n  return c",
          "max_tokens":16,"temperature":0,"top_p":0.9,"top_k":40,"seed":3,"stop":"\n\n","n":1,
          "echo":false,"logprobs":null,"user":"u","stream":true,
          "stream_options":{"include_usage":true}})"),
      true);
  REQUIRE(r.has_value());
  CHECK(*r == Json::parse(R"({"model":"coder-q4","input_prefix":"def add(a, b):\n",
      "input_suffix":"\n  return c","n_predict":16,"temperature":0,"top_p":0.9,"top_k":40,
      "seed":3,"stop":["\n\n"],"stream":true})"));

  auto plain =
      llama_infill_request(Json::parse(R"({"model":"m","prompt":"a","suffix":"b"})"), false);
  REQUIRE(plain.has_value());
  CHECK(*plain == Json::parse(R"({"model":"m","input_prefix":"a","input_suffix":"b",
      "stream":false})"));
}

TEST_CASE("llama_infill_request: what /infill cannot take") {
  auto tokens =
      llama_infill_request(Json::parse(R"({"model":"m","prompt":[1,2],"suffix":"b"})"), false);
  REQUIRE_FALSE(tokens.has_value());
  CHECK(tokens.error().status_for_client() == 400);
  auto logprobs = llama_infill_request(
      Json::parse(R"({"model":"m","prompt":"a","suffix":"b","logprobs":1})"), false);
  REQUIRE_FALSE(logprobs.has_value());
  CHECK(logprobs.error().message.find("logprobs") != std::string::npos);
}

TEST_CASE("completion_from_infill: recorded whole replies") {
  for (int n : {1, 2, 5}) {
    CAPTURE(n);
    const Recorded rec = recorded("infill.http", n);
    REQUIRE(rec.status == 200);
    auto r = completion_from_infill(rec.body, k_infill_meta);
    REQUIRE(r.has_value());
    CHECK((*r)["object"] == "text_completion");
    CHECK((*r)["id"] == "chatcmpl-xyz");
    CHECK((*r)["model"] == "coder");
    CHECK((*r)["choices"][0]["text"] == rec.body["content"]);
    CHECK((*r)["choices"][0]["index"] == 0);
    CHECK((*r)["choices"][0]["logprobs"].is_null());
    // Each ran out of n_predict (stop_type "limit").
    CHECK((*r)["choices"][0]["finish_reason"] == "length");
    CHECK((*r)["usage"]["prompt_tokens"] == rec.body["tokens_evaluated"]);
    CHECK((*r)["usage"]["completion_tokens"] == rec.body["tokens_predicted"]);
    CHECK((*r)["usage"]["total_tokens"] == rec.body["tokens_evaluated"].get<long long>() +
                                               rec.body["tokens_predicted"].get<long long>());
  }
  Json eos = recorded("infill.http", 1).body;
  eos["stop_type"] = "eos";
  CHECK((*completion_from_infill(eos, k_infill_meta))["choices"][0]["finish_reason"] == "stop");
  eos["stop_type"] = "word";
  CHECK((*completion_from_infill(eos, k_infill_meta))["choices"][0]["finish_reason"] == "stop");
}

TEST_CASE("completion_from_infill: llama-server's error bodies keep their status") {
  // The model without FIM tokens: 501 not_supported_error, which falls back.
  const Recorded no_fim = recorded("infill-no-fim.http", 1);
  CHECK(no_fim.status == 501);
  auto e = completion_from_infill(no_fim.body, k_infill_meta);
  REQUIRE_FALSE(e.has_value());
  CHECK(e.error().kind == ask::core::ErrorKind::upstream_status);
  CHECK(e.error().http_status == 501);
  CHECK(e.error().message.find("Infill is not supported by this model") != std::string::npos);

  const Recorded overflow = recorded("infill.http", 10);
  auto o = completion_from_infill(overflow.body, k_infill_meta);
  REQUIRE_FALSE(o.has_value());
  CHECK(o.error().http_status == 400);
  CHECK(o.error().message.find("exceeds the available context size") != std::string::npos);
}

TEST_CASE("completion_from_infill: malformed replies") {
  for (const char* bad :
       {R"([])", R"("text")", R"({"content":3,"stop":true})", R"({"content":"a","stop":"yes"})",
        R"({"content":"a"})", R"({"content":"a","stop":false})",
        R"({"content":"a","stop":true,"stop_type":5})",
        R"({"content":"a","stop":true,"tokens_predicted":-1})",
        R"({"content":"a","stop":true,"tokens_evaluated":"9"})",
        R"({"content":"a","stop":true,"tokens_evaluated":1.5})", R"({"error":7})"}) {
    CAPTURE(bad);
    auto r = completion_from_infill(Json::parse(bad), k_infill_meta);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().http_status == 502);
  }
}

TEST_CASE("InfillStreamTranslator: the recorded stream, which has no [DONE]") {
  using ask::core::testing::http_body;
  using ask::core::testing::read_fixture;
  bool done_marker = false;
  const auto events = ask::core::testing::sse_payloads(
      http_body(read_fixture("llama-server/infill-stream.sse")), &done_marker);
  CHECK_FALSE(done_marker);
  REQUIRE(events.size() == 4);

  InfillStreamTranslator t(k_infill_meta, true);
  std::vector<Json> chunks;
  for (const Json& event : events) {
    CHECK_FALSE(t.done());
    auto out = t.translate(event);
    REQUIRE(out.has_value());
    chunks.insert(chunks.end(), out->begin(), out->end());
  }
  CHECK(t.done());
  // Three one-token chunks, the finish (its content empty), the usage chunk.
  REQUIRE(chunks.size() == 5);
  for (int i = 0; i < 3; ++i) {
    CHECK(chunks[i] == Json::parse(R"({"id":"chatcmpl-xyz","object":"text_completion",
        "created":1700000000,"model":"coder","choices":[{"text":"\u0002","index":0,
        "logprobs":null,"finish_reason":null}]})"));
  }
  CHECK(chunks[3]["choices"][0]["text"] == "");
  CHECK(chunks[3]["choices"][0]["finish_reason"] == "length");
  CHECK(chunks[4]["choices"] == Json::array());
  CHECK(chunks[4]["usage"] ==
        Json::parse(R"({"prompt_tokens":19,"completion_tokens":3,"total_tokens":22})"));
  CHECK(t.usage().prompt_tokens == 19);

  auto after = t.translate(events[0]);
  REQUIRE_FALSE(after.has_value());
  CHECK(after.error().http_status == 502);
}

TEST_CASE("InfillStreamTranslator: no usage chunk unless asked - an error event") {
  InfillStreamTranslator t(k_infill_meta, false);
  auto out = t.translate(Json::parse(R"({"content":"x","stop":true,"stop_type":"eos",
      "tokens_predicted":1,"tokens_evaluated":4})"));
  REQUIRE(out.has_value());
  REQUIRE(out->size() == 1);
  CHECK((*out)[0]["choices"][0]["text"] == "x");
  CHECK((*out)[0]["choices"][0]["finish_reason"] == "stop");

  InfillStreamTranslator failing(k_infill_meta, false);
  auto err = failing.translate(
      Json::parse(R"({"error":{"code":500,"message":"slot crashed","type":"server_error"}})"));
  REQUIRE_FALSE(err.has_value());
  CHECK(err.error().http_status == 500);
  CHECK(err.error().message.find("slot crashed") != std::string::npos);
  CHECK_FALSE(failing.done());
}
