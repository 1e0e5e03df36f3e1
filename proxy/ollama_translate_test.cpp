// ollama_chat_request: OpenAI chat requests as Ollama /api/chat bodies. The reply side is
// tested in ollama_translate_reply_test.cpp.
#include "proxy/ollama_translate.h"

#include <string>

#include <doctest/doctest.h>

using ask::core::Duration;
using ask::core::Error;
using ask::core::ErrorKind;
using ask::core::Json;
using ask::proxy::ollama_chat_request;

namespace {

// A valid request with one user message, with `patch` merged over it.
Json request(const Json& patch = Json::object()) {
  Json req = {{"model", "fast-9b"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
  req.update(patch);
  return req;
}

Json translate(const Json& req, std::optional<Duration> keep_alive = std::nullopt,
               bool stream = false) {
  auto out = ollama_chat_request(req, "qwen3.5:9b", keep_alive, stream);
  REQUIRE_MESSAGE(out.has_value(), (out ? "" : out.error().message));
  return *out;
}

Error translate_error(const Json& req) {
  auto out = ollama_chat_request(req, "qwen3.5:9b", std::nullopt, false);
  REQUIRE_MESSAGE(!out.has_value(), (out ? out->dump() : ""));
  return out.error();
}

// Checks that `req` is refused as bad_request with a message starting with `field`.
void check_bad(const Json& req, const std::string& field) {
  const auto e = translate_error(req);
  INFO(e.message);
  CHECK(e.kind == ErrorKind::bad_request);
  CHECK(e.message.rfind(field + ":", 0) == 0);
}

Json options_of(const Json& patch) {
  const auto out = translate(request(patch));
  return out.value("options", Json::object());
}

const std::string k_png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGA"
                          "hKmMIQAAAABJRU5ErkJggg==";

} // namespace

TEST_CASE("ollama_chat_request: sends the upstream tag as model and stream as given") {
  const auto plain = translate(request({{"stream", true}}), std::nullopt, false);
  CHECK(plain["model"] == "qwen3.5:9b");
  CHECK(plain["stream"] == false); // Ollama streams unless told not to: always sent
  CHECK(plain["messages"] == Json::parse(R"([{"role":"user","content":"hi"}])"));
  CHECK_FALSE(plain.contains("keep_alive"));
  CHECK_FALSE(plain.contains("options"));
  CHECK_FALSE(plain.contains("think"));
  CHECK_FALSE(plain.contains("format"));
  CHECK_FALSE(plain.contains("tools"));
  const auto streamed = translate(request(), std::nullopt, true);
  CHECK(streamed["stream"] == true);
}

TEST_CASE("ollama_chat_request: maps system and developer messages to system") {
  const auto out = translate(request({{"messages",
                                       {{{"role", "developer"}, {"content", "be brief"}},
                                        {{"role", "system"}, {"content", "be kind"}},
                                        {{"role", "user"}, {"content", "hi"}}}}}));
  CHECK(out["messages"] == Json::parse(R"([{"role":"system","content":"be brief"},
      {"role":"system","content":"be kind"},{"role":"user","content":"hi"}])"));
}

TEST_CASE("ollama_chat_request: joins text parts with newlines") {
  const auto out = translate(request(
      {{"messages",
        {{{"role", "user"},
          {"content",
           Json::parse(R"([{"type":"text","text":"one"},{"type":"text","text":"two"}])")}}}}}));
  CHECK(out["messages"][0] == Json::parse(R"({"role":"user","content":"one\ntwo"})"));
}

TEST_CASE("ollama_chat_request: sends data: URL images as base64 payloads in images") {
  const Json parts = {
      {{"type", "text"}, {"text", "what is this?"}},
      {{"type", "image_url"},
       {"image_url", {{"url", "data:image/png;base64," + k_png}, {"detail", "low"}}}},
      {{"type", "image_url"}, {"image_url", {{"url", "data:image/jpeg;base64,/9j/"}}}}};
  const auto out = translate(request({{"messages", {{{"role", "user"}, {"content", parts}}}}}));
  const auto& msg = out["messages"][0];
  CHECK(msg["content"] == "what is this?");
  CHECK(msg["images"] == Json::array({k_png, "/9j/"}));
}

TEST_CASE("ollama_chat_request: refuses an image by http URL, naming the field") {
  const Json parts = {
      {{"type", "text"}, {"text", "look"}},
      {{"type", "image_url"}, {"image_url", {{"url", "https://example.com/a.png"}}}}};
  const auto e = translate_error(request({{"messages", {{{"role", "user"}, {"content", parts}}}}}));
  CHECK(e.kind == ErrorKind::bad_request);
  CHECK(e.message.rfind("messages[0].content[1].image_url.url: Ollama cannot fetch images", 0) ==
        0);
  const Json http = {{{"type", "image_url"}, {"image_url", {{"url", "http://x/a.png"}}}}};
  check_bad(request({{"messages", {{{"role", "user"}, {"content", http}}}}}),
            "messages[0].content[0].image_url.url");
}

TEST_CASE("ollama_chat_request: refuses data: URLs that do not hold base64") {
  for (const std::string url : {"data:image/png,rawbytes", "data:image/png;base64,", "data:nocomma",
                                "data:image/png;base64,abc$def", "ftp://x/a.png", "a.png"}) {
    CAPTURE(url);
    const Json parts = {{{"type", "image_url"}, {"image_url", {{"url", url}}}}};
    check_bad(request({{"messages", {{{"role", "user"}, {"content", parts}}}}}),
              "messages[0].content[0].image_url.url");
  }
}

TEST_CASE("ollama_chat_request: refuses content parts Ollama cannot take") {
  const Json parts = {
      {{"type", "text"}, {"text", "listen"}},
      {{"type", "input_audio"}, {"input_audio", {{"data", "AAAA"}, {"format", "wav"}}}}};
  check_bad(request({{"messages", {{{"role", "user"}, {"content", parts}}}}}),
            "messages[0].content[1].type");
}

TEST_CASE("ollama_chat_request: turns assistant tool-call arguments into objects") {
  const auto msgs = Json::parse(R"([
    {"role":"user","content":"weather?"},
    {"role":"assistant","content":null,"tool_calls":[
      {"id":"call_a","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Tokyo\",\"days\":[1,2]}"}},
      {"id":"call_b","type":"function","function":{"name":"get_time","arguments":""}}]}])");
  const auto out = translate(request({{"messages", msgs}}));
  CHECK(out["messages"][1] == Json::parse(R"({"role":"assistant","content":"","tool_calls":[
      {"id":"call_a","function":{"name":"get_weather","arguments":{"city":"Tokyo","days":[1,2]}}},
      {"id":"call_b","function":{"name":"get_time","arguments":{}}}]})"));
}

TEST_CASE("ollama_chat_request: names tool results after the call they answer") {
  const auto msgs = Json::parse(R"([
    {"role":"user","content":"go"},
    {"role":"assistant","tool_calls":[
      {"id":"call_0","type":"function","function":{"name":"read","arguments":"{}"}},
      {"id":"call_1","type":"function","function":{"name":"list","arguments":"{}"}}]},
    {"role":"tool","tool_call_id":"call_1","content":"a b"},
    {"role":"tool","tool_call_id":"call_0","content":"text"},
    {"role":"assistant","tool_calls":[
      {"id":"call_0","type":"function","function":{"name":"write","arguments":"{}"}}]},
    {"role":"tool","tool_call_id":"call_0","content":"ok"},
    {"role":"tool","tool_call_id":"call_9","name":"grep","content":"none"},
    {"role":"tool","tool_call_id":"call_8","content":[{"type":"text","text":"x"},{"type":"text","text":"y"}]}])");
  const auto out = translate(request({{"messages", msgs}}));
  const auto& m = out["messages"];
  CHECK(
      m[2] ==
      Json::parse(R"({"role":"tool","tool_name":"list","tool_call_id":"call_1","content":"a b"})"));
  CHECK(m[3]["tool_name"] == "read");
  CHECK(m[5]["tool_name"] == "write"); // the later call reusing the id wins
  CHECK(m[6]["tool_name"] == "grep");  // unknown id: the message's own name
  CHECK_FALSE(m[7].contains("tool_name"));
  CHECK(m[7]["content"] == "x\ny");
}

TEST_CASE("ollama_chat_request: maps the legacy function role to a tool result") {
  const auto msgs = Json::parse(R"([{"role":"user","content":"go"},
    {"role":"function","name":"lookup","content":"42"}])");
  const auto out = translate(request({{"messages", msgs}}));
  CHECK(out["messages"][1] ==
        Json::parse(R"({"role":"tool","tool_name":"lookup","content":"42"})"));
}

TEST_CASE("ollama_chat_request: refuses tool-call arguments that are not a JSON object") {
  for (const std::string args : {"{\"a\":", "[1,2]", "\"text\"", "42", "{} trailing"}) {
    CAPTURE(args);
    Json msgs = Json::parse(R"([{"role":"user","content":"go"},
      {"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f"}}]}])");
    msgs[1]["tool_calls"][0]["function"]["arguments"] = args;
    check_bad(request({{"messages", msgs}}), "messages[1].tool_calls[0].function.arguments");
  }
}

TEST_CASE("ollama_chat_request: refuses tool-call arguments nested past 128 levels") {
  const std::string deep = "{\"a\":" + std::string(200, '[') + std::string(200, ']') + "}";
  Json msgs = Json::parse(R"([{"role":"user","content":"go"},
    {"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f"}}]}])");
  msgs[1]["tool_calls"][0]["function"]["arguments"] = deep;
  check_bad(request({{"messages", msgs}}), "messages[1].tool_calls[0].function.arguments");
  // Brackets inside strings do not count.
  msgs[1]["tool_calls"][0]["function"]["arguments"] = "{\"a\":\"" + std::string(200, '[') + "\"}";
  const auto out = translate(request({{"messages", msgs}}));
  CHECK(out["messages"][1]["tool_calls"][0]["function"]["arguments"]["a"] == std::string(200, '['));
}

TEST_CASE("ollama_chat_request: sends earlier reasoning_content back as thinking") {
  const auto msgs = Json::parse(R"([{"role":"user","content":"1+1"},
    {"role":"assistant","content":"2","reasoning_content":"add them"},
    {"role":"user","content":"sure?"}])");
  const auto out = translate(request({{"messages", msgs}}));
  CHECK(out["messages"][1] ==
        Json::parse(R"({"role":"assistant","content":"2","thinking":"add them"})"));
}

TEST_CASE("ollama_chat_request: passes tools through and drops tool_choice") {
  const auto tools = Json::parse(R"([{"type":"function","function":{"name":"get_weather",
      "description":"weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},
      "required":["city"]}}},{"type":"function","function":{"name":"get_time"}}])");
  for (const Json& choice : {Json(), Json("auto"), Json("required")}) {
    CAPTURE(choice);
    Json patch = {{"tools", tools}};
    if (!choice.is_null()) {
      patch["tool_choice"] = choice;
    }
    const auto out = translate(request(patch));
    CHECK(out["tools"] == tools);
    CHECK_FALSE(out.contains("tool_choice"));
  }
}

TEST_CASE("ollama_chat_request: a tool_choice naming a function offers only that tool") {
  const auto tools = Json::parse(R"([{"type":"function","function":{"name":"get_weather"}},
      {"type":"function","function":{"name":"get_time"}}])");
  const auto out = translate(request(
      {{"tools", tools},
       {"tool_choice", Json::parse(R"({"type":"function","function":{"name":"get_time"}})")}}));
  CHECK(out["tools"] == Json::array({tools[1]}));
  CHECK_FALSE(out.contains("tool_choice"));
  check_bad(request({{"tools", tools},
                     {"tool_choice",
                      Json::parse(R"({"type":"function","function":{"name":"get_date"}})")}}),
            "tool_choice.function.name");
}

TEST_CASE("ollama_chat_request: tool_choice none withholds the tools") {
  const auto tools = Json::parse(
      R"([{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}])");
  const auto out = translate(request({{"tools", tools}, {"tool_choice", "none"}}));
  CHECK_FALSE(out.contains("tools"));
  CHECK_FALSE(out.contains("tool_choice"));
  CHECK_FALSE(translate(request({{"tools", Json::array()}})).contains("tools"));
}

TEST_CASE("ollama_chat_request: maps response_format to format") {
  CHECK(translate(request({{"response_format", {{"type", "json_object"}}}}))["format"] == "json");
  const auto schema = Json::parse(R"({"type":"object","properties":{"n":{"type":"integer"}}})");
  const auto out = translate(
      request({{"response_format",
                {{"type", "json_schema"},
                 {"json_schema", {{"name", "n"}, {"strict", true}, {"schema", schema}}}}}}));
  CHECK(out["format"] == schema);
  CHECK_FALSE(translate(request({{"response_format", {{"type", "text"}}}})).contains("format"));
}

TEST_CASE("ollama_chat_request: refuses a json_schema response_format without a schema") {
  check_bad(request({{"response_format", {{"type", "json_schema"}}}}),
            "response_format.json_schema");
  check_bad(
      request({{"response_format", {{"type", "json_schema"}, {"json_schema", {{"name", "n"}}}}}}),
      "response_format.json_schema.schema");
  check_bad(request({{"response_format",
                      {{"type", "json_schema"}, {"json_schema", {{"schema", "object"}}}}}}),
            "response_format.json_schema.schema");
  check_bad(request({{"response_format", {{"type", "xml"}}}}), "response_format.type");
}

TEST_CASE("ollama_chat_request: passes an Ollama-style format through") {
  CHECK(translate(request({{"format", "json"}}))["format"] == "json");
  const auto schema = Json::parse(R"({"type":"object"})");
  CHECK(translate(request({{"format", schema}}))["format"] == schema);
  // response_format wins over it.
  CHECK(translate(request({{"format", schema},
                           {"response_format", {{"type", "json_object"}}}}))["format"] == "json");
  check_bad(request({{"format", "yaml"}}), "format");
  check_bad(request({{"format", 1}}), "format");
}

TEST_CASE("ollama_chat_request: maps max_tokens to options.num_predict") {
  CHECK(options_of({{"max_tokens", 64}}) == Json::parse(R"({"num_predict":64})"));
  CHECK(options_of({{"max_tokens", 16.0}})["num_predict"].is_number_integer());
  CHECK(options_of({{"max_completion_tokens", 32}, {"max_tokens", 64}})["num_predict"] == 32);
  // The OpenAI name wins over an Ollama num_predict default.
  CHECK(options_of({{"num_predict", 512}, {"max_tokens", 64}})["num_predict"] == 64);
  CHECK(options_of({{"num_predict", -1}})["num_predict"] == -1);
  check_bad(request({{"max_tokens", 0}}), "max_tokens");
}

TEST_CASE("ollama_chat_request: maps temperature, top_p, seed and stop to options") {
  const auto opts =
      options_of({{"temperature", 0.2}, {"top_p", 0.9}, {"seed", 7}, {"stop", "END"}});
  CHECK(opts == Json::parse(R"({"temperature":0.2,"top_p":0.9,"seed":7,"stop":["END"]})"));
  CHECK(options_of({{"stop", {"a", "b"}}})["stop"] == Json::array({"a", "b"}));
  CHECK(options_of({{"temperature", 1}})["temperature"] == 1.0);
  CHECK_FALSE(translate(request({{"stop", Json::array()}})).contains("options"));
  check_bad(request({{"temperature", 3}}), "temperature");
}

TEST_CASE("ollama_chat_request: moves Ollama option names into options") {
  const auto opts = options_of({{"num_ctx", 16384},
                                {"top_k", 40},
                                {"min_p", 0.05},
                                {"repeat_penalty", 1.1},
                                {"repeat_last_n", 64},
                                {"frequency_penalty", 0.5},
                                {"presence_penalty", 0.25},
                                {"typical_p", 1},
                                {"num_gpu", 99},
                                {"use_mmap", false},
                                {"num_thread", 8},
                                {"mirostat", 2},
                                {"mirostat_tau", 5.0},
                                {"num_keep", 4}});
  CHECK(opts == Json::parse(R"({"num_ctx":16384,"top_k":40,"min_p":0.05,"repeat_penalty":1.1,
      "repeat_last_n":64,"frequency_penalty":0.5,"presence_penalty":0.25,"typical_p":1,
      "num_gpu":99,"use_mmap":false,"num_thread":8,"mirostat":2,"mirostat_tau":5.0,"num_keep":4})"));
  CHECK(options_of({{"num_ctx", 4096.0}})["num_ctx"].is_number_integer());
}

TEST_CASE("ollama_chat_request: refuses Ollama options of the wrong type, naming them") {
  check_bad(request({{"num_ctx", "4096"}}), "num_ctx");
  check_bad(request({{"num_ctx", 4096.5}}), "num_ctx");
  check_bad(request({{"num_ctx", 1e30}}), "num_ctx");
  check_bad(request({{"num_ctx", 18446744073709551615ULL}}), "num_ctx");
  check_bad(request({{"top_k", true}}), "top_k");
  check_bad(request({{"min_p", "0.1"}}), "min_p");
  check_bad(request({{"use_mmap", 1}}), "use_mmap");
  check_bad(request({{"options", {{"num_ctx", "big"}}}}), "options.num_ctx");
  check_bad(request({{"options", {{"stop", {"a", 1}}}}}), "options.stop[1]");
  check_bad(request({{"options", "fast"}}), "options");
  const auto e = translate_error(request({{"num_ctx", 1e30}}));
  CHECK(e.message.find("64-bit") != std::string::npos);
  CHECK(options_of({{"num_ctx", 9223372036854775807LL}})["num_ctx"] == 9223372036854775807LL);
}

TEST_CASE("ollama_chat_request: merges an options object under the top-level fields") {
  const auto opts = options_of({{"options",
                                 {{"num_ctx", 2048},
                                  {"top_k", 10},
                                  {"temperature", 0.1},
                                  {"no_such_option", 1},
                                  {"stop", "x"}}},
                                {"top_k", 20},
                                {"temperature", 0.7}});
  CHECK(opts == Json::parse(R"({"num_ctx":2048,"top_k":20,"temperature":0.7,"stop":["x"]})"));
}

TEST_CASE("ollama_chat_request: passes think through") {
  CHECK(translate(request({{"think", true}}))["think"] == true);
  CHECK(translate(request({{"think", false}}))["think"] == false);
  for (const std::string level : {"low", "medium", "high"}) {
    CHECK(translate(request({{"think", level}}))["think"] == level);
  }
  check_bad(request({{"think", "max"}}), "think");
  check_bad(request({{"think", 1}}), "think");
}

TEST_CASE("ollama_chat_request: maps reasoning_effort to a think level when think is unset") {
  CHECK(translate(request({{"reasoning_effort", "high"}}))["think"] == "high");
  CHECK(translate(request({{"reasoning_effort", "medium"}}))["think"] == "medium");
  CHECK(translate(request({{"reasoning_effort", "low"}}))["think"] == "low");
  CHECK(translate(request({{"reasoning_effort", "minimal"}}))["think"] == "low");
  CHECK(translate(request({{"reasoning_effort", "xhigh"}}))["think"] == "high");
  CHECK(translate(request({{"reasoning_effort", "none"}}))["think"] == false);
  CHECK(translate(request({{"reasoning_effort", "high"}, {"think", false}}))["think"] == false);
  const auto out = translate(request({{"reasoning_effort", "low"}}));
  CHECK_FALSE(out.contains("reasoning_effort"));
  check_bad(request({{"reasoning_effort", "extreme"}}), "reasoning_effort");
  check_bad(request({{"reasoning_effort", 3}}), "reasoning_effort");
}

TEST_CASE("ollama_chat_request: llama.cpp's enable_thinking switch is a think on or off") {
  const Json on = {{"enable_thinking", true}};
  const Json off = {{"enable_thinking", false}};
  CHECK(translate(request({{"chat_template_kwargs", on}}))["think"] == true);
  CHECK(translate(request({{"chat_template_kwargs", off}}))["think"] == false);
  // think and reasoning_effort say more, and win.
  CHECK(translate(request({{"chat_template_kwargs", on}, {"think", "low"}}))["think"] == "low");
  CHECK(translate(request({{"chat_template_kwargs", off}, {"reasoning_effort", "high"}}))["think"] ==
        "high");
  // Anything else in it means nothing to Ollama.
  CHECK_FALSE(translate(request({{"chat_template_kwargs", {{"x", 1}}}})).contains("think"));
  CHECK_FALSE(
      translate(request({{"chat_template_kwargs", {{"enable_thinking", "yes"}}}})).contains("think"));
}

TEST_CASE("ollama_chat_request: sends keep_alive as whole seconds, forever as -1") {
  CHECK(translate(request(), Duration::seconds(900))["keep_alive"] == 900);
  CHECK(translate(request(), Duration::seconds(900))["keep_alive"].is_number_integer());
  CHECK(translate(request(), Duration::forever())["keep_alive"] == -1);
  CHECK(translate(request(), Duration::zero())["keep_alive"] == 0);
  CHECK(translate(request(), Duration::from(std::chrono::milliseconds(1500)))["keep_alive"] == 1.5);
  // The argument decides; a keep_alive in the request body is not passed on.
  CHECK_FALSE(translate(request({{"keep_alive", "1h"}}))["keep_alive"].is_string());
  CHECK(translate(request({{"keep_alive", "1h"}}), Duration::seconds(60))["keep_alive"] == 60);
}

TEST_CASE("ollama_chat_request: drops OpenAI-only fields Ollama does not take") {
  const auto out = translate(request(Json::parse(R"({
      "stream":true,"stream_options":{"include_usage":true},"tool_choice":"auto",
      "parallel_tool_calls":false,"logprobs":true,"top_logprobs":2,"logit_bias":{"50256":-100},
      "n":1,"user":"u1","metadata":{"k":"v"},"store":false,"service_tier":"auto",
      "modalities":["text"],"prediction":{"type":"content","content":"x"},
      "keep_alive":"5m","unknown_field":{"a":1}})")));
  std::vector<std::string> keys;
  for (const auto& [key, value] : out.items()) {
    keys.push_back(key);
  }
  CHECK(keys == std::vector<std::string>{"messages", "model", "stream"});
}

TEST_CASE("ollama_chat_request: refuses n above 1") {
  check_bad(request({{"n", 2}}), "n");
  check_bad(request({{"n", "1"}}), "n");
  CHECK(translate(request({{"n", 1}}))["model"] == "qwen3.5:9b");
}

TEST_CASE("ollama_chat_request: drops message names and image detail") {
  const Json parts = {
      {{"type", "image_url"},
       {"image_url", {{"url", "data:image/png;base64," + k_png}, {"detail", "high"}}}}};
  const auto out =
      translate(request({{"messages", {{{"role", "user"}, {"name", "ann"}, {"content", parts}}}}}));
  CHECK(out["messages"][0] == Json({{"role", "user"}, {"content", ""}, {"images", {k_png}}}));
}

TEST_CASE("ollama_chat_request: refuses an invalid OpenAI request with core's message") {
  check_bad(Json::parse(R"({"model":"m"})"), "messages");
  check_bad(request({{"messages", {{{"role", "wizard"}, {"content", "x"}}}}}), "messages[0].role");
  check_bad(request({{"messages", Json::parse(R"([{"role":"user","content":[{"type":"image_url",
      "image_url":{"url":5}}]}])")}}),
            "messages[0].content[0].image_url.url");
  check_bad(request({{"stop", {1, 2}}}), "stop[0]");
  const auto e = translate_error(Json::array());
  CHECK(e.kind == ErrorKind::bad_request);
}
