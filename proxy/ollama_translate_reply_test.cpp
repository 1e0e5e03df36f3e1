// openai_response_from_ollama and OllamaStreamTranslator: Ollama /api/chat replies as OpenAI
// chat.completion and chat.completion.chunk objects, fed with the real recordings under
// tests/fixtures/ollama.
#include "proxy/ollama_translate.h"

#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "core/ndjson.h"
#include "core/test_fixtures.h"

using ask::core::ChatChunk;
using ask::core::ChatResponse;
using ask::core::ChunkAccumulator;
using ask::core::Error;
using ask::core::ErrorKind;
using ask::core::Json;
using ask::core::testing::http_body;
using ask::core::testing::read_fixture;
using ask::core::testing::sse_payloads;
using ask::proxy::OllamaStreamTranslator;
using ask::proxy::openai_response_from_ollama;
using ask::proxy::ReplyMeta;

namespace {

const ReplyMeta k_meta{"chatcmpl-test", 1700000000, "fast-9b"};

// The objects of an NDJSON fixture, one per line.
std::vector<Json> ndjson_fixture(const std::string& name) {
  ask::core::NdjsonSplitter splitter;
  auto lines = splitter.feed(read_fixture("ollama/" + name));
  splitter.finish(lines);
  REQUIRE_FALSE(splitter.failed());
  std::vector<Json> out;
  for (const auto& line : lines) {
    out.push_back(Json::parse(line));
  }
  return out;
}

// Every chunk for `lines`, each checked to be a chunk core's parser accepts.
std::vector<Json> translate_all(const std::vector<Json>& lines, bool include_usage = true,
                                OllamaStreamTranslator* keep = nullptr) {
  OllamaStreamTranslator local(k_meta, include_usage);
  auto& translator = keep != nullptr ? *keep : local;
  std::vector<Json> out;
  for (const auto& line : lines) {
    auto chunks = translator.translate(line);
    REQUIRE_MESSAGE(chunks.has_value(), (chunks ? "" : chunks.error().message));
    for (auto& chunk : *chunks) {
      const auto parsed = ask::core::parse_chat_chunk(chunk);
      REQUIRE_MESSAGE(parsed.has_value(), chunk.dump());
      out.push_back(std::move(chunk));
    }
  }
  return out;
}

ChatResponse accumulate(const std::vector<Json>& chunks) {
  ChunkAccumulator acc;
  for (const auto& chunk : chunks) {
    acc.add(*ask::core::parse_chat_chunk(chunk));
  }
  return acc.result();
}

// The concatenated message.<field> of the lines, read straight from the fixture.
std::string joined(const std::vector<Json>& lines, const char* field) {
  std::string out;
  for (const auto& line : lines) {
    out += line["message"].value(field, "");
  }
  return out;
}

Json reply_ok(const Json& reply) {
  auto out = openai_response_from_ollama(reply, k_meta);
  REQUIRE_MESSAGE(out.has_value(), (out ? "" : out.error().message));
  REQUIRE(ask::core::parse_chat_response(*out).has_value());
  return *out;
}

Json plain_reply(const Json& patch = Json::object()) {
  Json reply = Json::parse(R"({"model":"qwen3.5:9b","created_at":"2026-01-01T00:00:00Z",
      "message":{"role":"assistant","content":"Hi."},"done_reason":"stop","done":true,
      "prompt_eval_count":12,"eval_count":3})");
  reply.update(patch);
  return reply;
}

// Checks `e` is a malformed-reply error naming `field`.
void check_malformed(const Error& e, const std::string& field) {
  INFO(e.message);
  CHECK(e.kind == ErrorKind::upstream_status);
  CHECK(e.http_status == 502);
  CHECK(e.message.find(": " + field + ":") != std::string::npos);
}

void check_reply_malformed(const Json& reply, const std::string& field) {
  CAPTURE(reply);
  auto out = openai_response_from_ollama(reply, k_meta);
  REQUIRE_FALSE(out.has_value());
  check_malformed(out.error(), field);
}

void check_line_malformed(const Json& line, const std::string& field) {
  CAPTURE(line);
  OllamaStreamTranslator translator(k_meta, true);
  auto out = translator.translate(line);
  REQUIRE_FALSE(out.has_value());
  check_malformed(out.error(), field);
  CHECK_FALSE(translator.done());
}

// The keys of an object, for comparing shapes.
std::vector<std::string> keys_of(const Json& obj) {
  std::vector<std::string> out;
  for (const auto& [key, value] : obj.items()) {
    out.push_back(key);
  }
  return out;
}

} // namespace

TEST_CASE("openai_response_from_ollama: maps a real gpt-oss reply with thinking and a tool call") {
  const auto reply = Json::parse(
      read_fixture("ollama/api-chat-nonstream-tool_calls-thinking-gpt-oss-20b-pretty.json"));
  const auto out = reply_ok(reply);
  CHECK(out["id"] == "chatcmpl-test");
  CHECK(out["object"] == "chat.completion");
  CHECK(out["created"] == 1700000000);
  CHECK(out["model"] == "fast-9b");
  REQUIRE(out["choices"].size() == 1);
  const auto& choice = out["choices"][0];
  CHECK(choice["index"] == 0);
  CHECK(choice["finish_reason"] == "tool_calls");
  const auto& msg = choice["message"];
  CHECK(msg["role"] == "assistant");
  CHECK(msg["content"].is_null());
  CHECK(msg["reasoning_content"] == reply["message"]["thinking"]);
  REQUIRE(msg["tool_calls"].size() == 1);
  const auto& call = msg["tool_calls"][0];
  CHECK(call["id"] == "call_0");
  CHECK(call["type"] == "function");
  CHECK(call["function"]["name"] == "GetLineCompletionRate");
  REQUIRE(call["function"]["arguments"].is_string());
  CHECK(Json::parse(call["function"]["arguments"].get<std::string>()) ==
        Json::parse(R"({"date":"2026-01-28","line":"A产线"})"));
  CHECK(out["usage"] ==
        Json::parse(R"({"prompt_tokens":255,"completion_tokens":180,"total_tokens":435})"));
}

TEST_CASE("openai_response_from_ollama: encodes nested tool-call arguments as a JSON string") {
  const auto reply = Json::parse(
      read_fixture("ollama/api-chat-nonstream-tool_calls-nested-args-gpt-oss-20b-pretty.json"));
  const auto out = reply_ok(reply);
  const auto& call = out["choices"][0]["message"]["tool_calls"][0];
  CHECK(call["function"]["name"] == "WeComSendMessage");
  CHECK(Json::parse(call["function"]["arguments"].get<std::string>()) ==
        reply["message"]["tool_calls"][0]["function"]["arguments"]);
  CHECK(out["usage"]["total_tokens"] == 507 + 139);
}

TEST_CASE("openai_response_from_ollama: maps a plain answer") {
  const auto out = reply_ok(plain_reply());
  CHECK(out == Json::parse(R"({"id":"chatcmpl-test","object":"chat.completion",
      "created":1700000000,"model":"fast-9b","choices":[{"index":0,"finish_reason":"stop",
      "message":{"role":"assistant","content":"Hi."}}],
      "usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}})"));
}

TEST_CASE("openai_response_from_ollama: maps done_reason to finish_reason") {
  CHECK(reply_ok(plain_reply({{"done_reason", "length"}}))["choices"][0]["finish_reason"] ==
        "length");
  CHECK(reply_ok(plain_reply({{"done_reason", "load"}}))["choices"][0]["finish_reason"] == "stop");
  Json cloud = plain_reply();
  cloud.erase("done_reason"); // ollama.com leaves it out
  CHECK(reply_ok(cloud)["choices"][0]["finish_reason"] == "stop");
  // Calls cut short by the token limit stay "length".
  auto cut = plain_reply(Json::parse(R"({"done_reason":"length","message":{"role":"assistant",
      "content":"","tool_calls":[{"function":{"name":"f","arguments":{}}}]}})"));
  CHECK(reply_ok(cut)["choices"][0]["finish_reason"] == "length");
}

TEST_CASE("openai_response_from_ollama: keeps Ollama's call ids and numbers the missing ones") {
  const auto reply =
      plain_reply(Json::parse(R"({"message":{"role":"assistant","content":"Let me check.",
      "tool_calls":[{"function":{"name":"a","arguments":{"x":1}}},
                    {"id":"call_etugzc4r","function":{"index":1,"name":"b","arguments":{}}},
                    {"id":"","function":{"name":"c"}}]}})"));
  const auto msg = reply_ok(reply)["choices"][0]["message"];
  CHECK(msg["content"] == "Let me check.");
  REQUIRE(msg["tool_calls"].size() == 3);
  CHECK(msg["tool_calls"][0]["id"] == "call_0");
  CHECK(msg["tool_calls"][1]["id"] == "call_etugzc4r");
  CHECK(msg["tool_calls"][2]["id"] == "call_2");
  CHECK(msg["tool_calls"][0]["function"]["arguments"] == R"({"x":1})");
  CHECK(msg["tool_calls"][2]["function"]["arguments"] == "{}");
  CHECK(reply_ok(reply)["choices"][0]["finish_reason"] == "tool_calls");
}

TEST_CASE("openai_response_from_ollama: an error object is the backend's error") {
  const auto body = Json::parse(read_fixture("ollama/api-delete-missing-model-error-http404.json"));
  auto out = openai_response_from_ollama(body, k_meta);
  REQUIRE_FALSE(out.has_value());
  CHECK(out.error().kind == ErrorKind::upstream_status);
  CHECK(out.error().http_status == 502);
  CHECK(out.error().message == "model 'no-such-model-tincan' not found");
  auto coded = openai_response_from_ollama(
      Json::parse(R"({"error":{"message":"slow down","code":429}})"), k_meta);
  REQUIRE_FALSE(coded.has_value());
  CHECK(coded.error().http_status == 429);
  CHECK(coded.error().message == "slow down");
  auto empty = openai_response_from_ollama(Json::parse(R"({"error":""})"), k_meta);
  REQUIRE_FALSE(empty.has_value());
  CHECK(empty.error().message == "Ollama sent an error without a message");
  auto huge = openai_response_from_ollama(Json{{"error", std::string(10000, 'x')}}, k_meta);
  REQUIRE_FALSE(huge.has_value());
  CHECK(huge.error().message.size() < 5000);
  check_reply_malformed(Json::parse(R"({"error":42})"), "error");
}

TEST_CASE("openai_response_from_ollama: refuses malformed replies, naming the field") {
  check_reply_malformed(Json::array(), "body");
  check_reply_malformed(Json("text"), "body");
  Json no_message = plain_reply();
  no_message.erase("message");
  check_reply_malformed(no_message, "message");
  check_reply_malformed(plain_reply({{"message", "Hi."}}), "message");
  check_reply_malformed(plain_reply({{"message", {{"role", 1}, {"content", "x"}}}}),
                        "message.role");
  check_reply_malformed(plain_reply({{"message", {{"content", 5}}}}), "message.content");
  check_reply_malformed(plain_reply({{"message", {{"content", ""}, {"thinking", {"a"}}}}}),
                        "message.thinking");
  check_reply_malformed(
      plain_reply(Json::parse(R"({"message":{"content":"","tool_calls":[{"a":1}]}})")),
      "message.tool_calls[0].function");
  check_reply_malformed(plain_reply({{"message", {{"content", ""}, {"tool_calls", "f()"}}}}),
                        "message.tool_calls");
  check_reply_malformed(plain_reply({{"message", {{"content", ""}, {"tool_calls", {7}}}}}),
                        "message.tool_calls[0]");
  check_reply_malformed(
      plain_reply(Json::parse(R"({"message":{"tool_calls":[{"function":"f"}]}})")),
      "message.tool_calls[0].function");
  check_reply_malformed(
      plain_reply(Json::parse(R"({"message":{"tool_calls":[{"function":{"arguments":{}}}]}})")),
      "message.tool_calls[0].function.name");
  check_reply_malformed(
      plain_reply(Json::parse(R"({"message":{"tool_calls":[{"function":{"name":3}}]}})")),
      "message.tool_calls[0].function.name");
  check_reply_malformed(
      plain_reply(
          Json::parse(R"({"message":{"tool_calls":[{"function":{"name":"f","arguments":[1]}}]}})")),
      "message.tool_calls[0].function.arguments");
  check_reply_malformed(
      plain_reply(Json::parse(R"({"message":{"tool_calls":[{"id":5,"function":{"name":"f"}}]}})")),
      "message.tool_calls[0].id");
  check_reply_malformed(plain_reply({{"done_reason", 1}}), "done_reason");
  check_reply_malformed(plain_reply({{"done", false}}), "done");
  check_reply_malformed(plain_reply({{"done", "yes"}}), "done");
}

TEST_CASE("openai_response_from_ollama: refuses token counts that are not counts") {
  for (const Json& bad : {Json("12"), Json(-1), Json(1.5), Json(1e30),
                          Json(18446744073709551615ULL), Json(true), Json::array()}) {
    check_reply_malformed(plain_reply({{"eval_count", bad}}), "eval_count");
    check_reply_malformed(plain_reply({{"prompt_eval_count", bad}}), "prompt_eval_count");
  }
  const auto big = reply_ok(plain_reply({{"prompt_eval_count", 1LL << 40}, {"eval_count", 12.0}}));
  CHECK(big["usage"]["prompt_tokens"] == 1LL << 40);
  CHECK(big["usage"]["total_tokens"] == (1LL << 40) + 12);
  Json none = plain_reply();
  none.erase("prompt_eval_count");
  none["eval_count"] = nullptr;
  CHECK(reply_ok(none)["usage"]["total_tokens"] == 0);
}

TEST_CASE("openai_response_from_ollama: refuses tool-call arguments nested past 128 levels") {
  Json args = Json::object();
  Json* cursor = &args;
  for (int i = 0; i < 200; ++i) {
    (*cursor)["a"] = Json::object();
    cursor = &(*cursor)["a"];
  }
  Json reply = plain_reply();
  reply["message"]["tool_calls"] = Json::array({{{"function", {{"name", "f"}}}}});
  reply["message"]["tool_calls"][0]["function"]["arguments"] = std::move(args);
  check_reply_malformed(reply, "message.tool_calls[0].function.arguments");
}

TEST_CASE("OllamaStreamTranslator: emits chunks as OpenAI does for a real llama3.2 stream") {
  const auto lines = ndjson_fixture("api-chat-stream-llama3.2-1b-windows.ndjson");
  OllamaStreamTranslator translator(k_meta, true);
  const auto chunks = translate_all(lines, true, &translator);
  const std::string head =
      R"("id":"chatcmpl-test","object":"chat.completion.chunk","created":1700000000,"model":"fast-9b")";
  const auto chunk = [&](const std::string& rest) {
    return Json::parse("{" + head + "," + rest + "}");
  };
  REQUIRE(chunks.size() == 5);
  CHECK(
      chunks[0] ==
      chunk(
          R"("choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}])"));
  CHECK(chunks[1] ==
        chunk(R"("choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}])"));
  CHECK(chunks[2] ==
        chunk(R"("choices":[{"index":0,"delta":{"content":"."},"finish_reason":null}])"));
  CHECK(chunks[3] == chunk(R"("choices":[{"index":0,"delta":{},"finish_reason":"stop"}])"));
  CHECK(
      chunks[4] ==
      chunk(
          R"("choices":[],"usage":{"prompt_tokens":29,"completion_tokens":3,"total_tokens":32})"));
  CHECK(translator.done());
  CHECK(translator.usage().prompt_tokens == 29);
  CHECK(translator.usage().completion_tokens == 3);
  CHECK(translator.usage().total_tokens == 32);
}

TEST_CASE("OllamaStreamTranslator: chunks have the shape of llama-server's recorded ones") {
  // llama-server's chat-stream-usage.sse: first chunk, finish chunk and usage-only chunk.
  const auto recorded = sse_payloads(http_body(read_fixture("llama-server/chat-stream-usage.sse")));
  REQUIRE(recorded.size() >= 3);
  const auto& finish = recorded[recorded.size() - 2];
  const auto& usage = recorded.back();
  const auto ours = translate_all(ndjson_fixture("api-chat-stream-llama3.2-1b-windows.ndjson"));
  const auto without = [](Json j, std::initializer_list<const char*> drop) {
    for (const auto* key : drop) {
      j.erase(key);
    }
    return keys_of(j);
  };
  // Same top-level keys, less llama-server's own system_fingerprint and timings.
  CHECK(keys_of(ours[0]) == without(recorded[0], {"system_fingerprint"}));
  CHECK(keys_of(ours[0]["choices"][0]) == keys_of(recorded[0]["choices"][0]));
  CHECK(ours[0]["choices"][0]["delta"]["role"] == recorded[0]["choices"][0]["delta"]["role"]);
  CHECK(ours[3]["choices"][0] ==
        Json({{"index", 0}, {"delta", Json::object()}, {"finish_reason", "stop"}}));
  CHECK(keys_of(ours[3]["choices"][0]) == keys_of(finish["choices"][0]));
  CHECK(finish["choices"][0]["delta"] == Json::object());
  CHECK(keys_of(ours[4]) == without(usage, {"system_fingerprint", "timings"}));
  CHECK(ours[4]["choices"] == usage["choices"]);
  CHECK(keys_of(ours[4]["usage"]) == without(usage["usage"], {"prompt_tokens_details"}));
}

TEST_CASE("OllamaStreamTranslator: accumulates a real Japanese stream to the same text") {
  const auto lines = ndjson_fixture("api-chat-stream-llama3.2-windows-japanese.ndjson");
  REQUIRE(lines.size() == 33);
  const auto resp = accumulate(translate_all(lines));
  REQUIRE(resp.choices.size() == 1);
  CHECK(resp.choices[0].message.role == "assistant");
  CHECK(resp.choices[0].message.content == joined(lines, "content"));
  CHECK(resp.choices[0].message.content->rfind("こんにちは！", 0) == 0);
  CHECK(resp.choices[0].finish_reason == "stop");
  REQUIRE(resp.usage.has_value());
  CHECK(resp.usage->prompt_tokens == 26);
  CHECK(resp.usage->completion_tokens == 33);
  CHECK(resp.usage->total_tokens == 59);
  CHECK(resp.id == "chatcmpl-test");
  CHECK(resp.model == "fast-9b");
}

TEST_CASE("OllamaStreamTranslator: streams thinking as reasoning_content") {
  const auto lines = ndjson_fixture("api-chat-stream-thinking-gpt-oss-20b.ndjson");
  const auto chunks = translate_all(lines);
  const auto resp = accumulate(chunks);
  const auto& msg = resp.choices.at(0).message;
  CHECK(msg.reasoning_content == joined(lines, "thinking"));
  CHECK(msg.reasoning_content->rfind("The user writes", 0) == 0);
  CHECK(msg.content == joined(lines, "content"));
  CHECK(msg.content == "1+1 等于 2。");
  CHECK(resp.choices[0].finish_reason == "stop");
  CHECK(resp.usage->completion_tokens == 88);
  // A thinking line gives a delta with reasoning_content and no content key.
  CHECK(chunks[1]["choices"][0]["delta"] == Json({{"reasoning_content", "The"}}));
}

TEST_CASE("OllamaStreamTranslator: emits a real streamed tool call whole, with Ollama's id") {
  auto lines = ndjson_fixture("api-chat-stream-tool_calls-chunk-empty-name-llama3.2-3b.ndjson");
  REQUIRE(lines.size() == 1);
  lines.push_back(
      Json::parse(read_fixture("ollama/docs-example-api-chat-stream-final-chunk-pretty.json")));
  const auto chunks = translate_all(lines);
  REQUIRE(chunks.size() == 4); // role, tool call, finish, usage
  CHECK(chunks[1]["choices"][0]["delta"] == Json::parse(R"({"tool_calls":[{"index":0,
      "id":"call_etugzc4r","type":"function","function":{"name":"","arguments":"{\"n\":\"10\"}"}}]})"));
  CHECK(chunks[2]["choices"][0]["finish_reason"] == "tool_calls");
  const auto resp = accumulate(chunks);
  REQUIRE(resp.choices[0].message.tool_calls.size() == 1);
  CHECK(resp.choices[0].message.tool_calls[0].id == "call_etugzc4r");
  CHECK(resp.choices[0].message.tool_calls[0].function.arguments == R"({"n":"10"})");
  CHECK(resp.usage->prompt_tokens == 169);
}

TEST_CASE("OllamaStreamTranslator: numbers calls across lines and makes up missing ids") {
  const auto call =
      Json::parse(read_fixture("ollama/docs-example-api-chat-stream-tool_calls-chunk-pretty.json"));
  const auto final_line =
      Json::parse(read_fixture("ollama/docs-example-api-chat-stream-final-chunk-pretty.json"));
  Json two = call;
  two["message"]["tool_calls"].push_back(
      Json::parse(R"({"function":{"name":"get_time","arguments":{"tz":"JST"}}})"));
  const auto chunks = translate_all({call, two, final_line});
  REQUIRE(chunks.size() == 5);
  const auto& first = chunks[1]["choices"][0]["delta"]["tool_calls"];
  const auto& second = chunks[2]["choices"][0]["delta"]["tool_calls"];
  REQUIRE(first.size() == 1);
  REQUIRE(second.size() == 2);
  CHECK(first[0]["index"] == 0);
  CHECK(first[0]["id"] == "call_0");
  CHECK(second[0]["index"] == 1);
  CHECK(second[0]["id"] == "call_1");
  CHECK(second[1]["index"] == 2);
  CHECK(second[1]["id"] == "call_2");
  CHECK(second[1]["function"]["arguments"] == R"({"tz":"JST"})");
  const auto resp = accumulate(chunks);
  REQUIRE(resp.choices[0].message.tool_calls.size() == 3);
  CHECK(resp.choices[0].message.tool_calls[2].function.name == "get_time");
  CHECK(resp.choices[0].finish_reason == "tool_calls");
}

TEST_CASE("OllamaStreamTranslator: sends no usage chunk unless asked") {
  OllamaStreamTranslator translator(k_meta, false);
  const auto chunks = translate_all(ndjson_fixture("api-chat-stream-llama3.2-1b-windows.ndjson"),
                                    false, &translator);
  REQUIRE(chunks.size() == 4);
  CHECK(chunks.back()["choices"][0]["finish_reason"] == "stop");
  CHECK_FALSE(chunks.back().contains("usage"));
  CHECK(translator.usage().total_tokens == 32);
}

TEST_CASE("OllamaStreamTranslator: maps done_reason length and text on the done line") {
  const auto chunks = translate_all({Json::parse(R"({"message":{"role":"assistant","content":"ab"},
      "done":true,"done_reason":"length","eval_count":2})")});
  REQUIRE(chunks.size() == 4);
  CHECK(chunks[1]["choices"][0]["delta"] == Json({{"content", "ab"}}));
  CHECK(chunks[2]["choices"][0]["finish_reason"] == "length");
  CHECK(chunks[3]["usage"]["completion_tokens"] == 2);
  // A done line may come without a message.
  const auto bare = translate_all({Json::parse(R"({"done":true})")});
  REQUIRE(bare.size() == 3);
  CHECK(bare[1]["choices"][0]["finish_reason"] == "stop");
}

TEST_CASE("OllamaStreamTranslator: skips empty lines but still opens with the role") {
  OllamaStreamTranslator translator(k_meta, true);
  const auto empty = Json::parse(R"({"message":{"role":"assistant","content":""},"done":false})");
  auto first = translator.translate(empty);
  REQUIRE(first.has_value());
  REQUIRE(first->size() == 1);
  CHECK((*first)[0]["choices"][0]["delta"]["role"] == "assistant");
  auto second = translator.translate(empty);
  REQUIRE(second.has_value());
  CHECK(second->empty());
}

TEST_CASE("OllamaStreamTranslator: an error object mid-stream is the backend's error") {
  OllamaStreamTranslator translator(k_meta, true);
  const auto lines = ndjson_fixture("api-chat-stream-llama3.2-1b-windows.ndjson");
  REQUIRE(translator.translate(lines[0]).has_value());
  const auto error_line =
      ndjson_fixture("api-pull-missing-model-error-in-stream-http200.ndjson")[1];
  auto out = translator.translate(error_line);
  REQUIRE_FALSE(out.has_value());
  CHECK(out.error().kind == ErrorKind::upstream_status);
  CHECK(out.error().http_status == 502);
  CHECK(out.error().message == "pull model manifest: file does not exist");
  CHECK_FALSE(translator.done());
  auto coded = translator.translate(Json::parse(R"({"error":{"message":"busy","code":503}})"));
  REQUIRE_FALSE(coded.has_value());
  CHECK(coded.error().http_status == 503);
}

TEST_CASE("OllamaStreamTranslator: refuses malformed objects, naming the field") {
  check_line_malformed(Json::array({1}), "body");
  check_line_malformed(Json::parse(R"({"message":{"content":"x"}})"), "done");
  check_line_malformed(Json::parse(R"({"message":{"content":"x"},"done":"false"})"), "done");
  check_line_malformed(Json::parse(R"({"done":false})"), "message");
  check_line_malformed(Json::parse(R"({"message":[],"done":false})"), "message");
  check_line_malformed(Json::parse(R"({"message":{"content":1},"done":false})"), "message.content");
  check_line_malformed(Json::parse(R"({"message":{"thinking":{}},"done":false})"),
                       "message.thinking");
  check_line_malformed(Json::parse(R"({"message":{"tool_calls":{}},"done":false})"),
                       "message.tool_calls");
  check_line_malformed(
      Json::parse(
          R"({"message":{"tool_calls":[{"function":{"name":"f","arguments":1}}]},"done":false})"),
      "message.tool_calls[0].function.arguments");
  check_line_malformed(Json::parse(R"({"message":{"content":""},"done":true,"eval_count":-3})"),
                       "eval_count");
  check_line_malformed(
      Json::parse(R"({"message":{"content":""},"done":true,"prompt_eval_count":"9"})"),
      "prompt_eval_count");
  check_line_malformed(Json::parse(R"({"message":{"content":""},"done":true,"done_reason":[]})"),
                       "done_reason");
}

TEST_CASE("OllamaStreamTranslator: a refused object leaves the stream as it was") {
  OllamaStreamTranslator translator(k_meta, true);
  REQUIRE_FALSE(
      translator
          .translate(Json::parse(R"({"message":{"content":"x"},"done":true,"eval_count":1e30})"))
          .has_value());
  CHECK_FALSE(translator.done());
  CHECK(translator.usage().total_tokens == 0);
  auto next = translator.translate(Json::parse(R"({"message":{"content":"x"},"done":false})"));
  REQUIRE(next.has_value());
  REQUIRE(next->size() == 2); // the role chunk was not used up by the refused object
  CHECK((*next)[0]["choices"][0]["delta"]["role"] == "assistant");
  // Tool-call numbering is not advanced by a refused line either.
  REQUIRE_FALSE(translator
                    .translate(Json::parse(R"({"message":{"tool_calls":[{"function":{"name":"a"}},
                        {"function":{"name":5}}]},"done":false})"))
                    .has_value());
  auto call = translator.translate(
      Json::parse(R"({"message":{"tool_calls":[{"function":{"name":"a"}}]},"done":false})"));
  REQUIRE(call.has_value());
  CHECK((*call)[0]["choices"][0]["delta"]["tool_calls"][0]["index"] == 0);
  CHECK((*call)[0]["choices"][0]["delta"]["tool_calls"][0]["id"] == "call_0");
}

TEST_CASE("OllamaStreamTranslator: refuses objects after the done one") {
  OllamaStreamTranslator translator(k_meta, true);
  translate_all(ndjson_fixture("api-chat-stream-llama3.2-1b-windows.ndjson"), true, &translator);
  REQUIRE(translator.done());
  auto out = translator.translate(Json::parse(R"({"message":{"content":"more"},"done":false})"));
  REQUIRE_FALSE(out.has_value());
  check_malformed(out.error(), "body");
}
