// Backend replies under stress: deep nesting, errors sent in-band, the text overloads, exact
// round trips of recorded tool-call streams, and the accumulator's limits.
#include <doctest/doctest.h>

#include "core/openai.h"
#include "core/test_fixtures.h"

using namespace ask::core;
using ask::core::testing::http_body;
using ask::core::testing::read_fixture;
using ask::core::testing::sse_data;

namespace {

// `inner` nested `depth` arrays deep, as text.
std::string nested(std::size_t depth, const std::string& inner = "") {
  return std::string(depth, '[') + inner + std::string(depth, ']');
}

void check_malformed(const Error& e, std::string_view prefix, std::string_view part) {
  INFO(e.message);
  CHECK(e.kind == ErrorKind::upstream_status);
  CHECK(e.http_status == 502);
  CHECK(e.message.starts_with(prefix));
  CHECK(e.message.find(part) != std::string::npos);
  CHECK_NOTHROW((void)to_json(error_body_for(e)).dump());
}

ChatChunk chunk_ok(std::string_view text) {
  auto chunk = parse_chat_chunk(text);
  INFO(text);
  REQUIRE_MESSAGE(chunk.has_value(), (chunk ? "" : chunk.error().message));
  return *chunk;
}

} // namespace

TEST_CASE("Replies: 100000 nested arrays are refused, as text and as Json") {
  const std::string deep = R"({"x":)" + nested(100'000) + "}";
  check_malformed(parse_chat_response(std::string_view(deep)).error(),
                  "invalid chat response: ", "nested deeper than 128");
  check_malformed(parse_chat_chunk(std::string_view(deep)).error(),
                  "invalid chat chunk: ", "nested deeper than 128");
  const std::string deep_error = R"({"error":{"message":"m","x":)" + nested(100'000) + "}}";
  check_malformed(parse_error_body(std::string_view(deep_error)).error(),
                  "invalid error body: ", "nested deeper than 128");
  // A Json built some other way is walked, not copied.
  const Json parsed = Json::parse(deep);
  check_malformed(parse_chat_response(parsed).error(), "invalid chat response: ", "nested");
  check_malformed(parse_chat_chunk(parsed).error(), "invalid chat chunk: ", "nested");
  check_malformed(parse_error_body(Json::parse(deep_error)).error(),
                  "invalid error body: ", "nested");
  const auto req = parse_chat_request(Json::parse(
      R"({"model":"m","messages":[{"role":"user","content":"hi"}],"x":)" + nested(100'000) + "}"));
  REQUIRE_FALSE(req.has_value());
  CHECK(req.error().kind == ErrorKind::bad_request);
  CHECK(req.error().message == "request body: JSON nested deeper than 128 levels");
}

TEST_CASE("Replies: nesting up to the limit is accepted") {
  const auto ok = parse_chat_chunk(std::string_view(R"({"x":)" + nested(127) + "}"));
  REQUIRE(ok.has_value());
  CHECK(ok->extra.contains("x"));
  CHECK_FALSE(parse_chat_chunk(std::string_view(R"({"x":)" + nested(128) + "}")).has_value());
  CHECK(parse_chat_chunk(Json::parse(R"({"x":)" + nested(127) + "}")).has_value());
  CHECK_FALSE(parse_chat_chunk(Json::parse(R"({"x":)" + nested(128) + "}")).has_value());
}

TEST_CASE("Replies: text that is not JSON is a malformed reply (502)") {
  check_malformed(parse_chat_chunk(std::string_view("{\"choices\":[")).error(),
                  "invalid chat chunk: not valid JSON: ", "parse error");
  check_malformed(parse_chat_response(std::string_view("")).error(),
                  "invalid chat response: not valid JSON: ", "parse error");
  check_malformed(parse_error_body(std::string_view("<html>")).error(),
                  "invalid error body: not valid JSON: ", "parse error");
  // A number past the range of a double is out_of_range in nlohmann, not parse_error.
  check_malformed(parse_chat_chunk(std::string_view(R"({"created":1E400})")).error(),
                  "invalid chat chunk: not valid JSON: ", "number overflow parsing '1E400'");
  // The parser's quote of the input (a reply's text) is cut; the position stays.
  const Error quoted = parse_chat_chunk(std::string_view("{\"id\":\"\xff\xfe\"}")).error();
  check_malformed(quoted, "invalid chat chunk: not valid JSON: ", "parse error at line 1");
  CHECK(quoted.message.find("xff") == std::string::npos);
  CHECK(quoted.message.find("last read") == std::string::npos);
}

TEST_CASE("Replies: the text overloads parse what the Json overloads parse") {
  const std::string text =
      R"({"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}]})";
  const auto resp = parse_chat_response(std::string_view(text));
  REQUIRE(resp.has_value());
  CHECK(to_json(*resp) == Json::parse(text));
  const auto chunk = chunk_ok(R"({"choices":[{"index":0,"delta":{"content":"x"}}]})");
  CHECK(chunk.choices.at(0).delta.content == "x");
  const auto err = parse_error_body(std::string_view(R"({"error":"model not found"})"));
  REQUIRE(err.has_value());
  CHECK(err->message == "model not found");
}

TEST_CASE("Replies: an error sent in-band is the backend's error, not a success") {
  struct Case {
    std::string text;
    int status;
    std::string message;
  };
  const std::vector<Case> cases = {
      {R"({"error":{"message":"rate limited","type":"rate_limit_error","code":429}})", 429,
       "rate limited"},
      {R"({"error":{"message":"bad input","code":400}})", 400, "bad input"},
      {R"({"error":{"message":"down","code":503}})", 503, "down"},
      {R"({"error":{"message":"odd code","code":700}})", 502, "odd code"},
      {R"({"error":{"message":"string code","code":"model_not_found"}})", 502, "string code"},
      {R"({"error":{"message":"float code","code":429.5}})", 502, "float code"},
      {R"({"error":{"message":"huge code","code":18446744073709551615}})", 502, "huge code"},
      {R"({"error":{"message":"no code"}})", 502, "no code"},
      {R"({"error":"Ollama says no"})", 502, "Ollama says no"},
      {R"({"error":{"message":"null choices","code":404},"choices":null})", 404, "null choices"},
      {R"({"error":{"type":"server_error"}})", 502, "the backend sent an error without a message"},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    for (const auto& e : {parse_chat_chunk(std::string_view(c.text)).error(),
                          parse_chat_response(std::string_view(c.text)).error(),
                          parse_chat_chunk(Json::parse(c.text)).error()}) {
      CHECK(e.kind == ErrorKind::upstream_status);
      CHECK(e.http_status == c.status);
      CHECK(e.message == c.message);
    }
  }
}

TEST_CASE("Replies: an error field that is no error body, or one next to choices") {
  check_malformed(parse_chat_chunk(std::string_view(R"({"error":5})")).error(),
                  "invalid chat chunk: an \"error\" field that is not an error body", "error");
  // With choices, or with a null error, the reply is read as usual (error kept in extra).
  const auto with_choices = chunk_ok(R"({"error":{"message":"x"},"choices":[]})");
  CHECK(with_choices.extra.contains("error"));
  const auto null_error = chunk_ok(R"({"error":null})");
  CHECK(null_error.extra.at("error").is_null());
}

TEST_CASE("Replies: a long or control-laden backend error message is cut and escaped") {
  const std::string long_message(10'000, 'e');
  const auto e =
      parse_chat_chunk(std::string_view(R"({"error":{"message":")" + long_message + "\"}}"))
          .error();
  CHECK(e.message.size() < 4200);
  CHECK(e.message.ends_with("..."));
  const auto ctl = parse_chat_chunk(std::string_view(R"({"error":"a\u0001b"})")).error();
  CHECK(ctl.message == "a\\x01b");
}

TEST_CASE("ChatChunk: recorded tool-call streams round-trip exactly") {
  std::vector<std::string> events =
      sse_data(http_body(read_fixture("llama-server/chat-tools-stream.sse")));
  const auto ollama = sse_data(
      read_fixture("ollama/v1-chat-completions-sse-parallel-tool_calls-qwen2.5-coder-7b.txt") +
      "\n");
  events.insert(events.end(), ollama.begin(), ollama.end());
  REQUIRE(events.size() == 5);
  for (const auto& data : events) {
    INFO(data);
    // Json keeps keys sorted, so dump() of the original is the canonical text to compare.
    CHECK(to_json(chunk_ok(data)).dump() == Json::parse(data).dump());
  }
}

TEST_CASE("ChatChunk: tool-call fragments keep unknown keys and write function only if sent") {
  const auto chunk_with = [](const std::string& tool_calls) {
    return R"({"id":"c","object":"chat.completion.chunk","created":1,"model":"m",)"
           R"("choices":[{"index":0,"finish_reason":null,"delta":{"tool_calls":)" +
           tool_calls + "}}]}";
  };
  const std::vector<std::string> texts = {
      // No "function" at all: none is written back.
      chunk_with(R"([{"index":0,"id":"call_1"}])"),
      // An empty "function", unknown keys at both levels, nulls.
      chunk_with(R"([{"index":1,"function":{}}])"),
      chunk_with(
          R"([{"index":0,"id":null,"type":null,"extra_content":{"google":{"thought_signature":"sig"}},"function":{"name":"f","arguments":null,"strict":true}}])"),
      chunk_with(R"([{"index":0,"function":null}])"),
      chunk_with(R"([{"index":3,"function":{"name":null}}])"),
  };
  for (const auto& text : texts) {
    INFO(text);
    CHECK(to_json(chunk_ok(text)).dump() == Json::parse(text).dump());
  }
  const auto call = chunk_ok(texts[2]).choices.at(0).delta.tool_calls.at(0);
  CHECK(call.name == "f");
  CHECK_FALSE(call.arguments.has_value());
  CHECK_FALSE(call.id.has_value());
  CHECK(call.extra.at("extra_content").at("google").at("thought_signature") == "sig");
  CHECK(call.extra.at("function").at("strict") == true);
}

TEST_CASE("ChunkAccumulator: unknown tool-call keys reach the merged call") {
  ChunkAccumulator acc;
  acc.add(chunk_ok(
      R"({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","extra_content":{"sig":"a"},"function":{"name":"f","arguments":"{","strict":true}}]}}]})"));
  acc.add(chunk_ok(
      R"({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"extra_content":{"sig":"b"},"function":{"arguments":"}"}}]}}]})"));
  const auto msg = acc.result().choices.at(0).message;
  REQUIRE(msg.tool_calls.size() == 1);
  CHECK(msg.tool_calls[0].function.arguments == "{}");
  CHECK(msg.tool_calls[0].extra.at("extra_content").at("sig") == "a"); // the first one wins
  const auto out = to_json(msg).at("tool_calls").at(0);
  CHECK(out.at("function").at("strict") == true);
  CHECK(out.at("function").at("name") == "f");
}

TEST_CASE("ChunkAccumulator: text past the byte cap is dropped and overflowed() is set") {
  ChunkAccumulator acc(10);
  const auto piece = [](const std::string& content) {
    ChatChunk chunk;
    chunk.choices.emplace_back();
    chunk.choices[0].delta.content = content;
    return chunk;
  };
  acc.add(piece("abcd"));
  acc.add(piece("efgh"));
  CHECK_FALSE(acc.overflowed());
  acc.add(piece("\xc3\xa9\xc3\xa9")); // 4 bytes do not fit in the last 2: all dropped
  CHECK(acc.overflowed());
  acc.add(piece("x")); // would fit, but the text must stay a prefix
  CHECK(acc.result().choices.at(0).message.content == "abcdefgh");
  CHECK(acc.saw_content());
  CHECK_NOTHROW((void)to_json(acc.result()).dump());
}

TEST_CASE("ChunkAccumulator: the cap covers reasoning, arguments and new extra keys") {
  ChunkAccumulator acc(64);
  ChatChunk chunk;
  chunk.choices.emplace_back();
  chunk.choices[0].delta.reasoning_content = std::string(30, 'r');
  chunk.choices[0].delta.tool_calls.push_back(
      ToolCallDelta{0, "id", "function", "f", std::string(30, 'a'), Json::object()});
  acc.add(chunk);
  CHECK(acc.overflowed());
  const auto resp = acc.result();
  CHECK(resp.choices.at(0).message.reasoning_content->size() == 30);
  CHECK(resp.choices[0].message.tool_calls.at(0).function.arguments.empty());
  ChunkAccumulator keys(64);
  for (int i = 0; i < 100; ++i) {
    ChatChunk c;
    c.extra["key" + std::to_string(i)] = "value";
    keys.add(c);
  }
  CHECK(keys.overflowed());
  CHECK(keys.result().extra.size() < 10);
}

TEST_CASE("ChunkAccumulator: tool-call indices out of range are ignored") {
  ChunkAccumulator acc;
  ChatChunk chunk;
  chunk.choices.emplace_back();
  for (int index : {-1, 1025, 2'000'000'000, 1024, 0}) {
    chunk.choices[0].delta.tool_calls.push_back(ToolCallDelta{
        index, "call_" + std::to_string(index), "function", "f", "{}", Json::object()});
  }
  acc.add(chunk);
  CHECK(acc.dropped_tool_calls());
  CHECK_FALSE(acc.overflowed());
  const auto calls = acc.result().choices.at(0).message.tool_calls;
  REQUIRE(calls.size() == 2);
  CHECK(calls[0].id == "call_1024");
  CHECK(calls[1].id == "call_0");
}

TEST_CASE("ChunkAccumulator: many tool calls merge by index in order of first appearance") {
  ChunkAccumulator acc;
  for (int round = 0; round < 3; ++round) {
    ChatChunk chunk;
    chunk.choices.emplace_back();
    for (int index = 1024; index >= 0; --index) {
      chunk.choices[0].delta.tool_calls.push_back(
          ToolCallDelta{index, std::nullopt, std::nullopt, std::nullopt, "a", Json::object()});
    }
    acc.add(chunk);
  }
  const auto calls = acc.result().choices.at(0).message.tool_calls;
  REQUIRE(calls.size() == 1025);
  CHECK(calls.front().function.arguments == "aaa");
  CHECK(calls.back().function.arguments == "aaa");
  CHECK_FALSE(acc.dropped_tool_calls());
}
