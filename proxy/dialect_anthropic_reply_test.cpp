// AnthropicDialect, the reply side: chat replies and chunk streams as Messages and their
// events, errors in Anthropic's shape. Shapes are checked against llama-server b10587's own
// /v1/messages door answering the same prompts (tests/fixtures/llama-server/anthropic).
#include "proxy/dialect_anthropic.h"

#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "core/sse.h"
#include "core/test_fixtures.h"

using ask::core::Error;
using ask::core::Json;
using ask::proxy::anthropic_error;
using ask::proxy::anthropic_error_type;
using ask::proxy::anthropic_message_id;
using ask::proxy::AnthropicDialect;
using ask::proxy::DialectMeta;

// Named, not anonymous: in a unity build this file shares a translation unit with other
// tests whose helpers have the same names.
namespace anthropic_reply_test {

const AnthropicDialect k_dialect;

const DialectMeta k_meta{"chatcmpl-abc123", 1796542260, "fast-9b"};

// A chat.completion.chunk with `delta` (and finish_reason when given).
Json chunk(const Json& delta, const Json& finish = nullptr) {
  return {{"id", "chatcmpl-abc123"},
          {"object", "chat.completion.chunk"},
          {"created", 1796542260},
          {"model", "qwen"},
          {"choices", {{{"index", 0}, {"delta", delta}, {"finish_reason", finish}}}}};
}

Json usage_chunk(long long prompt, long long completion, long long cached) {
  return {{"id", "chatcmpl-abc123"},
          {"object", "chat.completion.chunk"},
          {"created", 1796542260},
          {"model", "qwen"},
          {"choices", Json::array()},
          {"usage",
           {{"prompt_tokens", prompt},
            {"completion_tokens", completion},
            {"total_tokens", prompt + completion},
            {"prompt_tokens_details", {{"cached_tokens", cached}}}}}};
}

struct Event {
  std::string name;
  Json data;
};

// The SSE frames of `text` as events; every frame must have an event name and JSON data.
std::vector<Event> events_of(const std::string& text) {
  ask::core::SseParser parser;
  std::vector<Event> out;
  for (auto& e : parser.feed(text)) {
    REQUIRE_FALSE(e.event.empty());
    out.push_back({e.event, Json::parse(e.data)});
  }
  CHECK(parser.finish());
  return out;
}

// Runs `chunks` through a fresh encoder and finishes it.
std::vector<Event> encode(const std::vector<Json>& chunks) {
  auto encoder = k_dialect.stream(k_meta);
  std::string out;
  for (const auto& c : chunks) {
    encoder->chunk(c, out);
  }
  encoder->finish(out);
  return events_of(out);
}

std::vector<std::string> names(const std::vector<Event>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) {
    out.push_back(e.name);
  }
  return out;
}

// A Message rebuilt from its events the way @anthropic-ai/sdk's MessageStream does: blocks
// by index, deltas appended, tool input parsed from the joined partial_json at the end.
Json accumulate(const std::vector<Event>& events) {
  Json message;
  std::vector<std::string> partial_json;
  for (const auto& [name, data] : events) {
    CHECK(data.at("type") == name);
    if (name == "message_start") {
      message = data.at("message");
    } else if (name == "content_block_start") {
      const auto index = data.at("index").get<std::size_t>();
      REQUIRE(index == message["content"].size()); // blocks come in order, none skipped
      message["content"].push_back(data.at("content_block"));
      partial_json.emplace_back();
    } else if (name == "content_block_delta") {
      const auto index = data.at("index").get<std::size_t>();
      REQUIRE(index < message["content"].size());
      Json& block = message["content"][index];
      const Json& delta = data.at("delta");
      if (delta.at("type") == "text_delta") {
        block["text"] = block["text"].get<std::string>() + delta.at("text").get<std::string>();
      } else if (delta.at("type") == "thinking_delta") {
        block["thinking"] =
            block["thinking"].get<std::string>() + delta.at("thinking").get<std::string>();
      } else if (delta.at("type") == "signature_delta") {
        block["signature"] = delta.at("signature");
      } else if (delta.at("type") == "input_json_delta") {
        partial_json[index] += delta.at("partial_json").get<std::string>();
      } else {
        FAIL("unknown delta type ", delta.dump());
      }
    } else if (name == "content_block_stop") {
      const auto index = data.at("index").get<std::size_t>();
      if (message["content"][index]["type"] == "tool_use" && !partial_json[index].empty()) {
        message["content"][index]["input"] = Json::parse(partial_json[index]);
      }
    } else if (name == "message_delta") {
      message["stop_reason"] = data.at("delta").at("stop_reason");
      message["stop_sequence"] = data.at("delta").at("stop_sequence");
      message["usage"].update(data.at("usage"));
    }
  }
  return message;
}

// The events of a recorded SSE response (HTTP framing undone).
std::vector<Event> fixture_events(const std::string& name) {
  using ask::core::testing::http_body;
  using ask::core::testing::read_fixture;
  return events_of(http_body(read_fixture("llama-server/anthropic/" + name)));
}

// The chunks of a recorded chat completions stream.
std::vector<Json> fixture_chunks(const std::string& name) {
  using ask::core::testing::http_body;
  using ask::core::testing::read_fixture;
  bool done = false;
  auto chunks = ask::core::testing::sse_payloads(
      http_body(read_fixture("llama-server/anthropic/" + name)), &done);
  CHECK(done);
  return chunks;
}

Json fixture_json(const std::string& name) {
  using ask::core::testing::http_body;
  using ask::core::testing::read_fixture;
  return Json::parse(http_body(read_fixture("llama-server/anthropic/" + name)));
}

// The keys of an object, sorted.
std::vector<std::string> keys(const Json& obj) {
  std::vector<std::string> out;
  for (const auto& [key, value] : obj.items()) {
    out.push_back(key);
  }
  return out;
}

// Checks that ours has the shape of llama-server's event by event: the same event names, the
// same block indices, block and delta types, and keys at each level. Values that differ by
// design (ids, model names, token counts, text of the random model) are not compared.
void check_same_shape(const std::vector<Event>& ours, const std::vector<Event>& theirs) {
  REQUIRE(names(ours) == names(theirs));
  for (std::size_t i = 0; i < ours.size(); ++i) {
    const Json& a = ours.at(i).data;
    const Json& b = theirs.at(i).data;
    INFO("event ", i, ": ", a.dump(), " vs ", b.dump());
    CHECK(keys(a) == keys(b));
    CHECK(a.at("type") == b.at("type"));
    if (b.contains("index")) {
      CHECK(a.at("index") == b.at("index"));
    }
    if (b.contains("content_block")) {
      CHECK(a.at("content_block") == b.at("content_block")); // {"type":"text","text":""}
    }
    if (b.contains("message")) {
      CHECK(keys(a.at("message")) == keys(b.at("message")));
      CHECK(keys(a.at("message").at("usage")) == keys(b.at("message").at("usage")));
      CHECK(a.at("message").at("content") == b.at("message").at("content"));
      CHECK(a.at("message").at("stop_reason") == b.at("message").at("stop_reason"));
    }
    if (b.at("type") == "content_block_delta") {
      CHECK(a.at("delta") == b.at("delta")); // the same text: both came from one model at temp 0
    }
    if (b.at("type") == "message_delta") {
      CHECK(keys(a.at("delta")) == keys(b.at("delta")));
      CHECK(a.at("delta").at("stop_reason") == b.at("delta").at("stop_reason"));
      CHECK(a.at("usage").at("output_tokens") == b.at("usage").at("output_tokens"));
    }
  }
}

// ---- Reply ----

TEST_CASE("AnthropicDialect: a recorded chat reply has the shape of llama-server's Message for "
          "the same prompt") {
  const auto completion = fixture_json("chat-nonstream-same.http");
  const auto theirs = fixture_json("messages-nonstream.http");
  const auto ours = k_dialect.reply(completion, k_meta);
  CHECK(keys(ours) == keys(theirs));
  CHECK(keys(ours["usage"]) == keys(theirs["usage"]));
  CHECK(ours["content"] == theirs["content"]);
  CHECK(ours["stop_reason"] == theirs["stop_reason"]);
  CHECK(ours["stop_sequence"] == theirs["stop_sequence"]);
  CHECK(ours["usage"]["output_tokens"] == theirs["usage"]["output_tokens"]);
  CHECK(ours["id"] == "msg_abc123");
  CHECK(ours["model"] == "fast-9b");
  CHECK(ours["type"] == "message");
  CHECK(ours["role"] == "assistant");
  // Nothing cached in this recording: all 59 prompt tokens are input.
  CHECK(ours["usage"] ==
        Json::parse(R"({"input_tokens":59,"cache_read_input_tokens":0,"output_tokens":8})"));
}

TEST_CASE("AnthropicDialect: reasoning, text and tool calls become thinking, text and tool_use "
          "blocks in that order") {
  const auto completion = Json::parse(R"({
      "id":"chatcmpl-x","object":"chat.completion","created":1,"model":"qwen",
      "choices":[{"index":0,"finish_reason":"tool_calls","message":{"role":"assistant",
        "content":"Let me look.","reasoning_content":"Need the weather.",
        "tool_calls":[
          {"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},
          {"type":"function","function":{"name":"get_weather","arguments":"not json"}},
          {"id":"call_3","type":"function","function":{"name":"now","arguments":"[1]"}},
          {"id":"call_4","type":"function","function":{"name":"now","arguments":""}}]}}],
      "usage":{"prompt_tokens":120,"completion_tokens":30,"total_tokens":150,
               "prompt_tokens_details":{"cached_tokens":100}}})");
  const auto ours = k_dialect.reply(completion, k_meta);
  CHECK(ours["content"] == Json::parse(R"([
      {"type":"thinking","thinking":"Need the weather.","signature":""},
      {"type":"text","text":"Let me look."},
      {"type":"tool_use","id":"call_1","name":"get_weather","input":{"city":"Paris"}},
      {"type":"tool_use","id":"toolu_abc123_1","name":"get_weather","input":{}},
      {"type":"tool_use","id":"call_3","name":"now","input":{}},
      {"type":"tool_use","id":"call_4","name":"now","input":{}}])"));
  CHECK(ours["stop_reason"] == "tool_use");
  CHECK(ours["usage"] ==
        Json::parse(R"({"input_tokens":20,"cache_read_input_tokens":100,"output_tokens":30})"));
}

TEST_CASE("AnthropicDialect: finish_reason becomes stop_reason") {
  auto reply_for = [](const Json& finish) {
    const Json completion = {{"id", "chatcmpl-x"},
                             {"object", "chat.completion"},
                             {"created", 1},
                             {"model", "m"},
                             {"choices",
                              {{{"index", 0},
                                {"finish_reason", finish},
                                {"message", {{"role", "assistant"}, {"content", "x"}}}}}}};
    return k_dialect.reply(completion, k_meta);
  };
  CHECK(reply_for("stop")["stop_reason"] == "end_turn");
  CHECK(reply_for("length")["stop_reason"] == "max_tokens");
  CHECK(reply_for("tool_calls")["stop_reason"] == "tool_use");
  CHECK(reply_for("content_filter")["stop_reason"] == "refusal");
  CHECK(reply_for(nullptr)["stop_reason"] == "end_turn");
  // Without usage the counts are 0, and a reply with no text has no blocks.
  const auto bare = reply_for("stop");
  CHECK(bare["usage"] ==
        Json::parse(R"({"input_tokens":0,"cache_read_input_tokens":0,"output_tokens":0})"));
  const Json empty = {{"id", "c"},
                      {"object", "chat.completion"},
                      {"created", 1},
                      {"model", "m"},
                      {"choices",
                       {{{"index", 0},
                         {"finish_reason", "stop"},
                         {"message", {{"role", "assistant"}, {"content", nullptr}}}}}}};
  CHECK(k_dialect.reply(empty, k_meta)["content"] == Json::array());
}

// ---- Stream ----

TEST_CASE("AnthropicDialect: recorded chat chunks give llama-server's event sequence for the "
          "same prompt") {
  SUBCASE("text") {
    const auto ours = encode(fixture_chunks("chat-stream-same.sse"));
    check_same_shape(ours, fixture_events("messages-stream.sse"));
    CHECK(names(ours) == std::vector<std::string>{
                             "message_start", "content_block_start", "content_block_delta",
                             "content_block_delta", "content_block_delta", "content_block_delta",
                             "content_block_stop", "message_delta", "message_stop"});
  }
  SUBCASE("tools offered, no content (the random model's newlines are not text to the tool "
          "parser)") {
    check_same_shape(encode(fixture_chunks("chat-tools-stream-same.sse")),
                     fixture_events("messages-tools-stream.sse"));
  }
  SUBCASE("a stop sequence matched") {
    const auto ours = encode(fixture_chunks("chat-stop-sequence-stream.sse"));
    const auto theirs = fixture_events("messages-stop-sequence-stream.sse");
    check_same_shape(ours, theirs);
    // llama-server knows which sequence matched; a chat reply does not say.
    CHECK(theirs.at(1).data.at("delta").at("stop_sequence") == "\n");
    CHECK(ours.at(1).data.at("delta").at("stop_sequence") == nullptr);
  }
}

TEST_CASE("AnthropicDialect: the usage-only chunk gives message_delta its token counts") {
  auto chunks = fixture_chunks("chat-stream-same.sse");
  const auto ours = encode(chunks);
  // The recording: 59 prompt tokens of which 58 were cached, 4 generated.
  CHECK(ours.front().data.at("message").at("usage") ==
        Json::parse(R"({"input_tokens":0,"cache_read_input_tokens":0,"output_tokens":0})"));
  CHECK(ours.at(ours.size() - 2).data.at("usage") ==
        Json::parse(R"({"input_tokens":1,"cache_read_input_tokens":58,"output_tokens":4})"));
  CHECK(ours.back().data == Json{{"type", "message_stop"}});
  // Without a usage chunk the counts are unknown: output_tokens 0.
  chunks.pop_back();
  CHECK(encode(chunks)[encode(chunks).size() - 2].data.at("usage") == Json{{"output_tokens", 0}});
}

TEST_CASE("AnthropicDialect: thinking, text and tool calls stream as blocks with increasing "
          "indices, and add up to the non-streamed reply") {
  const std::vector<Json> chunks = {
      chunk({{"role", "assistant"}, {"content", nullptr}}),
      chunk({{"reasoning_content", "Need "}}),
      chunk({{"reasoning_content", "weather."}}),
      chunk({{"content", "Let me "}}),
      chunk({{"content", "look."}}),
      chunk({{"tool_calls",
              {{{"index", 0},
                {"id", "call_1"},
                {"type", "function"},
                {"function", {{"name", "get_weather"}, {"arguments", ""}}}}}}}),
      chunk({{"tool_calls", {{{"index", 0}, {"function", {{"arguments", "{\"city\":"}}}}}}}),
      chunk({{"tool_calls", {{{"index", 0}, {"function", {{"arguments", "\"Paris\"}"}}}}}}}),
      // Ollama sends a whole call in one fragment, without an id.
      chunk(
          {{"tool_calls", {{{"index", 1}, {"function", {{"name", "now"}, {"arguments", "{}"}}}}}}}),
      chunk(Json::object(), "tool_calls"),
      usage_chunk(120, 30, 100),
  };
  const auto events = encode(chunks);
  std::vector<std::string> shape;
  for (const auto& [name, data] : events) {
    std::string s = name;
    if (data.contains("index")) {
      s += " " + std::to_string(data.at("index").get<int>());
    }
    if (data.contains("content_block")) {
      s += " " + data.at("content_block").at("type").get<std::string>();
    }
    if (data.contains("delta") && data.at("delta").contains("type")) {
      s += " " + data.at("delta").at("type").get<std::string>();
    }
    shape.push_back(s);
  }
  CHECK(shape == std::vector<std::string>{
                     "message_start",
                     "content_block_start 0 thinking",
                     "content_block_delta 0 thinking_delta",
                     "content_block_delta 0 thinking_delta",
                     "content_block_delta 0 signature_delta",
                     "content_block_stop 0",
                     "content_block_start 1 text",
                     "content_block_delta 1 text_delta",
                     "content_block_delta 1 text_delta",
                     "content_block_stop 1",
                     "content_block_start 2 tool_use",
                     "content_block_delta 2 input_json_delta",
                     "content_block_delta 2 input_json_delta",
                     "content_block_stop 2",
                     "content_block_start 3 tool_use",
                     "content_block_delta 3 input_json_delta",
                     "content_block_stop 3",
                     "message_delta",
                     "message_stop",
                 });
  CHECK(events.at(10).data.at("content_block") ==
        Json::parse(R"({"type":"tool_use","id":"call_1","name":"get_weather","input":{}})"));
  CHECK(events.at(14).data.at("content_block").at("id") == "toolu_abc123_1");

  // What an SDK rebuilds from the events is what reply() gives for the accumulated chunks.
  ask::core::ChunkAccumulator acc;
  for (const auto& c : chunks) {
    acc.add(*ask::core::parse_chat_chunk(c));
  }
  auto whole = ask::core::to_json(acc.result());
  whole["choices"][0]["message"]["tool_calls"][1]["id"] = ""; // as the stream had it
  auto expected = k_dialect.reply(whole, k_meta);
  CHECK(accumulate(events) == expected);
}

TEST_CASE("AnthropicDialect: the stream switches blocks whenever the kind changes") {
  const auto events = encode({chunk({{"content", "a"}}), chunk({{"reasoning_content", "hmm"}}),
                              chunk({{"content", "b"}, {"reasoning_content", ""}}),
                              chunk({{"content", ""}}), chunk(Json::object(), "stop")});
  const auto message = accumulate(events);
  CHECK(message["content"] == Json::parse(R"([{"type":"text","text":"a"},
      {"type":"thinking","thinking":"hmm","signature":""},{"type":"text","text":"b"}])"));
  CHECK(message["stop_reason"] == "end_turn");
}

TEST_CASE("AnthropicDialect: a late fragment of a closed tool call is dropped, not sent to "
          "another block") {
  const auto events = encode({
      chunk({{"tool_calls",
              {{{"index", 0}, {"id", "a"}, {"function", {{"name", "f"}, {"arguments", "{}"}}}}}}}),
      chunk({{"tool_calls",
              {{{"index", 1}, {"id", "b"}, {"function", {{"name", "g"}, {"arguments", "{}"}}}}}}}),
      chunk({{"tool_calls", {{{"index", 0}, {"function", {{"arguments", "  "}}}}}}}),
      chunk(Json::object(), "stop"),
  });
  const auto message = accumulate(events);
  CHECK(message["content"] == Json::parse(R"([
      {"type":"tool_use","id":"a","name":"f","input":{}},
      {"type":"tool_use","id":"b","name":"g","input":{}}])"));
  CHECK(message["stop_reason"] == "tool_use"); // tool calls seen, whatever finish_reason says
  CHECK(events.size() == 9);
}

TEST_CASE("AnthropicDialect: an empty stream still starts, ends and says why") {
  const auto events = encode({});
  CHECK(names(events) ==
        std::vector<std::string>{"message_start", "message_delta", "message_stop"});
  CHECK(events.at(0).data.at("message").at("id") == "msg_abc123");
  CHECK(events.at(0).data.at("message").at("model") == "fast-9b");
  CHECK(events.at(1).data.at("delta") ==
        Json::parse(R"({"stop_reason":"end_turn","stop_sequence":null})"));
}

TEST_CASE("AnthropicDialect: a failure mid-stream is an error event that ends the stream") {
  auto encoder = k_dialect.stream(k_meta);
  std::string out;
  encoder->chunk(chunk({{"content", "par"}}), out);
  encoder->fail(Error::upstream(502, "backend hung up"), out);
  const auto sent = out.size();
  encoder->chunk(chunk({{"content", "tial"}}), out);
  encoder->finish(out);
  CHECK(out.size() == sent); // nothing after the error
  const auto events = events_of(out);
  REQUIRE(events.size() == 4);
  CHECK(events.back().name == "error");
  CHECK(
      events.back().data ==
      Json::parse(R"({"type":"error","error":{"type":"api_error","message":"backend hung up"}})"));

  auto overloaded = k_dialect.stream(k_meta);
  std::string out2;
  overloaded->fail(Error::overloaded("queue full"), out2);
  CHECK(events_of(out2).at(0).data.at("error").at("type") == "overloaded_error");
  auto upstream_529 = k_dialect.stream(k_meta);
  std::string out3;
  upstream_529->chunk(chunk({{"content", "x"}}), out3);
  upstream_529->fail(Error::upstream(503, "loading model"), out3);
  CHECK(events_of(out3).back().data.at("error").at("type") == "overloaded_error");
}

TEST_CASE("AnthropicDialect: frames are SSE with the event name equal to the data's type") {
  auto encoder = k_dialect.stream(k_meta);
  std::string out;
  encoder->chunk(chunk({{"content", "line one\nline two"}}), out);
  encoder->finish(out);
  CHECK(out.starts_with("event: message_start\ndata: {"));
  CHECK(out.ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
  for (const auto& [name, data] : events_of(out)) {
    CHECK(data.at("type") == name);
  }
  CHECK(accumulate(events_of(out))["content"][0]["text"] == "line one\nline two");
}

// ---- Errors ----

TEST_CASE("AnthropicDialect: errors take Anthropic's type for the status") {
  CHECK(anthropic_error_type(400) == "invalid_request_error");
  CHECK(anthropic_error_type(401) == "authentication_error");
  CHECK(anthropic_error_type(402) == "billing_error");
  CHECK(anthropic_error_type(403) == "permission_error");
  CHECK(anthropic_error_type(404) == "not_found_error");
  CHECK(anthropic_error_type(413) == "request_too_large");
  CHECK(anthropic_error_type(422) == "invalid_request_error");
  CHECK(anthropic_error_type(429) == "rate_limit_error");
  CHECK(anthropic_error_type(500) == "api_error");
  CHECK(anthropic_error_type(502) == "api_error");
  CHECK(anthropic_error_type(503) == "overloaded_error");
  CHECK(anthropic_error_type(504) == "timeout_error");
  CHECK(anthropic_error_type(529) == "overloaded_error");
  CHECK(anthropic_error_type(0) == "api_error");
  CHECK(anthropic_error(404, "no model \"x\"") ==
        Json::parse(
            R"({"type":"error","error":{"type":"not_found_error","message":"no model \"x\""}})"));
}

TEST_CASE("AnthropicDialect: error_body keeps the chat error's message") {
  const auto from_chat =
      ask::core::to_json(ask::core::error_body_for(Error::bad_request("messages: bad")));
  CHECK(
      k_dialect.error_body(400, from_chat) ==
      Json::parse(
          R"({"type":"error","error":{"type":"invalid_request_error","message":"messages: bad"}})"));
  // llama-server's own error body, as recorded on its /v1/messages door.
  const auto recorded = fixture_json("error-no-messages.http");
  CHECK(k_dialect.error_body(500, recorded)["error"] ==
        Json::parse(R"({"type":"api_error","message":"'messages' is required"})"));
  CHECK(k_dialect.error_body(429, Json{{"error", "too many"}})["error"]["message"] == "too many");
  CHECK(k_dialect.error_body(502, Json::array())["error"] ==
        Json::parse(R"({"type":"api_error","message":"HTTP 502"})"));
  CHECK(k_dialect.error_body(502, Json{{"error", {{"message", 5}}}})["error"]["message"] ==
        "HTTP 502");
}

TEST_CASE("AnthropicDialect: message ids") {
  CHECK(anthropic_message_id("chatcmpl-abc") == "msg_abc");
  CHECK(anthropic_message_id("req-7") == "msg_req-7");
  CHECK(anthropic_message_id("") == "msg_");
}

} // namespace anthropic_reply_test
