// askd end to end in front of llm-sim in Ollama mode: the `ollama` backend speaks /api/chat,
// so the logical model's keep_alive and default params arrive translated, and the answers
// come back in OpenAI's shape (content, reasoning, tool calls, usage) under the logical
// model's name; a model Ollama does not have falls back.

#include <doctest/doctest.h>

#include <chrono>
#include <ctime>
#include <map>

#include "tests/integration/askd_harness.h"

namespace {

using namespace ask::testing;

// The models the simulated Ollama has installed.
const char* const k_installed = "llama3.2:1b,llama3.2:3b,qwen3:8b,gemma3:4b,mistral,phi3";

std::vector<std::string> ollama_args() {
  return {"--ollama", "--sim-tokens-per-second", "0", "--sim-models", k_installed};
}

// A config with one `ollama` backend on `port` and `models` (name -> model object without
// its backend).
std::string ollama_config(int port, const Json& models) {
  Json cfg = {
      {"backends",
       {{"ollama", {{"kind", "ollama"}, {"url", "http://127.0.0.1:" + std::to_string(port)}}}}},
      {"models", Json::object()}};
  for (const auto& [name, model] : models.items()) {
    Json m = model;
    m["backend"] = "ollama";
    cfg["models"][name] = m;
  }
  return cfg.dump(2);
}

// The /api/chat body that llm-sim received last.
Json last_api_chat(const SimProcess& sim) {
  Json requests = sim.get_json("/sim/requests")["requests"];
  REQUIRE(!requests.empty());
  CHECK(requests.back()["path"] == "/api/chat");
  return requests.back()["json"];
}

// The same question asked of llm-sim directly, whole: what askd's answer must carry.
Json direct_answer(const SimProcess& sim, const std::string& upstream, const std::string& text,
                   const Json& extra = Json::object()) {
  Json body = {{"model", upstream},
               {"stream", false},
               {"messages", Json::array({{{"role", "user"}, {"content", text}}})}};
  body.update(extra);
  Reply r = post(sim, "/api/chat", body);
  REQUIRE(r.status == 200);
  return Json::parse(r.body);
}

// RFC 3339 UTC for now + `ahead`, comparable as a string with llm-sim's expires_at.
std::string utc_in(std::chrono::seconds ahead) {
  std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now() + ahead);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return buf;
}

// The chunks of a stream, [DONE] excluded; fails the test when [DONE] is not last.
std::vector<Json> stream_chunks(const std::string& body) {
  auto events = sse_events(body);
  REQUIRE(!events.empty());
  CHECK(events.back().is_done());
  std::vector<Json> out;
  for (const auto& e : events) {
    if (!e.is_done()) {
      out.push_back(Json::parse(e.data));
    }
  }
  return out;
}

// The finish_reason of the stream's chunks ("" when none).
std::string stream_finish_reason(const std::vector<Json>& chunks) {
  for (const Json& c : chunks) {
    for (const Json& choice : c["choices"]) {
      if (choice.contains("finish_reason") && choice["finish_reason"].is_string()) {
        return choice["finish_reason"];
      }
    }
  }
  return "";
}

const Json k_weather_tools = Json::parse(R"([{"type":"function","function":{
    "name":"get_weather","description":"The weather in a city","parameters":{"type":"object",
    "properties":{"city":{"type":"string"},"unit":{"type":"string","enum":["c","f"]}},
    "required":["city","unit"]}}}])");

} // namespace

TEST_CASE("askd ollama: the model's keep_alive is sent with the request and shows in /api/ps") {
  SimProcess sim(ollama_args());
  Json models = {{"ka-15m", {{"upstream", "llama3.2:1b"}, {"keep_alive", "15m"}}},
                 {"ka-30s", {{"upstream", "llama3.2:3b"}, {"keep_alive", "30s"}}},
                 {"ka-0", {{"upstream", "qwen3:8b"}, {"keep_alive", "0"}}},
                 {"ka-forever", {{"upstream", "gemma3:4b"}, {"keep_alive", "forever"}}},
                 {"ka-minus-1", {{"upstream", "mistral"}, {"keep_alive", -1}}},
                 {"ka-default", {{"upstream", "phi3"}}}};
  AskdProcess askd(ollama_config(sim.port(), models));
  struct Case {
    const char* model;
    Json sent; // the keep_alive llm-sim must receive; null: none
  };
  const std::vector<Case> cases = {{"ka-15m", 900},    {"ka-30s", 30},     {"ka-0", 0},
                                   {"ka-forever", -1}, {"ka-minus-1", -1}, {"ka-default", nullptr}};
  for (const Case& c : cases) {
    CAPTURE(std::string(c.model));
    for (bool stream : {false, true}) {
      CAPTURE(stream);
      Reply r = askd.chat(chat_body(c.model, "hi", stream));
      REQUIRE(r.status == 200);
      Json sent = last_api_chat(sim);
      CHECK(sent["model"] == models[c.model]["upstream"]);
      CHECK(sent["stream"] == stream);
      if (c.sent.is_null()) {
        CHECK(!sent.contains("keep_alive"));
      } else {
        CHECK(sent["keep_alive"] == c.sent);
      }
    }
  }

  Json ps = sim.get_json("/api/ps")["models"];
  std::map<std::string, std::string> expires;
  for (const Json& m : ps) {
    expires[m["name"]] = m["expires_at"];
  }
  CHECK(!expires.contains("qwen3:8b")); // keep_alive 0: unloaded after the request
  REQUIRE(expires.contains("llama3.2:1b"));
  CHECK(expires["llama3.2:1b"] > utc_in(std::chrono::minutes(14)));
  CHECK(expires["llama3.2:1b"] < utc_in(std::chrono::minutes(16)));
  REQUIRE(expires.contains("llama3.2:3b"));
  CHECK(expires["llama3.2:3b"] > utc_in(std::chrono::seconds(20)));
  CHECK(expires["llama3.2:3b"] < utc_in(std::chrono::seconds(40)));
  REQUIRE(expires.contains("phi3:latest"));
  CHECK(expires["phi3:latest"] > utc_in(std::chrono::minutes(4))); // Ollama's default, 5m
  CHECK(expires["phi3:latest"] < utc_in(std::chrono::minutes(6)));
  // "forever" shows as now + 292 years (Go's largest duration), beyond what system_clock
  // holds in nanoseconds: compare years.
  const int this_year = std::stoi(utc_in(std::chrono::seconds(0)).substr(0, 4));
  for (const std::string forever : {"gemma3:4b", "mistral:latest"}) {
    CAPTURE(forever);
    REQUIRE(expires.contains(forever));
    CHECK(std::stoi(expires[forever].substr(0, 4)) >= this_year + 291);
  }
}

TEST_CASE("askd ollama: /v1/models?state=1 says which models Ollama holds loaded, and until when") {
  auto sim = std::make_unique<SimProcess>(ollama_args());
  Json models = {{"warm", {{"upstream", "llama3.2:1b"}, {"keep_alive", "15m"}}},
                 {"cold", {{"upstream", "llama3.2:3b"}}}};
  std::string config = ollama_config(sim->port(), models);
  Json cfg = Json::parse(config);
  cfg["backends"]["other"] = {{"kind", "openai"}, {"url", "http://127.0.0.1:9"}};
  cfg["models"]["remote"] = {{"backend", "other"}};
  cfg["aliases"] = {{"w", "warm"}};
  AskdProcess askd(cfg.dump());
  REQUIRE(askd.chat(chat_body("warm", "hi")).status == 200);

  auto by_id = [&](const std::string& target) {
    auto [status, body] = askd.get(target);
    REQUIRE(status == 200);
    std::map<std::string, Json> out;
    const Json parsed = Json::parse(body);
    for (const Json& m : parsed["data"]) {
      out[m["id"].get<std::string>()] = m;
    }
    return out;
  };
  auto plain = by_id("/v1/models");
  CHECK_FALSE(plain["warm"].contains("state")); // only when asked: OpenAI clients need not wait

  auto with_state = by_id("/v1/models?state=1");
  CHECK(with_state["warm"]["state"] == "loaded");
  REQUIRE(with_state["warm"]["expires_at"].is_string());
  CHECK(with_state["warm"]["expires_at"].get<std::string>() > utc_in(std::chrono::minutes(14)));
  CHECK(with_state["w"]["state"] == "loaded"); // an alias shows its model's state
  CHECK(with_state["cold"]["state"] == "not loaded");
  CHECK_FALSE(with_state["remote"].contains("state")); // an OpenAI server cannot tell

  sim.reset(); // Ollama gone: said, not hidden, and /v1/models still answers
  auto down = by_id("/v1/models?x=2&state=true");
  CHECK(down["warm"]["state"] == "unreachable");
  CHECK(down["warm"]["state_error"].get<std::string>().find("refused") != std::string::npos);
}

TEST_CASE("askd ollama: default params arrive as Ollama's think and options") {
  SimProcess sim(ollama_args());
  Json params = {{"think", true}, {"num_ctx", 8192}, {"temperature", 0.25}, {"top_p", 0.5},
                 {"top_k", 20},   {"seed", 42},      {"stop", {"zzz"}},     {"max_tokens", 6}};
  AskdProcess askd(
      ollama_config(sim.port(), {{"tuned", {{"upstream", "qwen3:8b"}, {"params", params}}}}));

  Reply r = askd.chat(chat_body("tuned", "Tell me a long story"));
  REQUIRE(r.status == 200);
  Json sent = last_api_chat(sim);
  CHECK(sent["model"] == "qwen3:8b");
  CHECK(sent["think"] == true);
  CHECK(sent["options"] == Json{{"num_ctx", 8192},
                                {"temperature", 0.25},
                                {"top_p", 0.5},
                                {"top_k", 20},
                                {"seed", 42},
                                {"stop", {"zzz"}},
                                {"num_predict", 6}});
  CHECK(!sent.contains("max_tokens"));
  CHECK(!sent.contains("temperature"));
  Json reply = Json::parse(r.body);
  CHECK(reply["choices"][0]["finish_reason"] == "length");
  CHECK(reply["usage"]["completion_tokens"] == 6);
  CHECK(reply["choices"][0]["message"].contains("reasoning_content"));

  // The request's own values win over the model's.
  Json body = chat_body("tuned", "Tell me a long story", true);
  body["temperature"] = 1.5;
  body["max_tokens"] = 3;
  body["think"] = false;
  Reply own = askd.chat(body);
  REQUIRE(own.status == 200);
  sent = last_api_chat(sim);
  CHECK(sent["think"] == false);
  CHECK(sent["options"]["temperature"] == 1.5);
  CHECK(sent["options"]["num_predict"] == 3);
  CHECK(sent["options"]["seed"] == 42);
  auto chunks = stream_chunks(own.body);
  CHECK(stream_finish_reason(chunks) == "length");
  CHECK(streamed_reasoning(sse_events(own.body)).empty());
}

TEST_CASE("askd ollama: answers come back in OpenAI's shape under the logical model's name") {
  SimProcess sim(ollama_args());
  AskdProcess askd(ollama_config(sim.port(), {{"small", {{"upstream", "llama3.2:1b"}}}}));
  const std::string question = "Say hello to the world";
  Json direct = direct_answer(sim, "llama3.2:1b", question);
  const std::string content = direct["message"]["content"];
  const long long eval_count = direct["eval_count"];
  const long long prompt_eval_count = direct["prompt_eval_count"];
  REQUIRE(!content.empty());

  SUBCASE("whole") {
    Reply r = askd.chat(chat_body("small", question));
    REQUIRE(r.status == 200);
    CHECK(r.header("Content-Type") == "application/json");
    CHECK(r.header("X-Served-By") == "small");
    Json reply = Json::parse(r.body);
    CHECK(reply["object"] == "chat.completion");
    CHECK(reply["model"] == "small");
    CHECK(reply["id"] == r.header("X-Request-Id"));
    CHECK(reply["created"].is_number_integer());
    REQUIRE(reply["choices"].size() == 1);
    const Json& choice = reply["choices"][0];
    CHECK(choice["index"] == 0);
    CHECK(choice["message"]["role"] == "assistant");
    CHECK(choice["message"]["content"] == content);
    CHECK(choice["finish_reason"] == "stop");
    CHECK(reply["usage"]["prompt_tokens"] == prompt_eval_count);
    CHECK(reply["usage"]["completion_tokens"] == eval_count);
    CHECK(reply["usage"]["total_tokens"] == prompt_eval_count + eval_count);
  }
  SUBCASE("streamed, with usage") {
    Json body = chat_body("small", question, true);
    body["stream_options"] = {{"include_usage", true}};
    Reply r = askd.chat(body);
    REQUIRE(r.status == 200);
    CHECK(r.header("Content-Type") == "text/event-stream");
    auto chunks = stream_chunks(r.body);
    REQUIRE(chunks.size() >= 3);
    for (const Json& c : chunks) {
      CHECK(c["object"] == "chat.completion.chunk");
      CHECK(c["model"] == "small");
      CHECK(c["id"] == chunks.front()["id"]);
    }
    CHECK(chunks.front()["choices"][0]["delta"]["role"] == "assistant");
    CHECK(streamed_content(sse_events(r.body)) == content);
    CHECK(stream_finish_reason(chunks) == "stop");
    const Json& usage_chunk = chunks.back();
    CHECK(usage_chunk["choices"].empty());
    CHECK(usage_chunk["usage"]["prompt_tokens"] == prompt_eval_count);
    CHECK(usage_chunk["usage"]["completion_tokens"] == eval_count);
  }
  SUBCASE("streamed, without usage") {
    Reply r = askd.chat(chat_body("small", question, true));
    REQUIRE(r.status == 200);
    auto chunks = stream_chunks(r.body);
    for (const Json& c : chunks) {
      CHECK(!c.contains("usage"));
    }
    CHECK(streamed_content(sse_events(r.body)) == content);
  }
  // The request log counts the tokens Ollama reported, streamed or not.
  auto lines = askd.wait_log_lines(1);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0]["served_by"] == "small");
  CHECK(lines[0]["prompt_tokens"] == prompt_eval_count);
  CHECK(lines[0]["completion_tokens"] == eval_count);
  MetricSamples m = askd.metrics();
  CHECK(m.get(R"(askd_tokens_total{model="small",type="completion"})") ==
        static_cast<double>(eval_count));
}

TEST_CASE("askd ollama: thinking comes back as reasoning_content, before the content") {
  SimProcess sim(ollama_args());
  AskdProcess askd(ollama_config(sim.port(), {{"thinker", {{"upstream", "qwen3:8b"}}}}));
  const std::string question = "What is 2+2? [[sim: think]]";
  Json direct = direct_answer(sim, "qwen3:8b", question);
  const std::string thinking = direct["message"]["thinking"];
  const std::string content = direct["message"]["content"];
  REQUIRE(!thinking.empty());

  Reply whole = askd.chat(chat_body("thinker", question));
  REQUIRE(whole.status == 200);
  const Json message = Json::parse(whole.body)["choices"][0]["message"];
  CHECK(message["reasoning_content"] == thinking);
  CHECK(message["content"] == content);

  Reply streamed = askd.chat(chat_body("thinker", question, true));
  REQUIRE(streamed.status == 200);
  auto events = sse_events(streamed.body);
  CHECK(streamed_reasoning(events) == thinking);
  CHECK(streamed_content(events) == content);
  // Every reasoning delta comes before the first content delta.
  std::size_t last_reasoning = 0;
  std::size_t first_content = 0;
  auto chunks = stream_chunks(streamed.body);
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    if (chunks[i]["choices"].empty()) {
      continue;
    }
    const Json& delta = chunks[i]["choices"][0]["delta"];
    if (delta.contains("reasoning_content")) {
      last_reasoning = i;
    }
    if (first_content == 0 && delta.contains("content") && delta["content"].is_string() &&
        !delta["content"].get<std::string>().empty()) {
      first_content = i;
    }
  }
  CHECK(last_reasoning > 0);
  CHECK(last_reasoning < first_content);
}

TEST_CASE("askd ollama: a tool call comes back as OpenAI tool_calls, whole and streamed") {
  SimProcess sim(ollama_args());
  AskdProcess askd(ollama_config(sim.port(), {{"tooler", {{"upstream", "llama3.2:3b"}}}}));
  Json body = chat_body("tooler", "Weather in Paris? [[sim: tool]]");
  body["tools"] = k_weather_tools;

  auto check_arguments = [](const Json& arguments) {
    REQUIRE(arguments.is_string()); // a JSON string in OpenAI's shape, an object in Ollama's
    Json args = Json::parse(arguments.get<std::string>());
    CHECK(args["city"].is_string());
    CHECK(args["unit"] == "c");
  };

  Reply whole = askd.chat(body);
  REQUIRE(whole.status == 200);
  Json sent = last_api_chat(sim);
  CHECK(sent["tools"] == k_weather_tools);
  const Json choice = Json::parse(whole.body)["choices"][0];
  CHECK(choice["finish_reason"] == "tool_calls");
  REQUIRE(choice["message"]["tool_calls"].size() == 1);
  const Json& call = choice["message"]["tool_calls"][0];
  CHECK(call["type"] == "function");
  CHECK(!call["id"].get<std::string>().empty());
  CHECK(call["function"]["name"] == "get_weather");
  check_arguments(call["function"]["arguments"]);

  body["stream"] = true;
  Reply streamed = askd.chat(body);
  REQUIRE(streamed.status == 200);
  auto chunks = stream_chunks(streamed.body);
  CHECK(stream_finish_reason(chunks) == "tool_calls");
  std::vector<Json> calls;
  for (const Json& c : chunks) {
    for (const Json& ch : c["choices"]) {
      if (ch["delta"].contains("tool_calls")) {
        for (const Json& tc : ch["delta"]["tool_calls"]) {
          calls.push_back(tc);
        }
      }
    }
  }
  REQUIRE(calls.size() == 1);
  CHECK(calls[0]["index"] == 0);
  CHECK(calls[0]["type"] == "function");
  CHECK(calls[0]["function"]["name"] == "get_weather");
  check_arguments(calls[0]["function"]["arguments"]);
}

TEST_CASE("askd ollama: a model Ollama does not have (404) falls back to the next") {
  SimProcess sim(ollama_args());
  Json models = {{"missing", {{"upstream", "nope:7b"}, {"fallbacks", {"backup"}}}},
                 {"backup", {{"upstream", "llama3.2:1b"}}}};
  AskdProcess askd(ollama_config(sim.port(), models));
  for (bool stream : {false, true}) {
    CAPTURE(stream);
    Reply r = askd.chat(chat_body("missing", "hi", stream));
    REQUIRE(r.status == 200);
    CHECK(r.header("X-Requested-Model") == "missing");
    CHECK(r.header("X-Served-By") == "backup");
    CHECK(r.header("X-Fallback-Path") == "missing>backup");
    if (stream) {
      CHECK(stream_chunks(r.body).front()["model"] == "backup");
    } else {
      CHECK(Json::parse(r.body)["model"] == "backup");
    }
  }
  auto lines = askd.wait_log_lines(2);
  REQUIRE(lines.size() == 2);
  for (const Json& line : lines) {
    REQUIRE(line["attempts"].size() == 1);
    CHECK(line["attempts"][0]["model"] == "missing");
    CHECK(line["attempts"][0]["reason"] == "not_pulled"); // Ollama's "model 'x' not found"
    CHECK(line["attempts"][0]["message"].get<std::string>().find("not found") != std::string::npos);
  }
  CHECK(askd.metrics().get(
            R"(askd_fallbacks_total{from="missing",to="backup",reason="not_pulled"})") == 2);
}
