// Ollama's /api/ps as askd reads it for `GET /v1/models?state=1`, on the recorded replies in
// tests/fixtures/ollama and on malformed ones.
#include "proxy/ollama_upstream.h"

#include <doctest/doctest.h>

#include "core/test_fixtures.h"

using ask::core::Json;
using ask::core::testing::read_fixture;
using ask::proxy::parse_ollama_ps;

namespace {

Json fixture(const std::string& name) { return Json::parse(read_fixture("ollama/" + name)); }

} // namespace

TEST_CASE("parse_ollama_ps: recorded replies") {
  auto empty = parse_ollama_ps(fixture("api-ps-empty.json"));
  REQUIRE(empty.has_value());
  CHECK(empty->empty());

  auto one = parse_ollama_ps(fixture("api-ps-one-loaded-llama3.2-1b-windows.json"));
  REQUIRE(one.has_value());
  REQUIRE(one->size() == 1);
  CHECK((*one)[0].name == "llama3.2:1b");
  CHECK((*one)[0].expires_at == "2026-09-26T13:36:53.4650789-04:00");
  CHECK((*one)[0].size_vram == 1514584145);

  auto cpu = parse_ollama_ps(fixture("api-ps-cpu-only-size_vram0-llama3.2-3b-pretty.json"));
  REQUIRE(cpu.has_value());
  REQUIRE(cpu->size() == 1);
  CHECK((*cpu)[0].size_vram == 0);

  auto two = parse_ollama_ps(fixture("api-ps-two-models-jq.json"));
  REQUIRE(two.has_value());
  CHECK(two->size() == 2);
}

TEST_CASE("parse_ollama_ps: malformed replies are refused or their bad entries skipped") {
  for (const char* bad : {R"([])", R"({})", R"({"models":{}})", R"("x")", R"({"models":null})"}) {
    CAPTURE(bad);
    auto r = parse_ollama_ps(Json::parse(bad));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().http_status == 502);
  }
  auto odd = parse_ollama_ps(Json::parse(
      R"({"models":[1, {"name":3}, {"model":"a:1","expires_at":5,"size_vram":"big"},
                    {"name":"b:2","expires_at":"2026-01-01T00:00:00Z","size_vram":-1}]})"));
  REQUIRE(odd.has_value());
  REQUIRE(odd->size() == 2);
  CHECK((*odd)[0].name == "a:1"); // "name" not a string: "model" is used
  CHECK_FALSE((*odd)[0].expires_at.has_value());
  CHECK_FALSE((*odd)[0].size_vram.has_value());
  CHECK((*odd)[1].expires_at == "2026-01-01T00:00:00Z");
}

TEST_CASE("same_ollama_model: a name without a tag means :latest") {
  using ask::proxy::same_ollama_model;
  CHECK(same_ollama_model("llama3.2:latest", "llama3.2"));
  CHECK(same_ollama_model("llama3.2", "llama3.2:latest"));
  CHECK(same_ollama_model("qwen3.5:9b", "qwen3.5:9b"));
  CHECK_FALSE(same_ollama_model("qwen3.5:9b", "qwen3.5"));
  CHECK_FALSE(same_ollama_model("llama3.2:3b", "llama3.2:1b"));
}
