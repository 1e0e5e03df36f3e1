#include "core/openai.h"

#include <doctest/doctest.h>

using namespace ask::core;

namespace {

const char* const k_msg =
    R"("messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Hello! What is the capital of France?"}])";

const char* const k_tools =
    R"("tools":[{"type":"function","function":{"name":"get_weather","description":"Get the current weather for a city","parameters":{"type":"object","properties":{"city":{"type":"string","description":"City name"}},"required":["city"]}}}],"tool_choice":"auto")";

// The request bodies of tests/fixtures/README.md ("MSG", "TOOLS" and the chat requests).
std::vector<std::string> fixture_bodies() {
  const std::string msg = k_msg;
  const std::string tools_msgs =
      R"("messages":[{"role":"user","content":"What is the weather in Paris?"}])";
  return {
      "{\"model\":\"m\"," + msg + ",\"max_tokens\":16,\"temperature\":0}",
      "{\"model\":\"m\"," + msg + ",\"max_tokens\":16,\"temperature\":0,\"stream\":true}",
      "{\"model\":\"m\"," + msg +
          ",\"max_tokens\":16,\"temperature\":0,\"stream\":true,"
          "\"stream_options\":{\"include_usage\":true}}",
      "{\"model\":\"m\"," + std::string(k_tools) + "," + tools_msgs +
          ",\"max_tokens\":16,\"temperature\":0,\"stream\":true}",
      "{\"model\":\"m\"," + std::string(k_tools) + "," + tools_msgs +
          ",\"max_tokens\":16,\"temperature\":0}",
      "{\"model\":\"m\"," + msg + ",\"max_tokens\":16,\"logprobs\":true,\"top_logprobs\":2}",
  };
}

// Realistic bodies as OpenAI clients send them, each exercising other fields.
std::vector<std::string> realistic_bodies() {
  return {
      // A tool round trip: assistant tool_calls with content null, then the tool's answer.
      R"({"model":"coder","messages":[
          {"role":"developer","content":"Use tools."},
          {"role":"user","content":"List files"},
          {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function",
            "function":{"name":"run_command","arguments":"{\"command\":\"ls\"}"}}]},
          {"role":"tool","tool_call_id":"call_1","content":"a.txt\nb.txt"},
          {"role":"assistant","content":"Two files.","reasoning_content":"ls printed two"}],
        "tools":[{"type":"function","function":{"name":"run_command","parameters":{"type":"object"},
          "strict":true}}],
        "tool_choice":{"type":"function","function":{"name":"run_command"}},
        "parallel_tool_calls":false})",
      // Multimodal content parts, unknown part types and unknown part keys kept raw.
      R"({"model":"vision","messages":[{"role":"user","content":[
          {"type":"text","text":"What is in this image?","cache_control":{"type":"ephemeral"}},
          {"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo=","detail":"high"}},
          {"type":"image_url","image_url":{"url":"https://example.com/cat.png"}},
          {"type":"input_audio","input_audio":{"data":"UklGR","format":"wav"}}]}],
        "max_completion_tokens":256,"top_p":0.9,"seed":-42})",
      // Every sampling field, stop as an array, response_format, unknown fields everywhere.
      R"({"model":"fast-9b","messages":[{"role":"user","content":"hi","name":"ada","x-meta":{"k":[1,2]}}],
        "temperature":0.7,"top_p":1,"max_tokens":1024,"stop":["\n\n","END"],"seed":12345,
        "response_format":{"type":"json_schema","json_schema":{"name":"r","schema":{"type":"object"}}},
        "stream":true,"stream_options":{"include_usage":false,"include_obfuscation":true},
        "frequency_penalty":0.5,"presence_penalty":-0.5,"n":1,"user":"u-1","metadata":{"a":"b"},
        "logit_bias":{"50256":-100},"keep_alive":"15m","think":true,"options":{"num_ctx":8192}})",
      // Explicit nulls and "absent" values that must come back exactly as sent.
      R"({"model":"m","messages":[{"role":"assistant","content":"x","tool_calls":[],"name":null},
          {"role":"user","content":"y","tool_call_id":null,"reasoning_content":null}],
        "temperature":null,"top_p":null,"max_tokens":null,"stop":null,"seed":null,"tools":null,
        "tool_choice":null,"response_format":null,"stream":false,"stream_options":null})",
      R"({"model":"m","messages":[{"role":"user","content":""}],"stop":"###","stream":false,
        "stream_options":{},"tools":[],"max_tokens":16.0,"temperature":2,"top_p":0})",
      R"({"model":"m","messages":[{"role":"user","content":[]}],"stop":[],
        "stream_options":{"include_usage":null},"tool_choice":"required","seed":0,
        "response_format":{"type":"json_object"}})",
      R"({"model":"m","messages":[{"role":"function","name":"f","content":"legacy"},
          {"role":"assistant","function_call":{"name":"f","arguments":"{}"}},
          {"role":"assistant","content":[{"type":"text","text":"parts"},{"type":"refusal","refusal":"no"}]}]})",
  };
}

ChatRequest parse_ok(const std::string& text) {
  auto req = parse_chat_request(std::string_view(text));
  INFO(text);
  REQUIRE_MESSAGE(req.has_value(), (req ? "" : req.error().message));
  return *req;
}

// The error message for a body that must be rejected.
std::string rejected_body(const std::string& text) {
  auto req = parse_chat_request(std::string_view(text));
  INFO(text);
  REQUIRE_FALSE(req.has_value());
  CHECK(req.error().kind == ErrorKind::bad_request);
  return req.error().message;
}

// A valid body with `fields` added at the top level.
std::string body_with(const std::string& fields) {
  return R"({"model":"m","messages":[{"role":"user","content":"hi"}])" +
         (fields.empty() ? "" : "," + fields) + "}";
}

// A body whose only message is `message`.
std::string body_with_message(const std::string& message) {
  return R"({"model":"m","messages":[{"role":"user","content":"hi"},)" + message + "]}";
}

} // namespace

TEST_CASE("ChatRequest: to_json(parse(x)) == x for the fixture request bodies") {
  for (const auto& text : fixture_bodies()) {
    INFO(text);
    const auto original = Json::parse(text);
    CHECK(to_json(parse_ok(text)) == original);
  }
}

TEST_CASE("ChatRequest: to_json(parse(x)) == x for realistic bodies") {
  for (const auto& text : realistic_bodies()) {
    INFO(text);
    const auto original = Json::parse(text);
    const auto again = to_json(parse_ok(text));
    CHECK(again == original);
    CHECK(to_json(*parse_chat_request(again)) == original);
  }
}

TEST_CASE("ChatRequest: reads the typed fields") {
  const auto req = parse_ok(realistic_bodies()[2]);
  CHECK(req.model == "fast-9b");
  REQUIRE(req.messages.size() == 1);
  CHECK(req.messages[0].role == "user");
  CHECK(req.messages[0].content == "hi");
  CHECK(req.messages[0].name == "ada");
  CHECK(req.messages[0].extra.at("x-meta") == Json::parse(R"({"k":[1,2]})"));
  CHECK(req.temperature == 0.7);
  CHECK(req.top_p == 1.0);
  CHECK(req.max_tokens == 1024);
  CHECK_FALSE(req.max_completion_tokens.has_value());
  CHECK(req.token_limit() == 1024);
  CHECK(req.stop == std::vector<std::string>{"\n\n", "END"});
  CHECK_FALSE(req.stop_was_string);
  CHECK(req.seed == 12345);
  CHECK(req.response_format.at("type") == "json_schema");
  CHECK(req.stream);
  REQUIRE(req.stream_options.has_value());
  CHECK_FALSE(req.stream_options->include_usage);
  CHECK(req.stream_options->extra.at("include_obfuscation") == true);
  CHECK(req.tools.is_null());
  CHECK(req.tool_choice.is_null());
  for (const char* key : {"frequency_penalty", "presence_penalty", "n", "user", "metadata",
                          "logit_bias", "keep_alive", "think", "options"}) {
    CHECK(req.extra.contains(key));
  }
  CHECK_FALSE(req.extra.contains("model"));
  CHECK_FALSE(req.extra.contains("temperature"));
}

TEST_CASE("ChatRequest: reads tool calls, tool results and content parts") {
  const auto tools = parse_ok(realistic_bodies()[0]);
  REQUIRE(tools.messages.size() == 5);
  const auto& call_msg = tools.messages[2];
  CHECK_FALSE(call_msg.content.has_value());
  CHECK(call_msg.extra.at("content").is_null());
  REQUIRE(call_msg.tool_calls.size() == 1);
  CHECK(call_msg.tool_calls[0].id == "call_1");
  CHECK(call_msg.tool_calls[0].type == "function");
  CHECK(call_msg.tool_calls[0].function.name == "run_command");
  CHECK(call_msg.tool_calls[0].function.arguments == R"({"command":"ls"})");
  CHECK(tools.messages[3].tool_call_id == "call_1");
  CHECK(tools.messages[3].text() == "a.txt\nb.txt");
  CHECK(tools.messages[4].reasoning_content == "ls printed two");
  CHECK(tools.tools.is_array());
  CHECK(tools.tool_choice.at("function").at("name") == "run_command");
  CHECK(tools.extra.at("parallel_tool_calls") == false);

  const auto vision = parse_ok(realistic_bodies()[1]);
  const auto& msg = vision.messages[0];
  CHECK(msg.content_is_parts);
  CHECK_FALSE(msg.content.has_value());
  REQUIRE(msg.content_parts.size() == 4);
  CHECK(msg.content_parts[0].type == "text");
  CHECK(msg.content_parts[0].text == "What is in this image?");
  CHECK(msg.content_parts[1].image_url == "data:image/png;base64,iVBORw0KGgo=");
  CHECK(msg.content_parts[1].image_detail == "high");
  CHECK_FALSE(msg.content_parts[2].image_detail.has_value());
  CHECK(msg.content_parts[3].type == "input_audio");
  CHECK(msg.content_parts[3].raw.at("input_audio").at("format") == "wav");
  CHECK(msg.text() == "What is in this image?");
  CHECK(vision.max_completion_tokens == 256);
  CHECK(vision.token_limit() == 256);
  CHECK(vision.seed == -42);
}

TEST_CASE("ChatRequest: stop as a string, stream false, integral float tokens") {
  const auto req = parse_ok(realistic_bodies()[4]);
  CHECK(req.stop == std::vector<std::string>{"###"});
  CHECK(req.stop_was_string);
  CHECK_FALSE(req.stream);
  CHECK(req.max_tokens == 16);
  CHECK(req.temperature == 2.0);
  CHECK(req.top_p == 0.0);
  CHECK(req.tools == Json::array());
  REQUIRE(req.stream_options.has_value());
  CHECK_FALSE(req.stream_options->include_usage);
}

TEST_CASE("ChatRequest: typed fields set in code win over extra") {
  auto req = parse_ok(realistic_bodies()[3]);
  CHECK_FALSE(req.temperature.has_value());
  req.temperature = 0.2;
  req.stream = true;
  req.stop = {"x"};
  req.max_tokens = 5;
  const auto out = to_json(req);
  CHECK(out.at("temperature") == 0.2);
  CHECK(out.at("stream") == true);
  CHECK(out.at("stop") == Json::array({"x"}));
  CHECK(out.at("max_tokens") == 5);
  CHECK(out.at("top_p").is_null()); // still passed through as sent
}

TEST_CASE("ChatRequest: serialises a request built in code") {
  ChatRequest req;
  req.model = "fast-9b";
  Message user;
  user.role = "user";
  user.content = "hello";
  req.messages.push_back(user);
  Message assistant;
  assistant.role = "assistant";
  assistant.tool_calls.push_back(ToolCall{"call_9", "function", {"f", "{}"}, Json::object()});
  req.messages.push_back(assistant);
  req.stream = true;
  req.stream_options = StreamOptions{true, Json::object()};
  req.stop = {"a"};
  req.stop_was_string = true;
  const auto expected = Json::parse(R"({"model":"fast-9b","messages":[
      {"role":"user","content":"hello"},
      {"role":"assistant","tool_calls":[{"id":"call_9","type":"function",
        "function":{"name":"f","arguments":"{}"}}]}],
      "stream":true,"stream_options":{"include_usage":true},"stop":"a"})");
  CHECK(to_json(req) == expected);
  CHECK(to_json(*parse_chat_request(expected)) == expected);
}

TEST_CASE("ChatRequest: model and messages are required") {
  CHECK(rejected_body(R"({"messages":[{"role":"user","content":"hi"}]})") == "model: required");
  CHECK(rejected_body(R"({"model":"m"})") == "messages: required");
  CHECK(rejected_body(R"({"model":"","messages":[{"role":"user","content":"hi"}]})") ==
        "model: must not be empty");
  CHECK(rejected_body(R"({"model":7,"messages":[{"role":"user","content":"hi"}]})") ==
        "model: expected a string, got an integer");
  CHECK(rejected_body(R"({"model":null,"messages":[{"role":"user","content":"hi"}]})") ==
        "model: expected a string, got null");
  CHECK(rejected_body(R"({"model":"m","messages":[]})") ==
        "messages: must contain at least one message");
  CHECK(rejected_body(R"({"model":"m","messages":"hello"})") ==
        "messages: expected an array, got a string");
  CHECK(rejected_body(R"({"model":"m","messages":null})") ==
        "messages: expected an array, got null");
}

TEST_CASE("ChatRequest: message errors name the field path") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"42", "messages[1]: expected an object, got an integer"},
      {R"({"content":"x"})", "messages[1].role: required"},
      {R"({"role":5,"content":"x"})", "messages[1].role: expected a string, got an integer"},
      {R"({"role":"wizard","content":"x"})", "messages[1].role: unknown role \"wizard\""},
      {R"({"role":"user"})", "messages[1].content: required for user messages"},
      {R"({"role":"system","content":null})", "messages[1].content: required for system messages"},
      {R"({"role":"user","content":5})",
       "messages[1].content: expected a string, an array of content parts or null, got an integer"},
      {R"({"role":"user","content":{"type":"text"}})", "messages[1].content: expected a string"},
      {R"({"role":"user","content":["x"]})",
       "messages[1].content[0]: expected an object, got a string"},
      {R"({"role":"user","content":[{"text":"x"}]})", "messages[1].content[0].type: required"},
      {R"({"role":"user","content":[{"type":"text"}]})",
       "messages[1].content[0].text: required for a text part"},
      {R"({"role":"user","content":[{"type":"text","text":1}]})",
       "messages[1].content[0].text: expected a string, got an integer"},
      {R"({"role":"user","content":[{"type":"image_url"}]})",
       "messages[1].content[0].image_url: required for an image_url part"},
      {R"({"role":"user","content":[{"type":"image_url","image_url":"https://x"}]})",
       "messages[1].content[0].image_url: expected an object, got a string"},
      {R"({"role":"user","content":[{"type":"image_url","image_url":{"url":5}}]})",
       "messages[1].content[0].image_url.url: expected a string, got an integer"},
      {R"({"role":"user","content":[{"type":"image_url","image_url":{}}]})",
       "messages[1].content[0].image_url.url: required"},
      {R"({"role":"user","content":[{"type":"image_url","image_url":{"url":"u","detail":1}}]})",
       "messages[1].content[0].image_url.detail: expected a string or null"},
      {R"({"role":"user","content":"x","name":1})", "messages[1].name: expected a string"},
      {R"({"role":"tool","content":"x"})", "messages[1].tool_call_id: required for tool messages"},
      {R"({"role":"tool","tool_call_id":"c"})", "messages[1].content: required for tool messages"},
      {R"({"role":"assistant"})", "messages[1]: an assistant message needs content or tool_calls"},
      {R"({"role":"assistant","content":null,"tool_calls":[]})",
       "messages[1]: an assistant message needs content or tool_calls"},
      {R"({"role":"user","content":"x","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{}"}}]})",
       "messages[1].tool_calls: only assistant messages may have tool_calls"},
      {R"({"role":"assistant","tool_calls":{}})",
       "messages[1].tool_calls: expected an array, got an object"},
      {R"({"role":"assistant","tool_calls":[1]})",
       "messages[1].tool_calls[0]: expected an object, got an integer"},
      {R"({"role":"assistant","tool_calls":[{"type":"function","function":{"name":"f","arguments":"{}"}}]})",
       "messages[1].tool_calls[0].id: required"},
      {R"({"role":"assistant","tool_calls":[{"id":"a","function":{"name":"f","arguments":"{}"}}]})",
       "messages[1].tool_calls[0].type: required"},
      {R"({"role":"assistant","tool_calls":[{"id":"a","type":"web","function":{"name":"f","arguments":"{}"}}]})",
       "messages[1].tool_calls[0].type: expected \"function\""},
      {R"({"role":"assistant","tool_calls":[{"id":"a","type":"function"}]})",
       "messages[1].tool_calls[0].function: required"},
      {R"({"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"arguments":"{}"}}]})",
       "messages[1].tool_calls[0].function.name: required"},
      {R"({"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f"}}]})",
       "messages[1].tool_calls[0].function.arguments: required"},
      {R"({"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":{"x":1}}}]})",
       "messages[1].tool_calls[0].function.arguments: expected a string (the JSON-encoded "
       "arguments), got an object"},
      {R"({"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":null}}]})",
       "messages[1].tool_calls[0].function.arguments: expected a string (the JSON-encoded "
       "arguments), got null"},
      {R"({"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":null,"arguments":"{}"}}]})",
       "messages[1].tool_calls[0].function.name: expected a string, got null"},
      {R"({"role":"assistant","tool_calls":[{"id":"a","type":null,"function":{"name":"f","arguments":"{}"}}]})",
       "messages[1].tool_calls[0].type: expected a string, got null"},
      {R"({"role":"assistant","tool_calls":[{"id":1,"type":"function","function":{"name":"f","arguments":"{}"}}]})",
       "messages[1].tool_calls[0].id: expected a string, got an integer"},
  };
  for (const auto& [message, expected] : cases) {
    const auto msg = rejected_body(body_with_message(message));
    INFO(message);
    CHECK(msg.starts_with(expected));
  }
}

TEST_CASE("ChatRequest: top-level field errors") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"("temperature":"0.5")", "temperature: expected a number, got a string"},
      {R"("temperature":2.5)", "temperature: must be between 0 and 2"},
      {R"("temperature":-0.1)", "temperature: must be between 0 and 2"},
      {R"("temperature":true)", "temperature: expected a number, got a boolean"},
      {R"("top_p":1.01)", "top_p: must be between 0 and 1"},
      {R"("top_p":[])", "top_p: expected a number, got an array"},
      {R"("max_tokens":1.5)", "max_tokens: expected an integer, got 1.5"},
      {R"("max_tokens":"16")", "max_tokens: expected an integer, got a string"},
      {R"("max_tokens":0)", "max_tokens: must be a positive integer, got 0"},
      {R"("max_tokens":-5)", "max_tokens: must be a positive integer, got -5"},
      {R"("max_tokens":1e300)", "max_tokens: expected an integer"},
      {R"("max_tokens":18446744073709551615)", "max_tokens: integer out of range"},
      {R"("max_completion_tokens":0.5)", "max_completion_tokens: expected an integer"},
      {R"("seed":"1")", "seed: expected an integer, got a string"},
      {R"("seed":0.5)", "seed: expected an integer, got 0.5"},
      {R"("stream":"true")", "stream: expected a boolean, got a string"},
      {R"("stream":1)", "stream: expected a boolean, got an integer"},
      {R"("stream_options":true)", "stream_options: expected an object, got a boolean"},
      {R"("stream_options":{"include_usage":"yes"})",
       "stream_options.include_usage: expected a boolean, got a string"},
      {R"("stop":5)", "stop: expected a string or an array of strings, got an integer"},
      {R"("stop":["a",5])", "stop[1]: expected a string, got an integer"},
      {R"("stop":["1","2","3","4","5","6","7","8","9","10","11","12","13","14","15","16","17"])",
       "stop: at most 16 stop sequences, got 17"},
      {R"("tools":{})", "tools: expected an array, got an object"},
      {R"("tools":[1])", "tools[0]: expected an object, got an integer"},
      {R"("tools":[{"function":{"name":"f"}}])", "tools[0].type: expected \"function\""},
      {R"("tools":[{"type":"retrieval"}])", "tools[0].type: expected \"function\""},
      {R"("tools":[{"type":"function"}])", "tools[0].function: required"},
      {R"("tools":[{"type":"function","function":"f"}])",
       "tools[0].function: expected an object, got a string"},
      {R"("tools":[{"type":"function","function":{"name":""}}])",
       "tools[0].function.name: required, a non-empty string"},
      {R"("tools":[{"type":"function","function":{"name":"f"}},{"type":"function","function":{"name":3}}])",
       "tools[1].function.name: required, a non-empty string"},
      {R"("tools":[{"type":"function","function":{"name":"f","parameters":"x"}}])",
       "tools[0].function.parameters: expected an object, got a string"},
      {R"("tools":[{"type":"function","function":{"name":"f","description":1}}])",
       "tools[0].function.description: expected a string, got an integer"},
      {R"("tool_choice":"any")",
       "tool_choice: expected \"none\", \"auto\", \"required\" or an object"},
      {R"("tool_choice":5)", "tool_choice: expected a string or an object, got an integer"},
      {R"("tool_choice":{})", "tool_choice.type: required, a string"},
      {R"("tool_choice":{"type":"function"})", "tool_choice.function: required"},
      {R"("tool_choice":{"type":"function","function":{}})", "tool_choice.function.name: required"},
      {R"("response_format":"json")", "response_format: expected an object, got a string"},
      {R"("response_format":{})", "response_format.type: expected \"text\""},
      {R"("response_format":{"type":"xml"})", "response_format.type: expected \"text\""},
      {R"("response_format":{"type":"json_schema","json_schema":"s"})",
       "response_format.json_schema: expected an object, got a string"},
  };
  for (const auto& [fields, expected] : cases) {
    const auto msg = rejected_body(body_with(fields));
    INFO(fields);
    CHECK(msg.starts_with(expected));
  }
}

TEST_CASE("ChatRequest: body text errors") {
  const auto syntax = rejected_body(R"({"messages": [ not json)");
  CHECK(syntax.starts_with("request body is not valid JSON: parse error at line 1, column 17"));
  CHECK(rejected_body("").starts_with("request body is not valid JSON"));
  // nlohmann reports a number too large for a double as out_of_range, not parse_error.
  CHECK(rejected_body(body_with("\"max_tokens\":1E400"))
            .starts_with("request body is not valid JSON: number overflow parsing '1E400'"));
  CHECK(rejected_body("[1,2]") == "request body: expected a JSON object, got an array");
  CHECK(rejected_body("\"x\"") == "request body: expected a JSON object, got a string");
  CHECK(rejected_body("null") == "request body: expected a JSON object, got null");
}

TEST_CASE("ChatRequest: deeply nested JSON is refused before parsing") {
  const std::string deep =
      body_with("\"x\":" + std::string(100'000, '[') + std::string(100'000, ']'));
  CHECK(rejected_body(deep).find("nested deeper than") != std::string::npos);
  // Brackets inside strings do not count, and 100 levels are fine.
  const std::string in_string = body_with("\"x\":\"" + std::string(1000, '[') + "\"");
  CHECK(parse_ok(in_string).extra.at("x").get<std::string>().size() == 1000);
  const std::string moderate = body_with("\"x\":" + std::string(100, '[') + std::string(100, ']'));
  CHECK(parse_ok(moderate).extra.contains("x"));
}

TEST_CASE("ChatRequest: parse_message checks one message") {
  auto ok = parse_message(Json::parse(R"({"role":"user","content":"hi"})"), "m");
  REQUIRE(ok.has_value());
  CHECK(ok->content == "hi");
  auto bad = parse_message(Json::parse(R"({"role":"user","content":[{"type":"text"}]})"),
                           "body.messages[3]");
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().message == "body.messages[3].content[0].text: required for a text part");
}

TEST_CASE("Message: text() joins the text parts") {
  Message m;
  CHECK(m.text().empty());
  m.content = "plain";
  CHECK(m.text() == "plain");
  m.content.reset();
  m.content_is_parts = true;
  m.content_parts.push_back(ContentPart{"text", "one", "", std::nullopt, Json()});
  m.content_parts.push_back(ContentPart{"image_url", "", "https://x", std::nullopt, Json()});
  m.content_parts.push_back(ContentPart{"text", "two", "", std::nullopt, Json()});
  CHECK(m.text() == "one\ntwo");
  const auto out = to_json(m);
  CHECK(out.at("content").size() == 3);
  CHECK(out.at("content")[1] ==
        Json::parse(R"({"type":"image_url","image_url":{"url":"https://x"}})"));
}

TEST_CASE("ChatRequest: token_limit prefers max_completion_tokens") {
  ChatRequest req;
  CHECK_FALSE(req.token_limit().has_value());
  req.max_tokens = 100;
  CHECK(req.token_limit() == 100);
  req.max_completion_tokens = 50;
  CHECK(req.token_limit() == 50);
}

TEST_CASE("ChatRequest: numbers come back in the form sent (dump() equality)") {
  const std::string text =
      R"({"max_tokens":16,"messages":[{"content":"hi","role":"user"}],"model":"m","seed":7,"temperature":1,"top_p":0.7})";
  const auto req = parse_ok(text);
  CHECK(req.temperature == 1.0);
  CHECK(req.max_tokens == 16);
  // Json's == says 1 == 1.0; the text must still say "temperature":1.
  CHECK(to_json(req).dump() == Json::parse(text).dump());
  const std::string floats =
      R"({"messages":[{"content":"hi","role":"user"}],"model":"m","temperature":1.0,"top_p":0.95})";
  CHECK(to_json(parse_ok(floats)).dump() == Json::parse(floats).dump());
  // Integer fields are written as integers, whatever form they came in.
  CHECK(to_json(parse_ok(body_with(R"("max_tokens":16.0)"))).at("max_tokens").dump() == "16");
}

TEST_CASE("ChatRequest: a number kept for its form yields to code that changes the field") {
  auto req = parse_ok(body_with(R"("temperature":1,"top_p":1)"));
  req.temperature = 0.5;
  req.top_p.reset();
  const auto out = to_json(req);
  CHECK(out.at("temperature").dump() == "0.5");
  CHECK_FALSE(out.contains("top_p"));
  req.temperature = 1.0;
  CHECK(to_json(req).at("temperature").dump() == "1");
}

TEST_CASE("ChatRequest: error messages quoting the body are valid UTF-8 and short") {
  const auto dumps_ok = [](const Error& e) {
    INFO(e.message);
    CHECK_NOTHROW((void)to_json(error_body_for(e)).dump());
  };
  // Text that does not parse: nlohmann's message would quote the bytes (a prompt); the quote
  // is cut, the position kept.
  const auto text = parse_chat_request(std::string_view("{\"model\":\"\xff\xfe\"}"));
  REQUIRE_FALSE(text.has_value());
  CHECK(text.error().message.find("xff") == std::string::npos);
  CHECK(text.error().message.find("line 1, column") != std::string::npos);
  dumps_ok(text.error());
  // A Json built in code can hold bytes that are not UTF-8, in values and in keys.
  Json body = Json::parse(body_with(""));
  body["messages"][0]["role"] = std::string("us\xc3") + std::string(200, 'r');
  const auto role = parse_chat_request(body);
  REQUIRE_FALSE(role.has_value());
  CHECK(role.error().message.starts_with("messages[0].role: unknown role \"us\\xc3rrr"));
  CHECK(role.error().message.size() < 200);
  dumps_ok(role.error());
  body = Json::parse(body_with(""));
  body["tool_choice"] = std::string("\xe6\x97\xa5\xe6\x97") + "\"";
  const auto choice = parse_chat_request(body);
  REQUIRE_FALSE(choice.has_value());
  CHECK(choice.error().message.ends_with("got \"\xe6\x97\xa5\\xe6\\x97\\\"\""));
  dumps_ok(choice.error());
  body = Json::parse(body_with(""));
  body["messages"][0]["content"] = {{{"type", "image_url"}, {"image_url", {{"url", 5}}}}};
  body["messages"][0][std::string("\xff") + std::string(500, 'k')] = 1;
  dumps_ok(parse_chat_request(body).error());
}

TEST_CASE("ErrorBody: error_body_for makes a message that is not UTF-8 dumpable") {
  const auto body = error_body_for(Error::internal(std::string("bad \xff byte\n")));
  CHECK(body.message == "bad \\xff byte\\x0a");
  CHECK_NOTHROW((void)to_json(body).dump());
  CHECK(error_body_for(Error::internal("line one\nline two")).message == "line one\nline two");
}
