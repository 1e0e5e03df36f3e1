// ResponsesDialect: Responses requests as chat requests (checked to parse as chat), chat
// replies and chunks as response objects and events, checked against llama-server's own
// /v1/responses recordings (tests/fixtures/llama-server/responses) and replayed the way the
// OpenAI SDKs' stream helpers accumulate them.
#include "proxy/dialect_responses.h"

#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "core/sse.h"
#include "core/test_fixtures.h"

using ask::core::ErrorKind;
using ask::core::Json;
using ask::core::testing::http_body;
using ask::core::testing::read_fixture;
using ask::proxy::DialectMeta;
using ask::proxy::ResponsesDialect;

// A named namespace around helpers and tests alike: in a unity build other tests' anonymous
// helpers (another k_meta) share this file's scope, and names found here hide them.
namespace responses_dialect_test {

const DialectMeta k_meta{"chatcmpl-abc123", 1700000000, "fast-9b"};

Json to_chat_ok(const Json& body) {
  const ResponsesDialect dialect;
  auto chat = dialect.to_openai(body);
  REQUIRE_MESSAGE(chat.has_value(), (chat ? "" : chat.error().message));
  // Whatever the door makes must be a chat request askd's own parser takes.
  const auto parsed = ask::core::parse_chat_request(*chat);
  REQUIRE_MESSAGE(parsed.has_value(), (parsed ? "" : parsed.error().message), "\n", chat->dump());
  return *chat;
}

// The error message of a request the door refuses; checks it is bad_request.
std::string refusal(const Json& body) {
  const ResponsesDialect dialect;
  auto chat = dialect.to_openai(body);
  REQUIRE_MESSAGE(!chat.has_value(), chat->dump());
  CHECK(chat.error().kind == ErrorKind::bad_request);
  return chat.error().message;
}

struct Event {
  std::string name;
  Json data;
};

std::vector<Event> events_of(const std::string& sse) {
  ask::core::SseParser parser;
  std::vector<Event> out;
  for (auto& event : parser.feed(sse)) {
    out.push_back({event.event, Json::parse(event.data)});
  }
  REQUIRE(parser.finish());
  return out;
}

std::vector<std::string> names_of(const std::vector<Event>& events) {
  std::vector<std::string> out;
  for (const auto& event : events) {
    out.push_back(event.name);
  }
  return out;
}

// Feeds `chunks` to a fresh encoder, then finish(); every event checked for the framing
// rules: event name = data.type, sequence numbers 0, 1, 2, … in order.
std::vector<Event> encode(const std::vector<Json>& chunks, const ResponsesDialect& dialect = {}) {
  auto encoder = dialect.stream(k_meta);
  std::string sse;
  for (const auto& chunk : chunks) {
    encoder->chunk(chunk, sse);
  }
  encoder->finish(sse);
  auto events = events_of(sse);
  for (std::size_t i = 0; i < events.size(); ++i) {
    CHECK(events[i].data.at("type") == events[i].name);
    CHECK(events[i].data.at("sequence_number") == i);
  }
  return events;
}

Json chunk_with(const Json& delta, const Json& finish_reason = nullptr) {
  return Json{{"id", "chatcmpl-abc123"},
              {"object", "chat.completion.chunk"},
              {"created", 1700000000},
              {"model", "fast-9b"},
              {"choices", {{{"index", 0}, {"delta", delta}, {"finish_reason", finish_reason}}}}};
}

Json usage_chunk(long long prompt, long long completion) {
  return Json{{"id", "chatcmpl-abc123"},
              {"object", "chat.completion.chunk"},
              {"created", 1700000000},
              {"model", "fast-9b"},
              {"choices", Json::array()},
              {"usage",
               {{"prompt_tokens", prompt},
                {"completion_tokens", completion},
                {"total_tokens", prompt + completion}}}};
}

// What the OpenAI SDKs' stream helpers (ResponseStreamState in openai-python, the same in
// openai-node) build from the events: a snapshot from response.created, items appended on
// output_item.added, parts and text placed by output_index and content_index. Returns the
// snapshot's output, to compare with the terminal event's.
Json accumulate_like_sdk(const std::vector<Event>& events) {
  Json snapshot;
  for (const auto& [name, data] : events) {
    if (name == "response.created") {
      snapshot = data.at("response");
    } else if (name == "response.output_item.added") {
      snapshot.at("output").push_back(data.at("item"));
    } else if (name == "response.content_part.added") {
      snapshot.at("output").at(data.at("output_index").get<std::size_t>())["content"].push_back(
          data.at("part"));
    } else if (name == "response.output_text.delta") {
      auto& part = snapshot.at("output")
                       .at(data.at("output_index").get<std::size_t>())
                       .at("content")
                       .at(data.at("content_index").get<std::size_t>());
      part["text"] = part.at("text").get<std::string>() + data.at("delta").get<std::string>();
    } else if (name == "response.function_call_arguments.delta") {
      auto& item = snapshot.at("output").at(data.at("output_index").get<std::size_t>());
      item["arguments"] =
          item.at("arguments").get<std::string>() + data.at("delta").get<std::string>();
    } else if (name == "response.output_item.done") {
      snapshot.at("output").at(data.at("output_index").get<std::size_t>()) = data.at("item");
    }
  }
  return snapshot.at("output");
}

// Every key of `theirs` is in `ours`, recursively through objects and through the first
// element of arrays of objects; `path` names where for failure messages.
void check_has_fields_of(const Json& ours, const Json& theirs, const std::string& path) {
  if (!theirs.is_object()) {
    if (theirs.is_array() && !theirs.empty() && theirs[0].is_object()) {
      REQUIRE_MESSAGE(ours.is_array(), path);
      REQUIRE_MESSAGE(!ours.empty(), path);
      check_has_fields_of(ours[0], theirs[0], path + "[0]");
    }
    return;
  }
  REQUIRE_MESSAGE(ours.is_object(), path);
  for (const auto& [key, value] : theirs.items()) {
    if (key == "timings") {
      continue; // llama-server's own statistics
    }
    CHECK_MESSAGE(ours.contains(key), path, ".", key, " missing");
    if (ours.contains(key)) {
      check_has_fields_of(ours[key], value, path + "." + key);
    }
  }
}

std::vector<Json> chat_chunks_fixture(const std::string& name) {
  std::vector<Json> out;
  ask::core::SseParser parser;
  for (auto& event : parser.feed(http_body(read_fixture(name)))) {
    if (!event.is_done()) {
      out.push_back(Json::parse(event.data));
    }
  }
  return out;
}

// ---- request -----------------------------------------------------------------------------

TEST_CASE("ResponsesDialect: the recorded request becomes the chat request llama-server made "
          "of it") {
  // tests/fixtures/llama-server/responses/README.md: stream.sse and chat-stream.sse.
  const auto chat = to_chat_ok(Json::parse(R"({"model":"tiny",
      "instructions":"You are a helpful assistant.",
      "input":"Hello! What is the capital of France?","max_output_tokens":4,"temperature":0,
      "stream":true})"));
  CHECK(chat == Json::parse(R"({"model":"tiny","messages":[
      {"role":"system","content":"You are a helpful assistant."},
      {"role":"user","content":"Hello! What is the capital of France?"}],
      "max_tokens":4,"temperature":0,"stream":true})"));
}

TEST_CASE("ResponsesDialect: settings map to chat fields, stateless ones are dropped, others "
          "pass through") {
  const auto chat = to_chat_ok(Json::parse(R"({"model":"m","input":"hi","top_p":0.5,
      "parallel_tool_calls":false,"reasoning":{"effort":"high","summary":"auto"},
      "store":true,"metadata":{"k":"v"},"include":["reasoning.encrypted_content"],
      "truncation":"auto","service_tier":"auto","prompt_cache_key":"x","user":"u1",
      "stream_options":{"include_obfuscation":false},"previous_response_id":null,
      "background":false,"top_k":40,"seed":7,"max_output_tokens":16.0})"));
  CHECK(chat == Json::parse(R"({"model":"m","messages":[{"role":"user","content":"hi"}],
      "top_p":0.5,"parallel_tool_calls":false,"reasoning_effort":"high","user":"u1",
      "top_k":40,"seed":7,"max_tokens":16})"));
}

TEST_CASE("ResponsesDialect: message items with text and image parts; developer is system") {
  const auto chat = to_chat_ok(Json::parse(R"({"model":"m","input":[
      {"role":"developer","content":"Be brief."},
      {"type":"message","role":"system","content":[{"type":"input_text","text":"Rule."}]},
      {"type":"message","role":"user","id":"x","status":"completed","content":[
        {"type":"input_text","text":"What is this?"},
        {"type":"input_image","image_url":"data:image/png;base64,AAAA","detail":"low"}]},
      {"role":"assistant","content":[{"type":"output_text","text":"A ","annotations":[]},
                                     {"type":"output_text","text":"cat."}]},
      {"role":"user","content":"Sure?"},
      {"role":"assistant","content":[{"type":"refusal","refusal":"No comment."}]}]})"));
  CHECK(chat.at("messages") == Json::parse(R"([
      {"role":"system","content":"Be brief."},
      {"role":"system","content":[{"type":"text","text":"Rule."}]},
      {"role":"user","content":[{"type":"text","text":"What is this?"},
        {"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA","detail":"low"}}]},
      {"role":"assistant","content":"A cat."},
      {"role":"user","content":"Sure?"},
      {"role":"assistant","content":"No comment."}])"));
}

TEST_CASE("ResponsesDialect: one agent turn (reasoning, text, calls) is one assistant message; "
          "outputs are tool messages") {
  const auto chat = to_chat_ok(Json::parse(R"({"model":"m","input":[
      {"role":"user","content":"Weather in Paris and Rome?"},
      {"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"Two calls."}],
       "content":[{"type":"reasoning_text","text":"I need two calls."}],
       "encrypted_content":"opaque"},
      {"type":"message","role":"assistant","content":[{"type":"output_text","text":"Checking."}]},
      {"type":"function_call","id":"fc_1","call_id":"call_1","name":"get_weather",
       "arguments":"{\"city\":\"Paris\"}","status":"completed"},
      {"type":"function_call","call_id":"call_2","name":"get_weather",
       "arguments":"{\"city\":\"Rome\"}"},
      {"type":"function_call_output","call_id":"call_1","output":"18C"},
      {"type":"function_call_output","call_id":"call_2",
       "output":[{"type":"input_text","text":"21C"}]},
      {"type":"function_call","call_id":"call_3","name":"get_time","arguments":""},
      {"type":"function_call_output","call_id":"call_3","output":"noon"}]})"));
  CHECK(chat.at("messages") == Json::parse(R"([
      {"role":"user","content":"Weather in Paris and Rome?"},
      {"role":"assistant","reasoning_content":"I need two calls.","content":"Checking.",
       "tool_calls":[
         {"id":"call_1","type":"function",
          "function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},
         {"id":"call_2","type":"function",
          "function":{"name":"get_weather","arguments":"{\"city\":\"Rome\"}"}}]},
      {"role":"tool","tool_call_id":"call_1","content":"18C"},
      {"role":"tool","tool_call_id":"call_2","content":[{"type":"text","text":"21C"}]},
      {"role":"assistant","content":null,"tool_calls":[
         {"id":"call_3","type":"function","function":{"name":"get_time","arguments":""}}]},
      {"role":"tool","tool_call_id":"call_3","content":"noon"}])"));
}

TEST_CASE("ResponsesDialect: reasoning alone makes an assistant message with empty content; "
          "a summary stands in for missing text; empty reasoning is dropped") {
  const auto chat = to_chat_ok(Json::parse(R"({"model":"m","input":[
      {"role":"user","content":"a"},
      {"type":"reasoning","summary":[{"type":"summary_text","text":"One."},
                                     {"type":"summary_text","text":"Two."}]},
      {"role":"user","content":"b"},
      {"type":"reasoning","summary":[],"encrypted_content":"opaque"},
      {"role":"assistant","content":"c"}]})"));
  CHECK(chat.at("messages") == Json::parse(R"([
      {"role":"user","content":"a"},
      {"role":"assistant","reasoning_content":"One.\n\nTwo.","content":""},
      {"role":"user","content":"b"},
      {"role":"assistant","content":"c"}])"));

  const auto two = to_chat_ok(Json::parse(R"({"model":"m","input":[
      {"role":"user","content":"a"},
      {"type":"reasoning","summary":[],"content":[{"type":"reasoning_text","text":"First."}]},
      {"type":"reasoning","summary":[],"content":[{"type":"reasoning_text","text":"Second."}]},
      {"type":"function_call","call_id":"c1","name":"f","arguments":"{}"}]})"));
  CHECK(two.at("messages")[1] == Json::parse(R"({"role":"assistant",
      "reasoning_content":"First.\n\nSecond.","content":null,"tool_calls":[
        {"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]})"));
}

TEST_CASE("ResponsesDialect: function tools, tool_choice and text.format") {
  const auto chat = to_chat_ok(Json::parse(R"({"model":"m","input":"hi",
      "tools":[{"type":"function","name":"get_weather","description":"Weather",
                "parameters":{"type":"object","properties":{"city":{"type":"string"}}},
                "strict":true},
               {"type":"function","name":"now","parameters":null,"strict":null}],
      "tool_choice":{"type":"function","name":"get_weather"},
      "text":{"format":{"type":"json_schema","name":"w","strict":true,"description":"d",
                        "schema":{"type":"object"}},"verbosity":"low"}})"));
  CHECK(chat.at("tools") == Json::parse(R"([
      {"type":"function","function":{"name":"get_weather","description":"Weather",
        "parameters":{"type":"object","properties":{"city":{"type":"string"}}},"strict":true}},
      {"type":"function","function":{"name":"now"}}])"));
  CHECK(chat.at("tool_choice") ==
        Json::parse(R"({"type":"function","function":{"name":"get_weather"}})"));
  CHECK(chat.at("response_format") == Json::parse(R"({"type":"json_schema","json_schema":
      {"name":"w","strict":true,"description":"d","schema":{"type":"object"}}})"));

  for (const auto* mode : {"none", "auto", "required"}) {
    const auto with_mode = to_chat_ok(Json{{"model", "m"}, {"input", "hi"}, {"tool_choice", mode}});
    CHECK(with_mode.at("tool_choice") == mode);
  }
  CHECK(to_chat_ok(Json::parse(R"({"model":"m","input":"hi",
            "text":{"format":{"type":"json_object"}}})"))
            .at("response_format") == Json::parse(R"({"type":"json_object"})"));
  const auto plain = to_chat_ok(Json::parse(R"({"model":"m","input":"hi","tools":[],
      "text":{"format":{"type":"text"}}})"));
  CHECK_FALSE(plain.contains("tools"));
  CHECK_FALSE(plain.contains("response_format"));
  CHECK(to_chat_ok(Json::parse(R"({"model":"m","input":"hi",
            "text":{"format":{"type":"json_schema","schema":{}}}})"))
            .at("response_format")
            .at("json_schema")
            .at("name") == "response");
}

TEST_CASE("ResponsesDialect: stateful and built-in features are refused with what to do") {
  const auto previous = refusal(Json::parse(R"({"model":"m","input":"hi",
      "previous_response_id":"resp_1"})"));
  CHECK(previous.starts_with("previous_response_id: "));
  CHECK(previous.find("does not store responses") != std::string::npos);
  CHECK(previous.find("whole conversation in input") != std::string::npos);
  CHECK(refusal(Json::parse(R"({"model":"m","input":"hi","conversation":"conv_1"})"))
            .starts_with("conversation: "));
  CHECK(refusal(Json::parse(R"({"model":"m","input":"hi","background":true})"))
            .starts_with("background: "));
  CHECK(refusal(Json::parse(R"({"model":"m","input":"hi","prompt":{"id":"p"}})"))
            .starts_with("prompt: "));
  const auto search = refusal(Json::parse(R"({"model":"m","input":"hi",
      "tools":[{"type":"function","name":"f"},{"type":"web_search"}]})"));
  CHECK(search.starts_with("tools[1].type: "));
  CHECK(search.find("'web_search'") != std::string::npos);
  CHECK(refusal(Json::parse(R"({"model":"m","input":"hi",
            "tool_choice":{"type":"web_search_preview"}})"))
            .find("'web_search_preview'") != std::string::npos);
  const auto file = refusal(Json::parse(R"({"model":"m","input":[{"role":"user","content":[
      {"type":"input_text","text":"see"},{"type":"input_image","file_id":"file-1"}]}]})"));
  CHECK(file.starts_with("input[0].content[1].file_id: "));
  CHECK(file.find("image_url") != std::string::npos);
}

TEST_CASE("ResponsesDialect: malformed requests are bad_request naming the field") {
  struct Case {
    const char* body;
    const char* path; // what the message starts with
  };
  const Case cases[] = {
      {R"([1])", "request body: expected a JSON object"},
      {R"({"model":"m"})", "input: required"},
      {R"({"model":"m","input":42})",
       "input: expected a string or an array of items, got a number"},
      {R"({"model":"m","input":[]})", "input: "},
      {R"({"model":"m","input":[5]})", "input[0]: expected an input item object"},
      {R"({"model":"m","input":[{"content":"x"}]})", "input[0]: "},
      {R"({"model":"m","input":[{"type":7}]})", "input[0].type: expected a string"},
      {R"({"model":"m","input":[{"role":"tool","content":"x"}]})", "input[0].role: "},
      {R"({"model":"m","input":[{"role":3,"content":"x"}]})", "input[0].role: expected a string"},
      {R"({"model":"m","input":[{"role":"user"}]})", "input[0].content: required"},
      {R"({"model":"m","input":[{"role":"user","content":5}]})", "input[0].content: expected"},
      {R"({"model":"m","input":[{"role":"user","content":[]}]})", "input[0].content: "},
      {R"({"model":"m","input":[{"role":"user","content":["x"]}]})", "input[0].content[0]: "},
      {R"({"model":"m","input":[{"role":"user","content":[{}]}]})",
       "input[0].content[0].type: required"},
      {R"({"model":"m","input":[{"role":"user","content":[{"type":"input_text"}]}]})",
       "input[0].content[0].text: required"},
      {R"({"model":"m","input":[{"role":"user","content":[{"type":"input_text","text":1}]}]})",
       "input[0].content[0].text: expected a string, got a number"},
      {R"({"model":"m","input":[{"role":"user","content":[{"type":"input_image"}]}]})",
       "input[0].content[0].image_url: required"},
      {R"({"model":"m","input":[{"role":"user","content":[{"type":"input_image",
          "image_url":{"url":"x"}}]}]})",
       "input[0].content[0].image_url: expected a string, got an object"},
      {R"({"model":"m","input":[{"role":"user","content":[{"type":"input_image",
          "image_url":"x","detail":5}]}]})",
       "input[0].content[0].detail: "},
      {R"({"model":"m","input":[{"role":"user","content":[{"type":"input_file",
          "file_id":"f"}]}]})",
       "input[0].content[0].type: 'input_file'"},
      {R"({"model":"m","input":[{"role":"user","content":[{"type":"output_text",
          "text":"x"}]}]})",
       "input[0].content[0].type: 'output_text' parts belong in assistant messages"},
      {R"({"model":"m","input":[{"role":"user","content":[{"type":"video"}]}]})",
       "input[0].content[0].type: unknown content part type 'video'"},
      {R"({"model":"m","input":[{"role":"assistant","content":[{"type":"input_image",
          "image_url":"x"}]}]})",
       "input[0].content[0].type: "},
      {R"({"model":"m","input":[{"role":"assistant","content":[{"type":"refusal"}]}]})",
       "input[0].content[0].refusal: required"},
      {R"({"model":"m","input":[{"role":"assistant","content":[7]}]})", "input[0].content[0]: "},
      {R"({"model":"m","input":[{"type":"function_call","name":"f","arguments":"{}"}]})",
       "input[0].call_id: required"},
      {R"({"model":"m","input":[{"type":"function_call","call_id":"c","arguments":"{}"}]})",
       "input[0].name: required"},
      {R"({"model":"m","input":[{"type":"function_call","call_id":"c","name":"f",
          "arguments":{"a":1}}]})",
       "input[0].arguments: expected a string, got an object"},
      {R"({"model":"m","input":[{"type":"function_call","call_id":"","name":"f",
          "arguments":"{}"}]})",
       "input[0].call_id: must not be empty"},
      {R"({"model":"m","input":[{"type":"function_call_output","call_id":"c"}]})",
       "input[0].output: required"},
      {R"({"model":"m","input":[{"type":"function_call_output","call_id":"c","output":5}]})",
       "input[0].output: expected"},
      {R"({"model":"m","input":[{"type":"function_call_output","call_id":"c",
          "output":[{"type":"input_image","image_url":"x"}]}]})",
       "input[0].output[0]: "},
      {R"({"model":"m","input":[{"type":"function_call_output","output":"x"}]})",
       "input[0].call_id: required"},
      {R"({"model":"m","input":[{"type":"reasoning","summary":"x"}]})",
       "input[0].summary: expected an array"},
      {R"({"model":"m","input":[{"type":"reasoning","summary":[{"type":"summary_text"}]}]})",
       "input[0].summary[0].text: required"},
      {R"({"model":"m","input":[{"type":"reasoning","content":[3]}]})",
       "input[0].content[0]: expected an object"},
      {R"({"model":"m","input":[{"type":"item_reference","id":"msg_1"}]})",
       "input[0].type: askd does not store responses"},
      {R"({"model":"m","input":[{"type":"web_search_call","id":"ws_1"}]})",
       "input[0].type: unsupported item type 'web_search_call'"},
      {R"({"model":"m","input":"hi","instructions":5})", "instructions: expected a string"},
      {R"({"model":5,"input":"hi"})", "model: expected a string"},
      {R"({"model":"m","input":"hi","stream":"yes"})", "stream: expected a boolean"},
      {R"({"model":"m","input":"hi","parallel_tool_calls":1})", "parallel_tool_calls: "},
      {R"({"model":"m","input":"hi","temperature":"1"})", "temperature: expected a number"},
      {R"({"model":"m","input":"hi","max_output_tokens":0})", "max_output_tokens: "},
      {R"({"model":"m","input":"hi","max_output_tokens":1.5})", "max_output_tokens: "},
      {R"({"model":"m","input":"hi","max_output_tokens":"16"})", "max_output_tokens: "},
      {R"({"model":"m","input":"hi","max_output_tokens":-3})", "max_output_tokens: "},
      {R"({"model":"m","input":"hi","reasoning":"high"})", "reasoning: expected an object"},
      {R"({"model":"m","input":"hi","reasoning":{"effort":1}})", "reasoning.effort: "},
      {R"({"model":"m","input":"hi","user":1})", "user: expected a string"},
      {R"({"model":"m","input":"hi","background":"no"})", "background: expected a boolean"},
      {R"({"model":"m","input":"hi","tools":{}})", "tools: expected an array"},
      {R"({"model":"m","input":"hi","tools":["f"]})", "tools[0]: "},
      {R"({"model":"m","input":"hi","tools":[{"name":"f"}]})", "tools[0].type: required"},
      {R"({"model":"m","input":"hi","tools":[{"type":"function"}]})", "tools[0].name: required"},
      {R"({"model":"m","input":"hi","tools":[{"type":"function","name":"f",
          "parameters":"{}"}]})",
       "tools[0].parameters: expected a JSON schema object, got a string"},
      {R"({"model":"m","input":"hi","tools":[{"type":"function","name":"f","strict":"yes"}]})",
       "tools[0].strict: "},
      {R"({"model":"m","input":"hi","tools":[{"type":"function","name":"f",
          "description":3}]})",
       "tools[0].description: "},
      {R"({"model":"m","input":"hi","tool_choice":"sometimes"})", "tool_choice: "},
      {R"({"model":"m","input":"hi","tool_choice":3})", "tool_choice: expected"},
      {R"({"model":"m","input":"hi","tool_choice":{"type":"function"}})",
       "tool_choice.name: required"},
      {R"({"model":"m","input":"hi","tool_choice":{"type":"allowed_tools","mode":"auto",
          "tools":[]}})",
       "tool_choice.type: 'allowed_tools'"},
      {R"({"model":"m","input":"hi","text":"json"})", "text: expected an object"},
      {R"({"model":"m","input":"hi","text":{"format":"json"}})", "text.format: expected an object"},
      {R"({"model":"m","input":"hi","text":{"format":{"type":"yaml"}}})", "text.format.type: "},
      {R"({"model":"m","input":"hi","text":{"format":{"type":"json_schema","name":"x"}}})",
       "text.format.schema: required"},
      {R"({"model":"m","input":"hi","text":{"format":{"type":"json_schema","schema":[]}}})",
       "text.format.schema: expected a JSON schema object"},
      {R"({"model":"m","input":"hi","text":{"format":{"type":"json_schema","schema":{},
          "name":1}}})",
       "text.format.name: "},
      {R"({"model":"m","input":"hi","text":{"format":{"type":"json_schema","schema":{},
          "strict":1}}})",
       "text.format.strict: "},
  };
  for (const auto& c : cases) {
    CAPTURE(c.body);
    CHECK(refusal(Json::parse(c.body)).starts_with(c.path));
  }
}

// ---- reply -------------------------------------------------------------------------------

TEST_CASE("ResponsesDialect: the recorded chat reply becomes a response with every field "
          "llama-server's door writes") {
  // chat-nonstream.http and nonstream.http come from the same request to the same model at
  // temperature 0, so the text and the token counts are the same too.
  const auto completion =
      Json::parse(http_body(read_fixture("llama-server/responses/chat-nonstream.http")));
  const auto theirs = Json::parse(http_body(read_fixture("llama-server/responses/nonstream.http")));
  const auto ours = ResponsesDialect().reply(completion, k_meta);

  check_has_fields_of(ours, theirs, "response");
  CHECK(ours.at("output").size() == 1);
  CHECK(ours.at("output")[0].at("content")[0].at("text") ==
        theirs.at("output")[0].at("content")[0].at("text"));
  CHECK(ours.at("usage").at("input_tokens") == theirs.at("usage").at("input_tokens"));
  CHECK(ours.at("usage").at("output_tokens") == theirs.at("usage").at("output_tokens"));
  CHECK(ours.at("id") == "resp_abc123");
  CHECK(ours.at("object") == "response");
  CHECK(ours.at("created_at") == 1700000000);
  CHECK(ours.at("model") == "fast-9b");
  CHECK(ours.at("output")[0].at("id") == "msg_abc123");
  // The reply stopped at max_tokens: OpenAI says so (llama-server says "completed").
  CHECK(ours.at("status") == "incomplete");
  CHECK(ours.at("incomplete_details") == Json::parse(R"({"reason":"max_output_tokens"})"));
  CHECK(ours.at("output")[0].at("status") == "incomplete");
  CHECK(ours.at("completed_at").is_null());
  CHECK(ours.at("usage") == Json::parse(R"({"input_tokens":59,"output_tokens":8,
      "total_tokens":67,"input_tokens_details":{"cached_tokens":58},
      "output_tokens_details":{"reasoning_tokens":0}})"));
}

TEST_CASE("ResponsesDialect: reasoning, text and tool calls become output items in order") {
  const auto completion = Json::parse(R"({"id":"chatcmpl-x","object":"chat.completion",
      "created":1,"model":"backend-model","choices":[{"index":0,"finish_reason":"tool_calls",
      "message":{"role":"assistant","reasoning_content":"Think.","content":"Calling.",
        "tool_calls":[
          {"id":"call_A","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}},
          {"type":"function","function":{"name":"g","arguments":"{}"}}]}}],
      "usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15,
               "completion_tokens_details":{"reasoning_tokens":2}}})");
  const auto ours = ResponsesDialect().reply(completion, k_meta);
  CHECK(ours.at("status") == "completed");
  CHECK(ours.at("incomplete_details").is_null());
  CHECK(ours.at("error").is_null());
  CHECK(ours.at("completed_at") == 1700000000);
  CHECK(ours.at("model") == "fast-9b"); // the logical model, not the backend's file name
  CHECK(ours.at("output") == Json::parse(R"([
      {"id":"rs_abc123","type":"reasoning","status":"completed","summary":[],
       "content":[{"type":"reasoning_text","text":"Think."}]},
      {"id":"msg_abc123","type":"message","status":"completed","role":"assistant",
       "content":[{"type":"output_text","text":"Calling.","annotations":[],"logprobs":[]}]},
      {"id":"fc_abc123_0","type":"function_call","status":"completed","call_id":"call_A",
       "name":"f","arguments":"{\"a\":1}"},
      {"id":"fc_abc123_1","type":"function_call","status":"completed",
       "call_id":"call_abc123_1","name":"g","arguments":"{}"}])"));
  CHECK(ours.at("usage").at("output_tokens_details").at("reasoning_tokens") == 2);
  CHECK(ours.at("usage").at("input_tokens_details").at("cached_tokens") == 0);
}

TEST_CASE("ResponsesDialect: replies echo the request's settings, or the defaults") {
  const auto completion = Json::parse(R"({"id":"x","object":"chat.completion","created":1,
      "model":"m","choices":[{"index":0,"finish_reason":"stop",
      "message":{"role":"assistant","content":"ok"}}]})");
  const auto plain = ResponsesDialect().reply(completion, k_meta);
  CHECK(plain.at("tools") == Json::array());
  CHECK(plain.at("tool_choice") == "auto");
  CHECK(plain.at("instructions").is_null());
  CHECK(plain.at("previous_response_id").is_null());
  CHECK(plain.at("parallel_tool_calls") == true);
  CHECK(plain.at("text") == Json::parse(R"({"format":{"type":"text"}})"));
  CHECK(plain.at("usage").is_null()); // the backend sent none

  const auto request = Json::parse(R"({"model":"m","input":"hi","instructions":"Be brief.",
      "tools":[{"type":"function","name":"f"}],"tool_choice":"required","temperature":0.2,
      "max_output_tokens":64,"reasoning":{"effort":"low","summary":5},
      "text":{"format":{"type":"json_object"}},"metadata":{"k":"v"},"top_p":"bad"})");
  const auto echoed = ResponsesDialect(request).reply(completion, k_meta);
  CHECK(echoed.at("instructions") == "Be brief.");
  CHECK(echoed.at("tools") == request.at("tools"));
  CHECK(echoed.at("tool_choice") == "required");
  CHECK(echoed.at("temperature") == 0.2);
  CHECK(echoed.at("max_output_tokens") == 64);
  CHECK(echoed.at("reasoning") == Json::parse(R"({"effort":"low","summary":null})"));
  CHECK(echoed.at("text") == request.at("text"));
  CHECK(echoed.at("metadata") == request.at("metadata"));
  CHECK(echoed.at("top_p").is_null()); // a wrong type is echoed as the default
  CHECK(ResponsesDialect(Json("not an object")).reply(completion, k_meta).at("tools") ==
        Json::array());
}

TEST_CASE("ResponsesDialect: empty text makes no message item; content_filter is incomplete") {
  const auto completion = Json::parse(R"({"id":"x","object":"chat.completion","created":1,
      "model":"m","choices":[{"index":0,"finish_reason":"content_filter",
      "message":{"role":"assistant","content":""}}]})");
  const auto ours = ResponsesDialect().reply(completion, k_meta);
  CHECK(ours.at("output") == Json::array());
  CHECK(ours.at("status") == "incomplete");
  CHECK(ours.at("incomplete_details").at("reason") == "content_filter");
}

// ---- stream ------------------------------------------------------------------------------

TEST_CASE("ResponsesDialect: the recorded chat chunks give llama-server's event sequence with "
          "its fields and OpenAI's") {
  const auto chunks = chat_chunks_fixture("llama-server/responses/chat-stream.sse");
  const auto theirs = events_of(http_body(read_fixture("llama-server/responses/stream.sse")));
  const auto ours = encode(chunks);

  auto expected = names_of(theirs);
  // llama-server reports a reply cut at max_output_tokens as completed; OpenAI, and askd, as
  // incomplete.
  REQUIRE(expected.back() == "response.completed");
  expected.back() = "response.incomplete";
  REQUIRE(names_of(ours) == expected);

  for (std::size_t i = 0; i < ours.size(); ++i) {
    CAPTURE(ours[i].name);
    check_has_fields_of(ours[i].data, theirs[i].data, "data");
    for (const auto* key : {"delta", "text"}) {
      if (theirs[i].data.contains(key)) {
        CHECK(ours[i].data.at(key) == theirs[i].data.at(key));
      }
    }
  }
  // What OpenAI's events carry beyond llama-server's.
  for (const auto& event : ours) {
    if (event.name.starts_with("response.output_") || event.name.starts_with("response.content_")) {
      CHECK(event.data.at("output_index") == 0);
    }
  }
  CHECK(ours[0].data.at("response").at("output") == Json::array());
  CHECK(ours[0].data.at("response").at("model") == "fast-9b");
  const auto& final_response = ours.back().data.at("response");
  CHECK(final_response.at("status") == "incomplete");
  CHECK(final_response.at("incomplete_details").at("reason") == "max_output_tokens");
  CHECK(final_response.at("usage").at("input_tokens") == 59);
  CHECK(final_response.at("usage").at("output_tokens") == 4);
  CHECK(final_response.at("usage").at("total_tokens") == 63);
  CHECK(final_response.at("output")[0].at("content")[0].at("text") == "\n\n\n\n");
  CHECK(accumulate_like_sdk(ours) == final_response.at("output"));
}

TEST_CASE("ResponsesDialect: streamed tool calls become function_call items, arguments in "
          "deltas, closed in order") {
  const std::vector<Json> chunks{
      chunk_with(Json::parse(R"({"role":"assistant","content":null})")),
      chunk_with(Json::parse(R"({"tool_calls":[{"index":0,"id":"call_A","type":"function",
          "function":{"name":"get_weather","arguments":""}}]})")),
      chunk_with(
          Json::parse(R"({"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]})")),
      chunk_with(
          Json::parse(R"({"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]})")),
      chunk_with(Json::parse(R"({"tool_calls":[{"index":1,"id":"call_B","type":"function",
          "function":{"name":"get_time","arguments":"{}"}}]})")),
      chunk_with(Json::object(), "tool_calls"),
      usage_chunk(20, 9),
  };
  const auto ours = encode(chunks);
  CHECK(names_of(ours) == std::vector<std::string>{
                              "response.created",
                              "response.in_progress",
                              "response.output_item.added",
                              "response.function_call_arguments.delta",
                              "response.function_call_arguments.delta",
                              "response.function_call_arguments.done",
                              "response.output_item.done",
                              "response.output_item.added",
                              "response.function_call_arguments.delta",
                              "response.function_call_arguments.done",
                              "response.output_item.done",
                              "response.completed",
                          });
  // llama-server's function_call item fields (server-task.cpp, to_json_oaicompat_resp).
  const auto& added = ours[2].data;
  CHECK(added.at("output_index") == 0);
  CHECK(added.at("item") == Json::parse(R"({"id":"fc_abc123_0","type":"function_call",
      "status":"in_progress","call_id":"call_A","name":"get_weather","arguments":""})"));
  CHECK(ours[3].data.at("item_id") == "fc_abc123_0");
  CHECK(ours[5].data.at("arguments") == "{\"city\":\"Paris\"}");
  CHECK(ours[5].data.at("name") == "get_weather");
  CHECK(ours[7].data.at("output_index") == 1);
  CHECK(ours[8].data.at("item_id") == "fc_abc123_1");

  const auto& final_response = ours.back().data.at("response");
  CHECK(final_response.at("status") == "completed");
  CHECK(final_response.at("output") == Json::parse(R"([
      {"id":"fc_abc123_0","type":"function_call","status":"completed","call_id":"call_A",
       "name":"get_weather","arguments":"{\"city\":\"Paris\"}"},
      {"id":"fc_abc123_1","type":"function_call","status":"completed","call_id":"call_B",
       "name":"get_time","arguments":"{}"}])"));
  CHECK(final_response.at("usage").at("total_tokens") == 29);
  CHECK(accumulate_like_sdk(ours) == final_response.at("output"));
}

TEST_CASE("ResponsesDialect: streamed reasoning, then text, then a call: three items") {
  const std::vector<Json> chunks{
      chunk_with(Json::parse(R"({"role":"assistant","content":null})")),
      chunk_with(Json::parse(R"({"reasoning_content":"Let me "})")),
      chunk_with(Json::parse(R"({"reasoning_content":"think."})")),
      chunk_with(Json::parse(R"({"content":"Sure"})")),
      chunk_with(Json::parse(R"({"content":""})")),
      chunk_with(Json::parse(R"({"content":"."})")),
      chunk_with(Json::parse(R"({"tool_calls":[{"index":0,"function":{"name":"f",
          "arguments":"{}"}}]})")),
      chunk_with(Json::object(), "tool_calls"),
      usage_chunk(3, 4),
  };
  const auto ours = encode(chunks);
  CHECK(names_of(ours) == std::vector<std::string>{
                              "response.created",
                              "response.in_progress",
                              "response.output_item.added",
                              "response.reasoning_text.delta",
                              "response.reasoning_text.delta",
                              "response.reasoning_text.done",
                              "response.output_item.done",
                              "response.output_item.added",
                              "response.content_part.added",
                              "response.output_text.delta",
                              "response.output_text.delta",
                              "response.output_text.done",
                              "response.content_part.done",
                              "response.output_item.done",
                              "response.output_item.added",
                              "response.function_call_arguments.delta",
                              "response.function_call_arguments.done",
                              "response.output_item.done",
                              "response.completed",
                          });
  CHECK(ours[2].data.at("item").at("id") == "rs_abc123");
  CHECK(ours[2].data.at("item").at("type") == "reasoning");
  CHECK(ours[5].data.at("text") == "Let me think.");
  CHECK(ours[7].data.at("output_index") == 1);
  CHECK(ours[11].data.at("text") == "Sure.");
  // The call came without an id: askd makes one.
  CHECK(ours[14].data.at("item").at("call_id") == "call_abc123_0");
  const auto& output = ours.back().data.at("response").at("output");
  REQUIRE(output.size() == 3);
  CHECK(output[0].at("content") == Json::parse(R"([{"type":"reasoning_text",
      "text":"Let me think."}])"));
  CHECK(output[1].at("content")[0].at("text") == "Sure.");
  CHECK(output[2].at("name") == "f");
}

TEST_CASE("ResponsesDialect: a stream with no chunks still opens and completes the response") {
  const auto ours = encode({});
  CHECK(names_of(ours) ==
        std::vector<std::string>{"response.created", "response.in_progress", "response.completed"});
  CHECK(ours.back().data.at("response").at("output") == Json::array());
  CHECK(ours.back().data.at("response").at("usage").is_null());
  CHECK(ours[0].data.at("response").at("status") == "in_progress");
}

TEST_CASE("ResponsesDialect: a chunk that is not a chat chunk adds no events") {
  const auto ours = encode(
      {Json(5), Json::parse(R"({"choices":"x"})"), chunk_with(Json::parse(R"({"content":"a"})"))});
  CHECK(names_of(ours) ==
        std::vector<std::string>{"response.created", "response.in_progress",
                                 "response.output_item.added", "response.content_part.added",
                                 "response.output_text.delta", "response.output_text.done",
                                 "response.content_part.done", "response.output_item.done",
                                 "response.completed"});
}

TEST_CASE("ResponsesDialect: a failure mid-stream sends error and response.failed with the "
          "output so far") {
  const ResponsesDialect dialect;
  auto encoder = dialect.stream(k_meta);
  std::string sse;
  encoder->chunk(chunk_with(Json::parse(R"({"role":"assistant","content":"Hel"})")), sse);
  encoder->fail(ask::core::Error::timeout("backend stalled"), sse);
  const auto events = events_of(sse);
  REQUIRE(names_of(events) ==
          std::vector<std::string>{"response.created", "response.in_progress",
                                   "response.output_item.added", "response.content_part.added",
                                   "response.output_text.delta", "error", "response.failed"});
  CHECK(events[5].data.at("message") == "backend stalled");
  CHECK(events[5].data.at("code") == "timeout");
  CHECK(events[5].data.at("param").is_null());
  CHECK(events[5].data.at("sequence_number") == 5);
  const auto& response = events[6].data.at("response");
  CHECK(response.at("status") == "failed");
  CHECK(response.at("error") ==
        Json::parse(R"({"code":"server_error","message":"backend stalled"})"));
  CHECK(response.at("output")[0].at("status") == "incomplete");
  CHECK(response.at("output")[0].at("content")[0].at("text") == "Hel");

  auto overloaded = dialect.stream(k_meta);
  std::string early;
  overloaded->fail(ask::core::Error::overloaded("queue full"), early);
  const auto early_events = events_of(early);
  REQUIRE(names_of(early_events) == std::vector<std::string>{"response.created",
                                                             "response.in_progress", "error",
                                                             "response.failed"});
  CHECK(early_events[3].data.at("response").at("error").at("code") == "rate_limit_exceeded");
}

TEST_CASE("ResponsesDialect: frames are event and data lines, no [DONE]") {
  auto encoder = ResponsesDialect().stream(k_meta);
  std::string sse;
  encoder->finish(sse);
  CHECK(sse.starts_with("event: response.created\ndata: {"));
  CHECK(sse.ends_with("}\n\n"));
  CHECK(sse.find("[DONE]") == std::string::npos);
}

// ---- errors and the rest -------------------------------------------------------------------

TEST_CASE("ResponsesDialect: error bodies keep OpenAI's shape with param") {
  const ResponsesDialect dialect;
  CHECK(dialect.error_body(400, Json::parse(R"({"error":{"message":"input: required",
            "type":"invalid_request_error","code":"bad_request"}})")) ==
        Json::parse(R"({"error":{"message":"input: required","type":"invalid_request_error",
            "param":null,"code":"bad_request"}})"));
  CHECK(dialect.error_body(400, Json::parse(R"({"error":{"message":"m","type":"t",
            "param":"input","code":null,"n_ctx":512}})")) ==
        Json::parse(R"({"error":{"message":"m","type":"t","param":"input","code":null,
            "n_ctx":512}})"));
  CHECK(dialect.error_body(503, Json("garbage")) ==
        Json::parse(R"({"error":{"message":"HTTP 503","type":"server_error","param":null,
            "code":null}})"));
  CHECK(dialect.error_body(429, Json::parse(R"({"error":{"message":7}})")).at("error").at("type") ==
        "rate_limit_error");
  CHECK(dialect.error_body(404, Json::object()).at("error").at("type") == "not_found_error");
  // llama-server's own error for a request askd refuses first has the same shape, less param.
  const auto theirs = Json::parse(
      http_body(read_fixture("llama-server/responses/error-previous-response-id.http")));
  check_has_fields_of(dialect.error_body(400, theirs), theirs, "body");
}

TEST_CASE("ResponsesDialect: name and stream usage") {
  const ResponsesDialect dialect;
  CHECK(dialect.name() == "responses");
  CHECK(dialect.stream_usage_always());
}

} // namespace responses_dialect_test
