// ResponsesDialect, the request side: Responses requests as chat requests (each checked to
// parse as chat), against llama-server's own /v1/responses recordings
// (tests/fixtures/llama-server/responses); malformed requests named by field. The reply side
// is dialect_responses_reply_test.cpp.
#include "proxy/dialect_responses.h"

#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "core/test_fixtures.h"

using ask::core::ErrorKind;
using ask::core::Json;
using ask::core::testing::http_body;
using ask::core::testing::read_fixture;
using ask::proxy::DialectMeta;
using ask::proxy::ResponsesDialect;

// A named namespace around helpers and tests alike: in a unity build other tests' anonymous
// helpers share this file's scope, and names found here hide them.
namespace responses_request_test {

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

TEST_CASE("ResponsesDialect: message items with text and image parts - developer is system") {
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

TEST_CASE("ResponsesDialect: one agent turn (reasoning, text, calls) is one assistant message - "
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

TEST_CASE("ResponsesDialect: reasoning alone makes an assistant message with empty content - "
          "a summary stands in for missing text - empty reasoning is dropped") {
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

TEST_CASE("ResponsesDialect: tools OpenAI's servers run and tool namespaces are skipped, as "
          "llama-server skips them") {
  // What Codex 0.171 sends (trimmed): function tools, a "namespace" of sub-agent tools, and
  // web_search, on every request.
  const Json chat = to_chat_ok(Json::parse(R"({"model":"m","input":"hi","tools":[
      {"type":"function","name":"exec_command","strict":false,
       "parameters":{"type":"object","properties":{"cmd":{"type":"string"}}}},
      {"type":"namespace","name":"multi_agent_v1","description":"Tools for sub-agents.",
       "tools":[{"type":"function","name":"close_agent","parameters":{"type":"object"}}]},
      {"type":"web_search","external_web_access":false}],"tool_choice":"auto"})"));
  REQUIRE(chat["tools"].size() == 1);
  CHECK(chat["tools"][0]["function"]["name"] == "exec_command");
  // Only server tools: no tools at all.
  CHECK_FALSE(to_chat_ok(Json::parse(R"({"model":"m","input":"hi",
      "tools":[{"type":"web_search"}]})")).contains("tools"));
  // A tool still needs its type.
  CHECK(refusal(Json::parse(R"({"model":"m","input":"hi","tools":[{"name":"f"}]})"))
            .starts_with("tools[0].type: "));
}

} // namespace responses_request_test
