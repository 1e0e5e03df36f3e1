#include "core/json_text.h"

#include <doctest/doctest.h>

using namespace ask::core::detail;
using nlohmann::json;

TEST_CASE("nesting_depth: counts brackets outside strings") {
  CHECK(nesting_depth("1") == 0);
  CHECK(nesting_depth("[]") == 1);
  CHECK(nesting_depth(R"({"a":[{"b":[]}]})") == 4);
  CHECK(nesting_depth(R"({"a":"[[[[\"[[["})") == 1);
  CHECK(nesting_depth(std::string(100'000, '[')) == 100'000);
}

TEST_CASE("deeper_than: walks a parsed value without recursion") {
  CHECK_FALSE(deeper_than(json(1), 0));
  CHECK(deeper_than(json::array(), 0));
  CHECK_FALSE(deeper_than(json::array(), 1));
  const auto value = json::parse(R"({"a":[{"b":[]}],"c":1})");
  CHECK_FALSE(deeper_than(value, 4));
  CHECK(deeper_than(value, 3));
  // nlohmann parses and destroys iteratively, so this value can exist; copying it could not.
  const auto deep = json::parse(std::string(100'000, '[') + std::string(100'000, ']'));
  CHECK(deeper_than(deep, k_max_json_depth));
  CHECK_FALSE(deeper_than(deep, 100'000));
}

TEST_CASE("parse_json_text: refuses deep nesting before parsing, reports syntax errors") {
  const auto deep = parse_json_text(std::string(200, '[') + std::string(200, ']'));
  REQUIRE_FALSE(deep.has_value());
  CHECK(deep.error().too_deep);
  CHECK(deep.error().what == "JSON nested deeper than 128 levels");
  CHECK(parse_json_text(std::string(128, '[') + std::string(128, ']')).has_value());
  const auto syntax = parse_json_text("{\"a\":");
  REQUIRE_FALSE(syntax.has_value());
  CHECK_FALSE(syntax.error().too_deep);
  CHECK(syntax.error().what.starts_with("parse error at line 1, column 6"));
  const auto overflow = parse_json_text("1E400");
  REQUIRE_FALSE(overflow.has_value());
  CHECK(overflow.error().what.starts_with("number overflow parsing '1E400'"));
}

TEST_CASE("parse_json_text: the parser's message is valid UTF-8, short, and quotes no input") {
  const auto bad = parse_json_text("\"\xff\xfe\"");
  REQUIRE_FALSE(bad.has_value());
  CHECK_NOTHROW((void)json(bad.error().what).dump());
  CHECK(bad.error().what.find("xff") == std::string::npos);
  const auto prompt = parse_json_text(R"({"messages":[{"role":"user","content":"my secret plan"}],)");
  REQUIRE_FALSE(prompt.has_value());
  CHECK(prompt.error().what.starts_with("parse error at line 1, column 58"));
  CHECK(prompt.error().what.find("secret") == std::string::npos);
  CHECK(prompt.error().what.find("last read") == std::string::npos);
  CHECK(without_input_quote("x - invalid literal; last read: '\"messages\": [ no'") ==
        "x - invalid literal");
  CHECK(without_input_quote("no quote here") == "no quote here");
  const auto long_token = parse_json_text("\"" + std::string(100'000, 'a') + "\x01\"");
  REQUIRE_FALSE(long_token.has_value());
  CHECK(long_token.error().what.size() < 300);
  CHECK_NOTHROW((void)json(long_token.error().what).dump());
}

TEST_CASE("dump_json: compact, UTF-8 kept, bytes that are not UTF-8 replaced, never throws") {
  CHECK(dump_json(json{{"b", 1}, {"a", "caf\xc3\xa9"}}) == R"({"a":"café","b":1})");
  const std::string bad = "x\xff\xc3y";
  CHECK_THROWS((void)json(bad).dump()); // what dump_json exists to avoid
  CHECK(dump_json(json(bad)) == "\"x\xef\xbf\xbd\xef\xbf\xbdy\"");
  CHECK(dump_json(json::array({1, 2}), 2) == "[\n  1,\n  2\n]");
  // ordered_json keeps insertion order (llm-sim writes llama-server's key order).
  nlohmann::ordered_json ordered;
  ordered["z"] = bad;
  ordered["a"] = 1;
  CHECK(dump_json(ordered) == "{\"z\":\"x\xef\xbf\xbd\xef\xbf\xbdy\",\"a\":1}");
}
