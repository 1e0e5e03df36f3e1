#include <doctest/doctest.h>

#include "core/openai.h"
#include "core/test_fixtures.h"

using namespace ask::core;
using ask::core::testing::http_body;
using ask::core::testing::read_fixture;
using ask::core::testing::restore_blank_lines;
using ask::core::testing::sse_payloads;

namespace {

std::vector<ChatChunk> chunks_of(const std::string& body) {
  std::vector<ChatChunk> out;
  for (const auto& payload : sse_payloads(body)) {
    auto chunk = parse_chat_chunk(payload);
    INFO(payload.dump());
    REQUIRE_MESSAGE(chunk.has_value(), (chunk ? "" : chunk.error().message));
    out.push_back(std::move(*chunk));
  }
  return out;
}

ChatResponse accumulate(const std::vector<ChatChunk>& chunks) {
  ChunkAccumulator acc;
  for (const auto& chunk : chunks) {
    acc.add(chunk);
  }
  return acc.result();
}

} // namespace

TEST_CASE("ChatResponse: parses llama-server's non-streaming reply") {
  const auto body = Json::parse(http_body(read_fixture("llama-server/chat-nonstream.http")));
  const auto resp = parse_chat_response(body);
  REQUIRE(resp.has_value());
  CHECK(resp->id == "chatcmpl-FPmJYsLCWRrv4YnmQPzy96w7p7vpiL39");
  CHECK(resp->object == "chat.completion");
  CHECK(resp->created == 1795305769);
  CHECK(resp->model == "/opt/models/tiny-fixtures/tiny-llama-2L-f16.gguf");
  CHECK(resp->system_fingerprint == "b10587-3f545becc");
  REQUIRE(resp->choices.size() == 1);
  CHECK(resp->choices[0].finish_reason == "length");
  CHECK(resp->choices[0].message.role == "assistant");
  CHECK(resp->choices[0].message.content == std::string(16, '\n'));
  REQUIRE(resp->usage.has_value());
  CHECK(resp->usage->prompt_tokens == 59);
  CHECK(resp->usage->completion_tokens == 16);
  CHECK(resp->usage->total_tokens == 75);
  CHECK(resp->usage->extra.at("prompt_tokens_details").at("cached_tokens") == 0);
  CHECK(resp->extra.at("timings").at("predicted_n") == 16);
  CHECK(to_json(*resp) == body); // nothing lost
}

TEST_CASE("ChatResponse: parses the llama-server tool-enabled and logprobs replies") {
  const auto tools = Json::parse(http_body(read_fixture("llama-server/chat-tools-nonstream.http")));
  const auto resp = parse_chat_response(tools);
  REQUIRE(resp.has_value());
  CHECK(resp->usage->extra.at("prompt_tokens_details").at("cached_tokens") == 242);
  CHECK(to_json(*resp) == tools);

  // Reply 15 of errors.http carries choices[0].logprobs.
  const auto errors = read_fixture("llama-server/errors.http");
  const auto start = errors.find("{\"choices\"", errors.find("### 15."));
  const auto end = errors.find('\n', start);
  const auto logprobs = Json::parse(errors.substr(start, end - start));
  const auto with_logprobs = parse_chat_response(logprobs);
  REQUIRE(with_logprobs.has_value());
  CHECK(with_logprobs->choices[0].extra.contains("logprobs"));
  CHECK(to_json(*with_logprobs) == logprobs);
}

TEST_CASE("ChatResponse: parses Ollama's /v1 non-streaming replies") {
  for (const char* name : {"ollama/v1-chat-completions-nonstream-llama2-7b-leading-newline.json",
                           "ollama/v1-chat-completions-nonstream-llama3.2-japanese-windows.json",
                           "ollama/v1-chat-completions-nonstream-llama3.json"}) {
    INFO(name);
    const auto body = Json::parse(read_fixture(name));
    const auto resp = parse_chat_response(body);
    REQUIRE(resp.has_value());
    CHECK(resp->id.starts_with("chatcmpl-"));
    CHECK(resp->system_fingerprint == "fp_ollama");
    REQUIRE(resp->choices.size() == 1);
    CHECK(resp->choices[0].finish_reason == "stop");
    CHECK_FALSE(resp->choices[0].message.text().empty());
    CHECK(resp->usage->total_tokens == resp->usage->prompt_tokens + resp->usage->completion_tokens);
    CHECK(to_json(*resp) == body);
  }
  const auto leading = parse_chat_response(Json::parse(
      read_fixture("ollama/v1-chat-completions-nonstream-llama2-7b-leading-newline.json")));
  CHECK(leading->choices[0].message.text().starts_with("\nYes, it is."));
}

TEST_CASE("ChatResponse: reads tool calls, null content and Ollama's reasoning") {
  const auto body = Json::parse(R"({"id":"x","object":"chat.completion","created":1,"model":"m",
      "choices":[{"index":0,"finish_reason":"tool_calls","message":{"role":"assistant",
        "content":null,"reasoning":"think","tool_calls":[{"id":"c1","type":"function",
        "function":{"name":"f","arguments":"{\"a\":1}"}},{"function":{"name":"g",
        "arguments":{"b":2}},"index":1}]}}]})");
  const auto resp = parse_chat_response(body);
  REQUIRE(resp.has_value());
  const auto& msg = resp->choices[0].message;
  CHECK_FALSE(msg.content.has_value());
  CHECK(msg.reasoning_content == "think");
  REQUIRE(msg.tool_calls.size() == 2);
  CHECK(msg.tool_calls[0].function.arguments == "{\"a\":1}");
  CHECK(msg.tool_calls[1].id.empty());
  CHECK(msg.tool_calls[1].type == "function");
  CHECK(Json::parse(msg.tool_calls[1].function.arguments) == Json::parse(R"({"b":2})"));
  CHECK(msg.tool_calls[1].extra.at("index") == 1);
  const auto out = to_json(*resp);
  CHECK(out["choices"][0]["message"]["content"].is_null());
  CHECK(out["choices"][0]["message"]["reasoning_content"] == "think");
}

TEST_CASE("ChatResponse: malformed replies are upstream errors naming the field") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"[]", "body: expected an object, got an array"},
      {R"({"choices":{}})", "choices: expected an array, got an object"},
      {R"({"choices":[1]})", "choices[0]: expected an object, got an integer"},
      {R"({"choices":[{"message":{"role":"assistant","content":5}}]})",
       "choices[0].message.content: expected a string, an array of content parts or null"},
      {R"({"choices":[{"message":{"content":"x"}}]})", "choices[0].message.role: required"},
      {R"({"choices":[{"index":-1}]})", "choices[0].index: index out of range"},
      {R"({"choices":[{"finish_reason":1}]})",
       "choices[0].finish_reason: expected a string or null"},
      {R"({"created":"now"})", "created: expected an integer, got a string"},
      {R"({"usage":{"prompt_tokens":"5"}})", "usage.prompt_tokens: expected an integer"},
      {R"({"id":5})", "id: expected a string, got an integer"},
  };
  for (const auto& [text, expected] : cases) {
    INFO(text);
    const auto resp = parse_chat_response(Json::parse(text));
    REQUIRE_FALSE(resp.has_value());
    CHECK(resp.error().kind == ErrorKind::upstream_status);
    CHECK(resp.error().http_status == 502);
    CHECK(resp.error().message.starts_with("invalid chat response: " + expected));
  }
}

TEST_CASE("ChatChunk: parses llama-server's stream, first chunk with content null") {
  bool done = false;
  const auto payloads = sse_payloads(read_fixture("llama-server/chat-stream.body.sse"), &done);
  CHECK(done);
  REQUIRE(payloads.size() == 18);
  std::vector<ChatChunk> chunks;
  for (const auto& p : payloads) {
    auto chunk = parse_chat_chunk(p);
    REQUIRE(chunk.has_value());
    CHECK(to_json(*chunk) == p); // every chunk comes back as it was
    chunks.push_back(std::move(*chunk));
  }
  const auto& first = chunks.front().choices.at(0).delta;
  CHECK(first.role == "assistant");
  CHECK_FALSE(first.content.has_value());
  CHECK(first.content_is_null);
  CHECK(chunks[1].choices.at(0).delta.content == "\n");
  CHECK_FALSE(chunks[1].choices.at(0).delta.content_is_null);
  CHECK(chunks.back().choices.at(0).finish_reason == "length");
  CHECK(chunks.back().extra.contains("timings"));
  CHECK(chunks.front().object == "chat.completion.chunk");
}

TEST_CASE("ChatChunk: parses llama-server's usage-only final chunk") {
  const auto body = http_body(read_fixture("llama-server/chat-stream-usage.sse"));
  const auto chunks = chunks_of(body);
  REQUIRE(chunks.size() == 19);
  const auto& last = chunks.back();
  CHECK(last.choices.empty());
  REQUIRE(last.usage.has_value());
  CHECK(last.usage->completion_tokens == 16);
  CHECK(last.usage->prompt_tokens == 59);
  CHECK(last.extra.contains("timings"));
  const auto resp = accumulate(chunks);
  CHECK(resp.usage->total_tokens == 75);
  CHECK(resp.choices.at(0).message.content == std::string(16, '\n'));
  CHECK(resp.choices.at(0).finish_reason == "length");
}

TEST_CASE("ChunkAccumulator: the llama-server stream equals the non-streaming reply") {
  // The same request, streamed and not: same content, finish reason and model.
  const auto streamed = accumulate(chunks_of(read_fixture("llama-server/chat-stream.body.sse")));
  const auto direct = *parse_chat_response(
      Json::parse(http_body(read_fixture("llama-server/chat-nonstream.http"))));
  REQUIRE(streamed.choices.size() == 1);
  CHECK(streamed.object == "chat.completion");
  CHECK(streamed.model == direct.model);
  CHECK(streamed.id == "chatcmpl-juPcAT5suD5Urge6756jYmra82w5V8tV");
  CHECK(streamed.created == direct.created);
  CHECK(streamed.system_fingerprint == direct.system_fingerprint);
  CHECK(streamed.choices[0].message.role == "assistant");
  CHECK(streamed.choices[0].message.content == direct.choices[0].message.content);
  CHECK(streamed.choices[0].finish_reason == direct.choices[0].finish_reason);
  CHECK(streamed.choices[0].message.tool_calls.empty());
  CHECK_FALSE(streamed.usage.has_value());
  CHECK(streamed.extra.at("timings").at("predicted_n") == 16);
}

TEST_CASE("ChunkAccumulator: merges Ollama's parallel tool-call stream") {
  // The recording stops before its last blank line; end it so the final chunk counts.
  const auto chunks = chunks_of(
      read_fixture("ollama/v1-chat-completions-sse-parallel-tool_calls-qwen2.5-coder-7b.txt") +
      "\n");
  REQUIRE(chunks.size() == 3);
  ChunkAccumulator acc;
  CHECK_FALSE(acc.saw_content());
  for (const auto& chunk : chunks) {
    acc.add(chunk);
  }
  CHECK(acc.saw_content());
  const auto resp = acc.result();
  const auto& msg = resp.choices.at(0).message;
  CHECK(resp.choices[0].finish_reason == "tool_calls");
  CHECK(msg.content == "");
  REQUIRE(msg.tool_calls.size() == 2);
  CHECK(msg.tool_calls[0].id == "call_wteop8bt");
  CHECK(msg.tool_calls[0].function.name == "run_command");
  CHECK(msg.tool_calls[0].function.arguments == R"({"command":"ls"})");
  CHECK(msg.tool_calls[1].id == "call_rk2xye1l");
  CHECK(msg.tool_calls[1].function.arguments == R"({"command":"ls -l"})");
  CHECK(resp.model == "qwen2.5-coder:7b-instruct-q8_0");
}

TEST_CASE("ChunkAccumulator: merges the ollama.com reasoning and tool-call stream") {
  const auto text = read_fixture(
      "ollama/v1-chat-completions-sse-tail-reasoning-content-tool_calls-usage-ollama-cloud.txt");
  const auto chunks = chunks_of(restore_blank_lines(text));
  REQUIRE(chunks.size() == 35);
  // Expected pieces, gathered from the raw JSON without the chunk parser.
  std::string reasoning;
  std::string content;
  for (const auto& payload : sse_payloads(restore_blank_lines(text))) {
    for (const auto& choice : payload.at("choices")) {
      const auto& delta = choice.at("delta");
      reasoning += delta.value("reasoning", "");
      content += delta.value("content", "");
    }
  }
  REQUIRE(reasoning.starts_with(".\n\nLet me"));
  REQUIRE_FALSE(content.empty());
  const auto resp = accumulate(chunks);
  const auto& msg = resp.choices.at(0).message;
  CHECK(msg.reasoning_content == reasoning);
  CHECK(msg.content == content);
  CHECK(msg.content->ends_with(" exact byte-matching in edits."));
  REQUIRE(msg.tool_calls.size() == 1);
  CHECK(msg.tool_calls[0].id == "call_zypd5okh");
  CHECK(msg.tool_calls[0].type == "function");
  CHECK(msg.tool_calls[0].function.name == "read");
  CHECK(Json::parse(msg.tool_calls[0].function.arguments) ==
        Json::parse(R"({"path":"src/coding/tools/edit.zig","offset":230,"limit":30})"));
  CHECK(resp.choices[0].finish_reason == "tool_calls");
  REQUIRE(resp.usage.has_value());
  CHECK(resp.usage->prompt_tokens == 21898);
  CHECK(resp.usage->completion_tokens == 3120);
  CHECK(resp.usage->total_tokens == 25018);
  // "reasoning" is read as reasoning_content and written back under that name.
  const auto out = to_json(chunks.front());
  CHECK(out["choices"][0]["delta"]["reasoning_content"] == ".");
  CHECK_FALSE(out["choices"][0]["delta"].contains("reasoning"));
}

TEST_CASE("ChunkAccumulator: tool-call arguments arrive in pieces") {
  const std::vector<std::string> stream = {
      R"({"id":"c","created":5,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"get_weather","arguments":""}}]}}]})",
      R"({"id":"c","created":5,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"ci"}}]}}]})",
      R"({"id":"c","created":5,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":2,"id":"call_b","type":"function","function":{"name":"get_time","arguments":"{}"}}]}}]})",
      R"({"id":"c","created":5,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"ty\":\"Paris\"}"}}]}}]})",
      R"({"id":"c","created":5,"model":"m","choices":[{"index":1,"delta":{"content":"ignored"}}]})",
      R"({"id":"c","created":5,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]})",
  };
  ChunkAccumulator acc;
  for (const auto& text : stream) {
    auto chunk = parse_chat_chunk(Json::parse(text));
    REQUIRE(chunk.has_value());
    acc.add(*chunk);
  }
  const auto resp = acc.result();
  const auto& msg = resp.choices.at(0).message;
  CHECK_FALSE(msg.content.has_value());
  CHECK(to_json(msg).at("content").is_null());
  REQUIRE(msg.tool_calls.size() == 2);
  CHECK(msg.tool_calls[0].function.name == "get_weather");
  CHECK(msg.tool_calls[0].function.arguments == R"({"city":"Paris"})");
  CHECK(msg.tool_calls[1].id == "call_b");
  CHECK(msg.tool_calls[1].function.name == "get_time");
  CHECK(resp.choices[0].finish_reason == "tool_calls");
  CHECK(resp.created == 5);
}

TEST_CASE("ChunkAccumulator: saw_content ignores empty and null deltas") {
  ChunkAccumulator acc;
  acc.add(*parse_chat_chunk(
      Json::parse(R"({"choices":[{"index":0,"delta":{"role":"assistant","content":null}}]})")));
  acc.add(*parse_chat_chunk(Json::parse(R"({"choices":[{"index":0,"delta":{"content":""}}]})")));
  CHECK_FALSE(acc.saw_content());
  acc.add(*parse_chat_chunk(Json::parse(R"({"choices":[{"index":0,"delta":{"content":"x"}}]})")));
  CHECK(acc.saw_content());
  ChunkAccumulator reasoning;
  reasoning.add(*parse_chat_chunk(
      Json::parse(R"({"choices":[{"index":0,"delta":{"reasoning_content":"hm"}}]})")));
  CHECK(reasoning.saw_content());
}

TEST_CASE("ChatChunk: Ollama's /v1 chunks round-trip and carry CJK text") {
  const auto chunks =
      chunks_of(read_fixture("ollama/v1-chat-completions-sse-qwen2.5-coder-32b-chinese.txt"));
  REQUIRE(chunks.size() == 97);
  const auto resp = accumulate(chunks);
  CHECK(resp.choices.at(0).message.content->starts_with("Higress"));
  CHECK(resp.choices[0].finish_reason == "stop");
  CHECK(resp.model == "qwen2.5-coder:32b");
  CHECK(resp.created == 1739872009);
}

TEST_CASE("ChatChunk: both reasoning names present keep reasoning in extra") {
  const auto chunk = parse_chat_chunk(Json::parse(
      R"({"choices":[{"index":0,"delta":{"reasoning_content":"a","reasoning":"b"}}]})"));
  REQUIRE(chunk.has_value());
  CHECK(chunk->choices[0].delta.reasoning_content == "a");
  CHECK(chunk->choices[0].delta.extra.at("reasoning") == "b");
}

TEST_CASE("ChatChunk: malformed chunks are upstream errors naming the field") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"("data")", "body: expected an object, got a string"},
      {R"({"choices":[{"delta":[]}]})", "choices[0].delta: expected an object, got an array"},
      {R"({"choices":[{"delta":{"content":1}}]})",
       "choices[0].delta.content: expected a string or null"},
      {R"({"choices":[{"delta":{"tool_calls":{}}}]})",
       "choices[0].delta.tool_calls: expected an array"},
      {R"({"choices":[{"delta":{"tool_calls":[{"index":"0"}]}}]})",
       "choices[0].delta.tool_calls[0].index: expected an integer, got a string"},
      {R"({"choices":[{"delta":{"tool_calls":[{"function":{"arguments":7}}]}}]})",
       "choices[0].delta.tool_calls[0].function.arguments: expected a string or null"},
      {R"({"usage":[]})", "usage: expected an object, got an array"},
  };
  for (const auto& [text, expected] : cases) {
    INFO(text);
    const auto chunk = parse_chat_chunk(Json::parse(text));
    REQUIRE_FALSE(chunk.has_value());
    CHECK(chunk.error().kind == ErrorKind::upstream_status);
    CHECK(chunk.error().http_status == 502);
    CHECK(chunk.error().message.starts_with("invalid chat chunk: " + expected));
  }
}

TEST_CASE("ErrorBody: parses llama-server's error bodies (integer code, extra fields)") {
  const auto errors = read_fixture("llama-server/errors.http");
  std::vector<ErrorBody> bodies;
  for (auto pos = errors.find("{\"error\""); pos != std::string::npos;
       pos = errors.find("{\"error\"", pos + 1)) {
    const auto line = errors.substr(pos, errors.find('\n', pos) - pos);
    const auto parsed = Json::parse(line);
    auto body = parse_error_body(parsed);
    INFO(line);
    REQUIRE(body.has_value());
    CHECK_FALSE(body->message.empty());
    CHECK(body->code.is_number_integer());
    CHECK(to_json(*body).at("error").at("code") == parsed.at("error").at("code"));
    bodies.push_back(std::move(*body));
  }
  REQUIRE(bodies.size() == 13);
  CHECK(bodies[1].message == "'messages' is required");
  CHECK(bodies[1].type == "invalid_request_error");
  CHECK(bodies[1].code == 400);
  CHECK(bodies[4].type == "not_found_error");
  CHECK(bodies[7].type == "exceed_context_size_error");
  CHECK(bodies[7].extra.at("n_ctx") == 512);
  CHECK(bodies[7].extra.at("n_prompt_tokens") == 6452);
}

TEST_CASE("ErrorBody: parses OpenAI's shape and Ollama's string form") {
  const auto openai = parse_error_body(Json::parse(
      R"({"error":{"message":"Invalid model","type":"invalid_request_error","param":"model","code":"model_not_found"}})"));
  REQUIRE(openai.has_value());
  CHECK(openai->message == "Invalid model");
  CHECK(openai->param == "model");
  CHECK(openai->code == "model_not_found");
  const auto nulls = parse_error_body(
      Json::parse(R"({"error":{"message":"x","type":"server_error","param":null,"code":null}})"));
  REQUIRE(nulls.has_value());
  CHECK(nulls->code.is_null());
  CHECK_FALSE(nulls->param.has_value());
  CHECK(to_json(*nulls) ==
        Json::parse(R"({"error":{"message":"x","type":"server_error","param":null,"code":null}})"));
  const auto ollama = parse_error_body(
      Json::parse(read_fixture("ollama/api-delete-missing-model-error-http404.json")));
  REQUIRE(ollama.has_value());
  CHECK_FALSE(ollama->message.empty());
  CHECK(ollama->type.empty());
}

TEST_CASE("ErrorBody: rejects what is not an error body") {
  for (const char* text : {R"({})", R"([])", R"({"error":5})", R"({"error":{"message":5}})",
                           R"({"error":{"type":[]}})"}) {
    INFO(text);
    const auto body = parse_error_body(Json::parse(text));
    REQUIRE_FALSE(body.has_value());
    CHECK(body.error().kind == ErrorKind::upstream_status);
    CHECK(body.error().http_status == 502);
  }
}

TEST_CASE("ErrorBody: error_body_for gives askd's OpenAI-shaped errors") {
  const auto body = to_json(error_body_for(Error::bad_request("messages: required")));
  CHECK(body == Json::parse(R"({"error":{"message":"messages: required",
      "type":"invalid_request_error","param":null,"code":"bad_request"}})"));
  const auto busy = error_body_for(Error::overloaded("queue full"));
  CHECK(busy.type == "rate_limit_error");
  CHECK(busy.code == "overloaded");
  const auto parsed = parse_error_body(to_json(busy));
  REQUIRE(parsed.has_value());
  CHECK(parsed->message == "queue full");
  CHECK(parsed->code == "overloaded");
}

TEST_CASE("Usage: serialises with its extra fields") {
  Usage usage;
  usage.prompt_tokens = 3;
  usage.completion_tokens = 4;
  usage.total_tokens = 7;
  usage.extra["prompt_tokens_details"] = {{"cached_tokens", 2}};
  CHECK(to_json(usage) == Json::parse(R"({"prompt_tokens":3,"completion_tokens":4,
      "total_tokens":7,"prompt_tokens_details":{"cached_tokens":2}})"));
}
