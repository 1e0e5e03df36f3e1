#include "config/jsonc.h"

#include <doctest/doctest.h>

#include <string>

namespace ask::config {

namespace {

JsoncDocument parse_ok(std::string_view text) {
  auto doc = parse_jsonc(text);
  if (!doc) {
    FAIL("unexpected error: " << doc.error().to_string("t"));
  }
  return std::move(*doc);
}

JsoncError parse_err(std::string_view text) {
  auto doc = parse_jsonc(text);
  if (doc) {
    FAIL("expected an error for: " << text);
  }
  return doc.error();
}

bool contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

} // namespace

TEST_CASE("Jsonc: accepts line and block comments and trailing commas") {
  const auto doc = parse_ok(R"(// leading comment
{
  /* block
     comment */ "a": 1, // after a value
  "b": [1, 2, 3,], /**/
  "c": {"d": true,},
}
// trailing comment)");
  CHECK(doc.value["a"] == 1);
  CHECK(doc.value["b"].size() == 3);
  CHECK(doc.value["c"]["d"] == true);
  CHECK(doc.duplicate_keys.empty());
}

TEST_CASE("Jsonc: comment markers inside strings are text") {
  const auto doc = parse_ok(R"({"url": "http://x//y", "c": "/* not a comment */"})");
  CHECK(doc.value["url"] == "http://x//y");
  CHECK(doc.value["c"] == "/* not a comment */");
}

TEST_CASE("Jsonc: records the line and column of every key path") {
  const auto doc = parse_ok("{\n"
                            "  \"models\": {\n"
                            "    \"fast-9b\": {\n"
                            "      \"keep_alive\": \"15m\",\n"
                            "      \"fallbacks\": [\"a\",\n"
                            "                    \"b\"]\n"
                            "    },\n"
                            "    \"llama3.2:3b\": {}\n"
                            "  }\n"
                            "}\n");
  CHECK(doc.position("").line == 1);
  CHECK(doc.position("models").line == 2);
  CHECK(doc.position("models.fast-9b").line == 3);
  CHECK(doc.position("models.fast-9b.keep_alive").line == 4);
  CHECK(doc.position("models.fast-9b.keep_alive").column == 7);
  CHECK(doc.position("models.fast-9b.fallbacks[0]").line == 5);
  CHECK(doc.position("models.fast-9b.fallbacks[1]").line == 6);
  CHECK(doc.position("models.fast-9b.fallbacks[1]").column == 21);
  CHECK(doc.position("models[\"llama3.2:3b\"]").line == 8);
  CHECK(doc.position("models.nope").line == 0);
}

TEST_CASE("Jsonc: columns count code points, not bytes") {
  const auto doc = parse_ok("{\"\xC3\xA9\xC3\xA9\": 1, \"k\": 2}");
  CHECK(doc.position("k").column == 11); // 2-byte characters count once
}

TEST_CASE("Jsonc: keeps the order of object members") {
  const auto doc = parse_ok(R"({"z": 1, "a": 2, "m": 3})");
  std::string order;
  for (const auto& [key, value] : doc.value.items()) {
    order += key;
  }
  CHECK(order == "zam");
}

TEST_CASE("Jsonc: integers stay integers, fractions and exponents are doubles") {
  const auto doc = parse_ok(
      R"([0, -7, 9223372036854775807, 18446744073709551615, 18446744073709551616, 1.5, 1e3, -0.0])");
  CHECK(doc.value[0].is_number_integer());
  CHECK(doc.value[1].get<std::int64_t>() == -7);
  CHECK(doc.value[2].get<std::int64_t>() == INT64_MAX);
  CHECK(doc.value[3].is_number_unsigned());
  CHECK(doc.value[3].get<std::uint64_t>() == UINT64_MAX);
  CHECK(doc.value[4].is_number_float());
  CHECK(doc.value[5].is_number_float());
  CHECK(doc.value[6].is_number_float());
  CHECK(doc.value[6].get<double>() == 1000.0);
  CHECK(doc.value[7].is_number_float());
}

TEST_CASE("Jsonc: decodes escapes and surrogate pairs to UTF-8") {
  const auto doc = parse_ok(R"(["\"\\\/\b\f\n\r\t", "\u00e9", "\ud83d\ude00", "\u0000x"])");
  CHECK(doc.value[0] == "\"\\/\b\f\n\r\t");
  CHECK(doc.value[1] == "\xC3\xA9");
  CHECK(doc.value[2] == "\xF0\x9F\x98\x80");
  CHECK(doc.value[3].get<std::string>() == std::string("\0x", 2));
}

TEST_CASE("Jsonc: accepts valid UTF-8 in strings and a byte-order mark at the start") {
  const auto doc =
      parse_ok("\xEF\xBB\xBF{\"k\": \"gr\xC3\xBC\xC3\x9F \xE2\x82\xAC \xF0\x9F\x98\x80\"}");
  CHECK(doc.value["k"] == "gr\xC3\xBC\xC3\x9F \xE2\x82\xAC \xF0\x9F\x98\x80");
  CHECK(doc.position("k").column == 2);
}

TEST_CASE("Jsonc: reports duplicate keys with both lines and keeps the first") {
  const auto doc = parse_ok("{\n"
                            "  \"models\": {\n"
                            "    \"a\": 1,\n"
                            "    \"b\": 2,\n"
                            "    \"a\": 3\n"
                            "  }\n"
                            "}");
  REQUIRE(doc.duplicate_keys.size() == 1);
  const JsoncError& e = doc.duplicate_keys[0];
  CHECK(e.pos.line == 5);
  CHECK(contains(e.message, "duplicate key \"a\" in models"));
  CHECK(contains(e.message, "first defined on line 3"));
  CHECK(doc.value["models"]["a"] == 1);
}

TEST_CASE("Jsonc: error messages carry line and column") {
  const JsoncError e = parse_err("{\n  \"a\": 1\n  \"b\": 2\n}");
  CHECK(e.pos.line == 3);
  CHECK(e.pos.column == 3);
  CHECK(contains(e.message, "expected ',' or '}'"));
  CHECK(e.to_string("config.jsonc").starts_with("config.jsonc:3:3: "));
}

TEST_CASE("Jsonc: rejects unterminated strings and comments at their start") {
  SUBCASE("string") {
    const JsoncError e = parse_err(R"({"a": "abc)");
    CHECK(e.pos.column == 7);
    CHECK(contains(e.message, "unterminated string"));
  }
  SUBCASE("string across a line break") {
    const JsoncError e = parse_err("{\"a\": \"abc\n\"}");
    CHECK(contains(e.message, "cannot span lines"));
  }
  SUBCASE("block comment") {
    const JsoncError e = parse_err("{\"a\": 1}\n  /* never closed");
    CHECK(e.pos.line == 2);
    CHECK(e.pos.column == 3);
    CHECK(contains(e.message, "unterminated /* comment"));
  }
  SUBCASE("object") {
    const JsoncError e = parse_err("\n{\"a\": 1,");
    CHECK(e.pos.line == 2);
    CHECK(contains(e.message, "unterminated object"));
  }
  SUBCASE("array") {
    CHECK(contains(parse_err("[1, 2").message, "unterminated array"));
  }
}

TEST_CASE("Jsonc: rejects bad escapes and lone surrogates") {
  CHECK(contains(parse_err(R"(["\q"])").message, "invalid escape \\'q'"));
  CHECK(contains(parse_err(R"(["\u12G4"])").message, "four hex digits"));
  CHECK(contains(parse_err(R"(["\u12"])").message, "four hex digits"));
  CHECK(contains(parse_err(R"(["\ud800"])").message, "high surrogate"));
  CHECK(contains(parse_err(R"(["\ud800\u0041"])").message, "high surrogate"));
  CHECK(contains(parse_err(R"(["\udc00"])").message, "lone low surrogate"));
  CHECK(contains(parse_err("[\"\\").message, "unterminated string"));
}

TEST_CASE("Jsonc: rejects control characters and invalid UTF-8 in strings") {
  CHECK(contains(parse_err("[\"a\tb\"]").message, "control character U+0009"));
  CHECK(contains(parse_err(std::string("[\"a\0b\"]", 7)).message, "U+0000"));
  CHECK(contains(parse_err("[\"\xFF\"]").message, "invalid UTF-8"));
  CHECK(contains(parse_err("[\"\xC0\x80\"]").message, "invalid UTF-8"));         // overlong
  CHECK(contains(parse_err("[\"\xED\xA0\x80\"]").message, "invalid UTF-8"));     // surrogate
  CHECK(contains(parse_err("[\"\xF4\x90\x80\x80\"]").message, "invalid UTF-8")); // > U+10FFFF
  CHECK(contains(parse_err("[\"\xE2\x82\"]").message, "invalid UTF-8"));         // truncated
}

TEST_CASE("Jsonc: rejects numbers JSON does not allow") {
  for (const char* text :
       {"[01]", "[-01]", "[+1]", "[.5]", "[1.]", "[1e]", "[1e+]", "[-]", "[0x10]", "[1.5.2]",
        "[NaN]", "[Infinity]", "[-Infinity]", "[1e999]", "[12abc]"}) {
    CAPTURE(text);
    const auto doc = parse_jsonc(text);
    CHECK_FALSE(doc.has_value());
  }
  CHECK(contains(parse_err("[01]").message, "leading zeros"));
  CHECK(contains(parse_err("[1e999]").message, "out of range"));
  CHECK(contains(parse_err("[NaN]").message, "unexpected word \"NaN\""));
}

TEST_CASE("Jsonc: rejects malformed structure") {
  CHECK(contains(parse_err("{a: 1}").message, "expected a key in double quotes"));
  CHECK(contains(parse_err("{'a': 1}").message, "use double quotes"));
  CHECK(contains(parse_err("['a']").message, "double quotes"));
  CHECK(contains(parse_err(R"({"a" 1})").message, "expected ':' after key \"a\""));
  CHECK(contains(parse_err(R"({"a":})").message, "expected a value"));
  CHECK(contains(parse_err(R"({"a":)").message, "expected a value for key \"a\""));
  CHECK(contains(parse_err("[,]").message, "expected a value or ']'"));
  CHECK(contains(parse_err("{,}").message, "expected a key"));
  CHECK(contains(parse_err("[1,,2]").message, "expected a value or ']'"));
  CHECK(contains(parse_err("[1 2]").message, "expected ',' or ']'"));
  CHECK(contains(parse_err("[tru]").message, "unexpected word \"tru\""));
  CHECK(contains(parse_err("[1] / 2").message, "unexpected '/'"));
}

TEST_CASE("Jsonc: rejects anything after the document") {
  CHECK(contains(parse_err("{} x").message, "unexpected 'x' after the end of the document"));
  CHECK(contains(parse_err("{}{}").message, "after the end of the document"));
  CHECK(contains(parse_err("1 2").message, "after the end of the document"));
}

TEST_CASE("Jsonc: rejects an empty document") {
  CHECK(contains(parse_err("").message, "empty document"));
  CHECK(contains(parse_err("  \n\t ").message, "empty document"));
  CHECK(contains(parse_err("// only a comment\n/* and another */").message, "empty document"));
  CHECK(contains(parse_err("\xEF\xBB\xBF").message, "empty document"));
}

TEST_CASE("Jsonc: bounds nesting depth instead of overflowing the stack") {
  const std::string bomb(200'000, '[');
  const JsoncError e = parse_err(bomb);
  CHECK(contains(e.message, "nesting deeper than 64 levels"));
  CHECK(e.pos.column == 65);

  const std::string deepest = std::string(64, '[') + std::string(64, ']');
  CHECK(parse_jsonc(deepest).has_value());
  CHECK_FALSE(parse_jsonc(std::string(30, '[') + std::string(40, '{')).has_value());
  CHECK(parse_jsonc(std::string(3, '['), JsoncLimits{2}).error().message ==
        "nesting deeper than 2 levels");
}

TEST_CASE("Jsonc: accepts scalars at the top level") {
  CHECK(parse_ok("42").value == 42);
  CHECK(parse_ok(" \"s\" ").value == "s");
  CHECK(parse_ok("null").value.is_null());
}

TEST_CASE("Jsonc: key paths quote members that are not plain names") {
  CHECK(path_member("", "models") == "models");
  CHECK(path_member("models", "fast-9b") == "models.fast-9b");
  CHECK(path_member("models", "llama3.2:3b") == "models[\"llama3.2:3b\"]");
  CHECK(path_member("h", "a\"b") == "h[\"a\\\"b\"]");
  CHECK(path_member("x", "") == "x[\"\"]");
  CHECK(path_index("models.a.fallbacks", 2) == "models.a.fallbacks[2]");
  CHECK(path_index("", 0) == "[0]");
}

TEST_CASE("Jsonc: type names for messages") {
  CHECK(type_name(Json(1)) == "integer");
  CHECK(type_name(Json(1.5)) == "number");
  CHECK(type_name(Json("s")) == "string");
  CHECK(type_name(Json::array()) == "array");
  CHECK(type_name(Json::object()) == "object");
  CHECK(type_name(Json(nullptr)) == "null");
  CHECK(type_name(Json(true)) == "boolean");
}

} // namespace ask::config
