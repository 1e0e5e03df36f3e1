#include "sim/generator.h"

#include <doctest/doctest.h>

#include <cctype>

using namespace ask::sim;

namespace {

GenerationRequest request(std::string text) {
  GenerationRequest r;
  r.model = "fast-9b";
  r.messages = {{"system", "Be brief."}, {"user", std::move(text)}};
  return r;
}

} // namespace

TEST_CASE("generate: the same request gives the same answer") {
  Answer a = generate(request("Hello there"));
  Answer b = generate(request("Hello there"));
  CHECK(a.content() == b.content());
  CHECK(a.size() == b.size());
  CHECK(!a.content().empty());
}

TEST_CASE("generate: model, messages, seed and temperature each change the answer") {
  const std::string base = generate(request("Hello there")).content();
  CHECK(generate(request("Hello there!")).content() != base);
  GenerationRequest other_model = request("Hello there");
  other_model.model = "fast-3b";
  CHECK(generate(other_model).content() != base);
  GenerationRequest seeded = request("Hello there");
  seeded.seed = 1;
  CHECK(generate(seeded).content() != base);
  GenerationRequest warm = request("Hello there");
  warm.temperature = 0.7;
  CHECK(generate(warm).content() != base);
}

TEST_CASE("generate: answers are sentences of words, one token per word") {
  Answer a = generate(request("Tell me something"));
  CHECK(a.size() >= static_cast<std::size_t>(k_min_answer_tokens));
  CHECK(a.size() <= static_cast<std::size_t>(k_max_answer_tokens));
  const std::string text = a.content();
  CHECK(std::isupper(static_cast<unsigned char>(text.front())));
  CHECK(text.back() == '.');
  CHECK(a.finish_reason == "stop");
  for (std::size_t i = 0; i + 1 < a.size(); ++i) {
    CHECK(a.token(i).text.back() == ' ');
    CHECK(a.token(i).kind == TokenKind::content);
  }
}

TEST_CASE("generate: max_tokens and the context cut the answer with finish_reason length") {
  GenerationRequest r = request("Tell me something");
  r.max_tokens = 5;
  Answer a = generate(r);
  CHECK(a.size() == 5);
  CHECK(a.finish_reason == "length");
  CHECK(a.completion_tokens() == 5);
  GenerationRequest ctx = request("Tell me something");
  ctx.context_left = 3;
  CHECK(generate(ctx).size() == 3);
  GenerationRequest zero = request("x");
  zero.max_tokens = 0;
  CHECK(generate(zero).size() == 0);
}

TEST_CASE("generate: exact_tokens sets the length - a larger max_tokens does not cut it") {
  GenerationRequest r = request("x");
  r.exact_tokens = 40;
  r.max_tokens = 100;
  Answer a = generate(r);
  CHECK(a.size() == 40);
  CHECK(a.finish_reason == "stop");
}

TEST_CASE("generate: a stop string ends the answer before it") {
  GenerationRequest r = request("Tell me something");
  r.exact_tokens = 30;
  const std::string full = generate(r).content();
  const std::string stop = full.substr(full.size() / 2, 6);
  r.stop = {stop};
  Answer a = generate(r);
  CHECK(a.content() == full.substr(0, full.find(stop)));
  CHECK(a.finish_reason == "stop");
}

TEST_CASE("generate: reasoning comes first and counts toward the tokens") {
  GenerationRequest r = request("Why?");
  r.reasoning = true;
  Answer a = generate(r);
  REQUIRE(a.reasoning_tokens() > 0);
  CHECK(a.token(0).kind == TokenKind::reasoning);
  CHECK(a.token(a.reasoning_tokens()).kind == TokenKind::content);
  CHECK(a.reasoning().starts_with("Let me think. "));
  CHECK(a.completion_tokens() == static_cast<long long>(a.reasoning_tokens() + a.content_tokens()));
}

TEST_CASE("generate: a tool call uses the chosen tool and its schema's required properties") {
  GenerationRequest r = request("Weather?");
  r.tools = {{"first", nlohmann::json::object()},
             {"get_weather", nlohmann::json::parse(R"({"type":"object","properties":{
                 "city":{"type":"string"},"days":{"type":"integer"},"unit":{"enum":["C","F"]},
                 "exact":{"type":"boolean"},"extra":{"type":"string"}},
                 "required":["city","days","unit","exact"]})")}};
  r.tool_call = "get_weather";
  Answer a = generate(r);
  REQUIRE(a.tool_call);
  CHECK(a.finish_reason == "tool_calls");
  CHECK(a.content_tokens() == 0);
  CHECK(a.tool_call->name == "get_weather");
  CHECK(a.tool_call->id.size() == 32);
  const auto& args = a.tool_call->arguments;
  CHECK(args["city"].is_string());
  CHECK(args["days"].is_number_integer());
  CHECK(args["unit"] == "C");
  CHECK(args["exact"] == true);
  CHECK(!args.contains("extra"));
  CHECK(a.completion_tokens() == a.tool_call->tokens);
  r.tool_call = "";
  CHECK(generate(r).tool_call->name == "first");
  r.tool_call = "missing";
  CHECK(!generate(r).tool_call);
}

TEST_CASE("generate: repeat cycles the phrase up to the budget") {
  GenerationRequest r = request("x");
  r.repeat = "all work";
  r.max_tokens = 5;
  Answer a = generate(r);
  CHECK(a.content() == "all work all work all ");
  CHECK(a.finish_reason == "length");
  r.repeat = "\n";
  CHECK(generate(r).content() == "\n\n\n\n\n");
  r.max_tokens.reset();
  r.context_left = 7;
  CHECK(generate(r).size() == 7);
  r.context_left = 0;
  CHECK(generate(r).size() == static_cast<std::size_t>(k_max_repeat_tokens));
}

TEST_CASE("count_prompt_tokens: grows with the text and the tools") {
  std::vector<ChatTurn> short_msgs{{"user", "hi"}};
  std::vector<ChatTurn> long_msgs{{"user", std::string(400, 'a')}};
  CHECK(count_prompt_tokens(long_msgs) > count_prompt_tokens(short_msgs) + 90);
  std::vector<ToolDef> tools{{"t", nlohmann::json::parse(R"({"type":"object"})")}};
  CHECK(count_prompt_tokens(short_msgs, tools) > count_prompt_tokens(short_msgs));
}
