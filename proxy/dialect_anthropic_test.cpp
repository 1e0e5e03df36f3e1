// AnthropicDialect, the request side: Messages requests as chat requests, and malformed
// ones refused naming the field. Replies, streams and errors are tested in
// dialect_anthropic_reply_test.cpp.
#include "proxy/dialect_anthropic.h"

#include <string>
#include <vector>

#include <doctest/doctest.h>

using ask::core::ErrorKind;
using ask::core::Json;
using ask::proxy::AnthropicDialect;

// Named, not anonymous: in a unity build this file shares a translation unit with other
// tests whose helpers have the same names.
namespace anthropic_request_test {

const AnthropicDialect k_dialect;

// A valid request with one user message, with `patch` merged over it.
Json request(const Json& patch = Json::object()) {
  Json req = {{"model", "claude-sonnet-4-5"},
              {"max_tokens", 64},
              {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
  req.update(patch);
  return req;
}

Json translate(const Json& req) {
  auto out = k_dialect.to_openai(req);
  REQUIRE_MESSAGE(out.has_value(), (out ? "" : out.error().message));
  // What the chat path will do with it next: it must be a valid chat request.
  const auto chat = ask::core::parse_chat_request(*out);
  CHECK_MESSAGE(chat.has_value(), (chat ? "" : chat.error().message));
  return *out;
}

// The chat messages of `messages` (after the request's default fields).
Json messages_of(const Json& messages) {
  return translate(request({{"messages", messages}}))["messages"];
}

// Checks that `req` is refused as bad_request with a message starting with "`field`:".
void check_bad(const Json& req, const std::string& field) {
  const auto out = k_dialect.to_openai(req);
  REQUIRE_MESSAGE(!out.has_value(), (out ? out->dump() : ""));
  INFO(out.error().message);
  CHECK(out.error().kind == ErrorKind::bad_request);
  CHECK(out.error().message.rfind(field + ":", 0) == 0);
}

const std::string k_png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGA"
                          "hKmMIQAAAABJRU5ErkJggg==";

// ---- Request ----

TEST_CASE("AnthropicDialect: a minimal request becomes the same chat request") {
  const auto out = translate(request());
  CHECK(out == Json::parse(R"({"model":"claude-sonnet-4-5","max_tokens":64,
                               "messages":[{"role":"user","content":"hi"}]})"));
  CHECK(k_dialect.name() == "messages");
  CHECK(k_dialect.stream_usage_always());
}

TEST_CASE("AnthropicDialect: sampling fields, stream and stop_sequences carry over - metadata "
          "and unknown fields are dropped") {
  const auto out = translate(request({{"stream", true},
                                      {"temperature", 0.5},
                                      {"top_p", 0.9},
                                      {"top_k", 40},
                                      {"stop_sequences", {"\n\nHuman:", "END"}},
                                      {"metadata", {{"user_id", "u-1"}}},
                                      {"service_tier", "auto"}}));
  CHECK(out.at("stream") == true);
  CHECK(out.at("temperature") == 0.5);
  CHECK(out.at("top_p") == 0.9);
  CHECK(out.at("top_k") == 40);
  CHECK(out.at("stop") == Json{"\n\nHuman:", "END"});
  CHECK_FALSE(out.contains("metadata"));
  CHECK_FALSE(out.contains("service_tier"));
  CHECK_FALSE(out.contains("stop_sequences"));
  // An integral float is an integer; an empty stop list sends none.
  const auto more = translate(request({{"max_tokens", 16.0}, {"stop_sequences", Json::array()}}));
  CHECK(more.at("max_tokens") == 16);
  CHECK(more.at("max_tokens").is_number_integer());
  CHECK_FALSE(more.contains("stop"));
  // null is "unset", as SDKs send it.
  CHECK_FALSE(translate(request({{"temperature", nullptr}})).contains("temperature"));
}

TEST_CASE("AnthropicDialect: system as a string or text blocks becomes one system message") {
  CHECK(translate(request({{"system", "Be brief."}}))["messages"][0] ==
        Json{{"role", "system"}, {"content", "Be brief."}});
  // Blocks join with nothing between them, as llama-server's own door joins them.
  const auto blocks = translate(request({{"system",
                                          {{{"type", "text"}, {"text", "You are Claude Code."}},
                                           {{"type", "text"},
                                            {"text", "\nBe brief."},
                                            {"cache_control", {{"type", "ephemeral"}}}}}}}));
  CHECK(blocks.at("messages").at(0) ==
        Json{{"role", "system"}, {"content", "You are Claude Code.\nBe brief."}});
  CHECK(blocks.at("messages").at(1).at("role") == "user");
  // An empty system sends no system message.
  CHECK(translate(request({{"system", ""}}))["messages"].size() == 1);
}

TEST_CASE("AnthropicDialect: system messages among the messages join the one leading system "
          "message, in order (Claude Code 2.x sends its agent list so)") {
  const auto out = translate(request(
      {{"system", "You are Claude Code."},
       {"messages",
        {{{"role", "user"}, {"content", "explain main.cpp"}},
         {{"role", "system"}, {"content", "Available agent types: claude."}},
         {{"role", "system"}, {"content", {{{"type", "text"}, {"text", "Be brief."}}}}}}}}));
  CHECK(out.at("messages") ==
        Json::array({{{"role", "system"},
                      {"content", "You are Claude Code.\n\nAvailable agent types: claude.\n\n"
                                  "Be brief."}},
                     {{"role", "user"}, {"content", "explain main.cpp"}}}));
  // Without a top-level system, the first system message leads.
  const auto alone = translate(
      request({{"messages",
                {{{"role", "user"}, {"content", "hi"}}, {{"role", "system"}, {"content", "S"}}}}}));
  CHECK(alone.at("messages").at(0) == Json{{"role", "system"}, {"content", "S"}});
  CHECK(alone.at("messages").size() == 2);
}

TEST_CASE("AnthropicDialect: Claude Code's per-request billing stamp is normalised, so the "
          "backend's prompt cache still matches") {
  const std::string header =
      "x-anthropic-billing-header: cc_version=2.1.101.e51; cc_entrypoint=cli; cch=a5145;";
  const auto out = translate(request({{"system",
                                       {{{"type", "text"}, {"text", header}},
                                        {{"type", "text"}, {"text", "You are Claude Code."}}}}}));
  CHECK(out.at("messages").at(0).at("content") ==
        "x-anthropic-billing-header: cc_version=2.1.101.e51; cc_entrypoint=cli; cch=fffff;"
        "You are Claude Code.");
  // Anything else is left alone, including a stamp of another length.
  const std::string other = "x-anthropic-billing-header: cch=a51;rest";
  CHECK(translate(request({{"system", other}}))["messages"][0]["content"] == other);
  CHECK(translate(request({{"system", "cch=a5145;"}}))["messages"][0]["content"] == "cch=a5145;");
}

TEST_CASE("AnthropicDialect: user text blocks join with newlines - images become image_url parts") {
  CHECK(messages_of({{{"role", "user"},
                      {"content",
                       {{{"type", "text"}, {"text", "one"}},
                        {{"type", "text"}, {"text", ""}},
                        {{"type", "text"}, {"text", "two"}}}}}}) ==
        Json::parse(R"([{"role":"user","content":"one\ntwo"}])"));
  const auto images = messages_of(
      {{{"role", "user"},
        {"content",
         {{{"type", "text"}, {"text", "What is in these?"}},
          {{"type", "image"},
           {"source", {{"type", "base64"}, {"media_type", "image/png"}, {"data", k_png}}}},
          {{"type", "image"},
           {"source", {{"type", "url"}, {"url", "https://example.com/cat.jpg"}}}}}}}});
  CHECK(images == Json::parse(R"([{"role":"user","content":[
      {"type":"text","text":"What is in these?"},
      {"type":"image_url","image_url":{"url":"data:image/png;base64,)" +
                              k_png + R"("}},
      {"type":"image_url","image_url":{"url":"https://example.com/cat.jpg"}}]}])"));
}

TEST_CASE("AnthropicDialect: a tool conversation becomes tool_calls and tool messages in chat "
          "order") {
  const auto out = translate(request({{"tools",
                                       {{{"name", "get_weather"},
                                         {"description", "Get the current weather for a city"},
                                         {"input_schema",
                                          {{"type", "object"},
                                           {"properties", {{"city", {{"type", "string"}}}}},
                                           {"required", {"city"}}}}}}},
                                      {"messages", Json::parse(R"([
          {"role":"user","content":"Weather in Paris and Rome?"},
          {"role":"assistant","content":[
             {"type":"text","text":"Checking."},
             {"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Paris"}},
             {"type":"tool_use","id":"toolu_2","name":"get_weather","input":{"city":"Rome"}}]},
          {"role":"user","content":[
             {"type":"text","text":"<system-reminder>be brief</system-reminder>"},
             {"type":"tool_result","tool_use_id":"toolu_1","content":"18C"},
             {"type":"tool_result","tool_use_id":"toolu_2","is_error":true,
              "content":[{"type":"text","text":"timeout"},{"type":"text","text":"retry later"}]}]}
        ])")}}));
  CHECK(out.at("tools") == Json::parse(R"([{"type":"function","function":{"name":"get_weather",
        "description":"Get the current weather for a city","parameters":{"type":"object",
        "properties":{"city":{"type":"string"}},"required":["city"]}}}])"));
  // The tool messages come straight after the assistant's calls, the user's text after them;
  // is_error reaches the model as text.
  CHECK(out.at("messages") == Json::parse(R"([
      {"role":"user","content":"Weather in Paris and Rome?"},
      {"role":"assistant","content":"Checking.","tool_calls":[
         {"id":"toolu_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},
         {"id":"toolu_2","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Rome\"}"}}]},
      {"role":"tool","tool_call_id":"toolu_1","content":"18C"},
      {"role":"tool","tool_call_id":"toolu_2","content":"Error: timeout\nretry later"},
      {"role":"user","content":"<system-reminder>be brief</system-reminder>"}])"));
}

TEST_CASE("AnthropicDialect: tool results without content, with an error only, or with images") {
  const auto out = messages_of(Json::parse(R"([
      {"role":"user","content":"go"},
      {"role":"assistant","content":[
         {"type":"tool_use","id":"t1","name":"ls","input":{}},
         {"type":"tool_use","id":"t2","name":"ls","input":{}},
         {"type":"tool_use","id":"t3","name":"shot","input":{}}]},
      {"role":"user","content":[
         {"type":"tool_result","tool_use_id":"t1"},
         {"type":"tool_result","tool_use_id":"t2","is_error":true,"content":""},
         {"type":"tool_result","tool_use_id":"t3","content":[
            {"type":"image","source":{"type":"url","url":"https://example.com/s.png"}}]}]}])"));
  // No text at all: the assistant's content is "" (not null), as llama-server's door sends it.
  CHECK(out.at(1).at("content") == "");
  CHECK(out.at(1).at("tool_calls").at(0).at("function").at("arguments") == "{}");
  CHECK(out.at(2) == Json::parse(R"({"role":"tool","tool_call_id":"t1","content":""})"));
  CHECK(out.at(3) == Json::parse(R"({"role":"tool","tool_call_id":"t2","content":"Error"})"));
  CHECK(out.at(4) == Json::parse(R"({"role":"tool","tool_call_id":"t3","content":[
      {"type":"image_url","image_url":{"url":"https://example.com/s.png"}}]})"));
  CHECK(out.size() == 5); // no empty user message after the tool results
}

TEST_CASE("AnthropicDialect: thinking blocks become reasoning_content, redacted ones are "
          "dropped") {
  const auto out = messages_of(Json::parse(R"([
      {"role":"user","content":"2+2?"},
      {"role":"assistant","content":[
         {"type":"thinking","thinking":"Add them.","signature":"sig"},
         {"type":"redacted_thinking","data":"opaque"},
         {"type":"text","text":"4"}]},
      {"role":"assistant","content":[{"type":"redacted_thinking","data":"opaque"}]},
      {"role":"user","content":"and 3+3?"}])"));
  CHECK(out == Json::parse(R"([
      {"role":"user","content":"2+2?"},
      {"role":"assistant","content":"4","reasoning_content":"Add them."},
      {"role":"user","content":"and 3+3?"}])"));
}

TEST_CASE("AnthropicDialect: a last assistant message is a prefill - an empty one is dropped") {
  const auto prefill = messages_of(Json::parse(R"([
      {"role":"user","content":"Say a JSON object"},
      {"role":"assistant","content":"{"}])"));
  CHECK(prefill.back() == Json{{"role", "assistant"}, {"content", "{"}});
  for (const Json& empty : {Json(""), Json::array()}) {
    const auto out = messages_of(
        {{{"role", "user"}, {"content", "hi"}}, {{"role", "assistant"}, {"content", empty}}});
    CHECK(out == Json::parse(R"([{"role":"user","content":"hi"}])"));
  }
}

TEST_CASE("AnthropicDialect: tool_choice and thinking") {
  const Json tools = Json::parse(
      R"([{"name":"ls","input_schema":{"type":"object"},"cache_control":{"type":"ephemeral"}}])");
  auto with = [&](const Json& patch) {
    Json p = {{"tools", tools}};
    p.update(patch);
    return translate(request(p));
  };
  CHECK(with({{"tool_choice", {{"type", "auto"}}}})["tool_choice"] == "auto");
  CHECK(with({{"tool_choice", {{"type", "any"}}}})["tool_choice"] == "required");
  CHECK(with({{"tool_choice", {{"type", "none"}}}})["tool_choice"] == "none");
  const auto named = with(
      {{"tool_choice", {{"type", "tool"}, {"name", "ls"}, {"disable_parallel_tool_use", true}}}});
  CHECK(named.at("tool_choice") == Json::parse(R"({"type":"function","function":{"name":"ls"}})"));
  CHECK(named.at("parallel_tool_calls") == false);
  CHECK_FALSE(with({{"tool_choice", {{"type", "auto"}, {"disable_parallel_tool_use", false}}}})
                  .contains("parallel_tool_calls"));
  // A tool without a description has none in chat either; cache_control is dropped.
  CHECK(with(Json::object())["tools"] ==
        Json::parse(
            R"([{"type":"function","function":{"name":"ls","parameters":{"type":"object"}}}])"));

  const auto on =
      translate(request({{"thinking", {{"type", "enabled"}, {"budget_tokens", 2048}}}}));
  CHECK(on.at("chat_template_kwargs") == Json{{"enable_thinking", true}});
  CHECK(on.at("thinking_budget_tokens") == 2048);
  CHECK(translate(request({{"thinking", {{"type", "adaptive"}}}}))["chat_template_kwargs"] ==
        Json{{"enable_thinking", true}});
  const auto off = translate(request({{"thinking", {{"type", "disabled"}}}}));
  CHECK(off.at("chat_template_kwargs") == Json{{"enable_thinking", false}});
  CHECK_FALSE(off.contains("thinking_budget_tokens"));
}

TEST_CASE("AnthropicDialect: malformed requests are bad_request naming the Anthropic field") {
  const Json image_source = {{"type", "base64"}, {"media_type", "image/png"}, {"data", k_png}};
  auto user_blocks = [](const Json& blocks) {
    return Json{{"messages",
                 {{{"role", "user"}, {"content", "hi"}},
                  {{"role", "assistant"}, {"content", "ok"}},
                  {{"role", "user"}, {"content", blocks}}}}};
  };
  auto image_with = [&](const Json& source_patch) {
    Json source = image_source;
    source.update(source_patch);
    return user_blocks({{{"type", "image"}, {"source", source}}});
  };
  auto assistant_blocks = [](const Json& blocks) {
    return Json{{"messages",
                 {{{"role", "user"}, {"content", "hi"}},
                  {{"role", "assistant"}, {"content", blocks}},
                  {{"role", "user"}, {"content", "go on"}}}}};
  };
  const Json cases[][2] = {
      {Json{{"model", nullptr}}, "model"},
      {Json{{"model", ""}}, "model"},
      {Json{{"model", 7}}, "model"},
      {Json{{"max_tokens", nullptr}}, "max_tokens"},
      {Json{{"max_tokens", 0}}, "max_tokens"},
      {Json{{"max_tokens", 1.5}}, "max_tokens"},
      {Json{{"max_tokens", "64"}}, "max_tokens"},
      {Json{{"max_tokens", 1e30}}, "max_tokens"},
      {Json{{"messages", nullptr}}, "messages"},
      {Json{{"messages", "hi"}}, "messages"},
      {Json{{"messages", Json::array()}}, "messages"},
      {Json{{"messages", {{{"role", "assistant"}, {"content", ""}}}}}, "messages"},
      {Json{{"messages", {"hi"}}}, "messages[0]"},
      {Json{{"messages", {{{"role", "tool"}, {"content", "hi"}}}}}, "messages[0].role"},
      {Json{{"messages", {{{"role", "system"}, {"content", "hi"}}}}}, "messages"},
      {Json{{"messages", {{{"role", "system"}}, {{"role", "user"}, {"content", "hi"}}}}},
       "messages[0].content"},
      {Json{{"messages",
             {{{"role", "system"}, {"content", {{{"type", "image"}}}}},
              {{"role", "user"}, {"content", "hi"}}}}},
       "messages[0].content[0].type"},
      {Json{{"messages", {{{"content", "hi"}}}}}, "messages[0].role"},
      {Json{{"messages", {{{"role", "user"}}}}}, "messages[0].content"},
      {Json{{"messages", {{{"role", "user"}, {"content", 3}}}}}, "messages[0].content"},
      {Json{{"messages", {{{"role", "user"}, {"content", ""}}}}}, "messages[0].content"},
      {Json{{"messages", {{{"role", "user"}, {"content", Json::array()}}}}}, "messages[0].content"},
      {user_blocks({"text"}), "messages[2].content[0]"},
      {user_blocks({{{"text", "no type"}}}), "messages[2].content[0].type"},
      {user_blocks({{{"type", "text"}}}), "messages[2].content[0].text"},
      {user_blocks({{{"type", "text"}, {"text", 1}}}), "messages[2].content[0].text"},
      {user_blocks({{{"type", "document"}, {"source", image_source}}}),
       "messages[2].content[0].type"},
      {user_blocks({{{"type", "tool_use"}, {"id", "t"}, {"name", "n"}, {"input", Json::object()}}}),
       "messages[2].content[0].type"},
      {user_blocks({{{"type", "thinking"}, {"thinking", "x"}}}), "messages[2].content[0].type"},
      {user_blocks({{{"type", "image"}}}), "messages[2].content[0].source"},
      {user_blocks({{{"type", "image"}, {"source", "x"}}}), "messages[2].content[0].source"},
      {image_with({{"type", "file"}}), "messages[2].content[0].source.type"},
      {image_with({{"type", nullptr}}), "messages[2].content[0].source.type"},
      {image_with({{"media_type", "image/bmp"}}), "messages[2].content[0].source.media_type"},
      {image_with({{"media_type", nullptr}}), "messages[2].content[0].source.media_type"},
      {image_with({{"data", ""}}), "messages[2].content[0].source.data"},
      {image_with({{"data", 5}}), "messages[2].content[0].source.data"},
      {image_with({{"type", "url"}}), "messages[2].content[0].source.url"},
      {user_blocks({{{"type", "tool_result"}}}), "messages[2].content[0].tool_use_id"},
      {user_blocks({{{"type", "tool_result"}, {"tool_use_id", ""}}}),
       "messages[2].content[0].tool_use_id"},
      {user_blocks({{{"type", "tool_result"}, {"tool_use_id", "t"}, {"is_error", "yes"}}}),
       "messages[2].content[0].is_error"},
      {user_blocks({{{"type", "tool_result"}, {"tool_use_id", "t"}, {"content", 5}}}),
       "messages[2].content[0].content"},
      {user_blocks({{{"type", "tool_result"},
                     {"tool_use_id", "t"},
                     {"content", {{{"type", "document"}}}}}}),
       "messages[2].content[0].content[0].type"},
      {user_blocks(
           {{{"type", "tool_result"}, {"tool_use_id", "t"}, {"content", {{{"type", "image"}}}}}}),
       "messages[2].content[0].content[0].source"},
      {assistant_blocks({{{"type", "image"}, {"source", image_source}}}),
       "messages[1].content[0].type"},
      {assistant_blocks({{{"type", "tool_use"}, {"name", "n"}, {"input", Json::object()}}}),
       "messages[1].content[0].id"},
      {assistant_blocks({{{"type", "tool_use"}, {"id", "t"}, {"input", Json::object()}}}),
       "messages[1].content[0].name"},
      {assistant_blocks({{{"type", "tool_use"}, {"id", "t"}, {"name", "n"}}}),
       "messages[1].content[0].input"},
      {assistant_blocks({{{"type", "tool_use"}, {"id", "t"}, {"name", "n"}, {"input", "{}"}}}),
       "messages[1].content[0].input"},
      {assistant_blocks({{{"type", "thinking"}}}), "messages[1].content[0].thinking"},
      {assistant_blocks({{{"type", "text"}, {"text", "a"}}, {{"type", "server_tool_use"}}}),
       "messages[1].content[1].type"},
      {assistant_blocks(Json::array()), "messages[1].content"},
      {Json{{"system", 5}}, "system"},
      {Json{{"system", {"text"}}}, "system[0]"},
      {Json{{"system", {{{"type", "image"}}}}}, "system[0].type"},
      {Json{{"system", {{{"type", "text"}}}}}, "system[0].text"},
      {Json{{"stream", "yes"}}, "stream"},
      {Json{{"temperature", 1.5}}, "temperature"},
      {Json{{"temperature", -0.1}}, "temperature"},
      {Json{{"temperature", "0.5"}}, "temperature"},
      {Json{{"top_p", 2}}, "top_p"},
      {Json{{"top_k", -1}}, "top_k"},
      {Json{{"top_k", 0.5}}, "top_k"},
      {Json{{"stop_sequences", "END"}}, "stop_sequences"},
      {Json{{"stop_sequences", {"a", 1}}}, "stop_sequences[1]"},
      {Json{{"stop_sequences", Json(std::vector<std::string>(17, "x"))}}, "stop_sequences"},
      {Json{{"tools", Json::object()}}, "tools"},
      {Json{{"tools", {"ls"}}}, "tools[0]"},
      {Json{{"tools", {{{"input_schema", Json::object()}}}}}, "tools[0].name"},
      {Json{{"tools", {{{"name", "ls"}}}}}, "tools[0].input_schema"},
      {Json{{"tools", {{{"name", "ls"}, {"input_schema", "object"}}}}}, "tools[0].input_schema"},
      {Json{{"tools", {{{"name", "ls"}, {"description", 1}, {"input_schema", Json::object()}}}}},
       "tools[0].description"},
      {Json{{"tools", {{{"type", "web_search_20250305"}, {"name", "web_search"}}}}},
       "tools[0].type"},
      {Json{{"tool_choice", "auto"}}, "tool_choice"},
      {Json{{"tool_choice", Json::object()}}, "tool_choice.type"},
      {Json{{"tool_choice", {{"type", "required"}}}}, "tool_choice.type"},
      {Json{{"tool_choice", {{"type", "tool"}}}}, "tool_choice.name"},
      {Json{{"tool_choice", {{"type", "auto"}, {"disable_parallel_tool_use", 1}}}},
       "tool_choice.disable_parallel_tool_use"},
      {Json{{"thinking", true}}, "thinking"},
      {Json{{"thinking", {{"type", "on"}}}}, "thinking.type"},
      {Json{{"thinking", {{"type", "enabled"}, {"budget_tokens", "1024"}}}},
       "thinking.budget_tokens"},
      {Json{{"thinking", {{"type", "enabled"}, {"budget_tokens", 0}}}}, "thinking.budget_tokens"},
  };
  for (const auto& [patch, field] : cases) {
    INFO(patch.dump());
    check_bad(request(patch), field.get<std::string>());
  }
  check_bad(Json::array(), "body");
  check_bad(Json("hi"), "body");
}

TEST_CASE(
    "AnthropicDialect: a count_tokens body needs no max_tokens, and its sampling is not read") {
  Json body = {{"model", "claude-sonnet-4-5"},
               {"system", "be brief"},
               {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
  CHECK_FALSE(k_dialect.to_openai(body)); // a Messages request must say max_tokens
  auto counted = k_dialect.to_openai_for_count(body);
  REQUIRE_MESSAGE(counted.has_value(), (counted ? "" : counted.error().message));
  CHECK_FALSE(counted->contains("max_tokens"));
  CHECK((*counted)["messages"].size() == 2);
  body["temperature"] = 7; // out of Anthropic's range, but irrelevant to a count
  CHECK(k_dialect.to_openai_for_count(body));
  // The prompt's own parts are still checked.
  body["messages"] = "hi";
  CHECK_FALSE(k_dialect.to_openai_for_count(body));
}

} // namespace anthropic_request_test
