#include "proxy/model_facts.h"

#include <doctest/doctest.h>

#include "core/test_fixtures.h"

namespace ask::proxy {

namespace {

core::Json facts_fixture(const std::string& path) {
  return core::Json::parse(core::testing::read_fixture(path));
}

} // namespace

TEST_CASE("facts_from_props: llama-server b10587's slot context and what its template can do") {
  auto facts = facts_from_props(facts_fixture("llama-server/props.json"));
  REQUIRE(facts);
  CHECK(facts->context_length == 512);
  CHECK(facts->capabilities == std::vector<std::string>{"completion", "tools"});

  core::Json vision = {{"default_generation_settings", {{"n_ctx", 8192}}},
                       {"modalities", {{"vision", true}}}};
  CHECK(facts_from_props(vision)->capabilities == std::vector<std::string>{"completion", "vision"});
}

TEST_CASE("facts_from_ollama_show: capabilities and the architecture's context length") {
  auto facts = facts_from_ollama_show(
      facts_fixture("ollama/api-show-deepseek-r1-1.5b-with-tensors-jq.json"));
  REQUIRE(facts);
  CHECK(facts->context_length == 131072);
  CHECK(facts->capabilities == std::vector<std::string>{"completion", "thinking"});
}

TEST_CASE("model facts: malformed replies") {
  CHECK_FALSE(facts_from_props(core::Json::array()));
  CHECK_FALSE(facts_from_ollama_show("text"));
  // Wrong types are left out rather than trusted.
  auto props = facts_from_props(
      {{"default_generation_settings", {{"n_ctx", "512"}}}, {"modalities", {{"vision", "yes"}}}});
  REQUIRE(props);
  CHECK_FALSE(props->context_length);
  CHECK(props->capabilities == std::vector<std::string>{"completion"});
  CHECK_FALSE(facts_from_props({{"default_generation_settings", {{"n_ctx", -4}}}})->context_length);
  auto show = facts_from_ollama_show(
      {{"capabilities", {"embedding", 7, ""}}, {"model_info", {{"general.architecture", 3}}}});
  REQUIRE(show);
  CHECK(show->capabilities == std::vector<std::string>{"embedding"});
  CHECK_FALSE(show->context_length);
  auto no_arch = facts_from_ollama_show(
      {{"model_info", {{"general.architecture", "bert"}, {"llama.context_length", 4096}}}});
  CHECK_FALSE(no_arch->context_length);
}

} // namespace ask::proxy
