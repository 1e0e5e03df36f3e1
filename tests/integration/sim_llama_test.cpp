// llm-sim in llama-server mode, over real sockets: health while loading, chat completions
// streaming and not, determinism, limits, tools, reasoning, errors, slots, start-up and
// shutdown behaviour.

#include <doctest/doctest.h>

#include <cmath>
#include <csignal>
#include <fstream>
#include <functional>
#include <future>
#include <regex>
#include <sstream>
#include <thread>

#include "tests/integration/sim_harness.h"

namespace {

using namespace ask::testing;

const Json k_messages =
    Json::array({{{"role", "system"}, {"content", "You are a helpful assistant."}},
                 {{"role", "user"}, {"content", "Hello! What is the capital of France?"}}});

Json chat_body(const Json& extra = Json::object()) {
  Json body{{"messages", k_messages}, {"max_tokens", 16}, {"temperature", 0}};
  body.update(extra);
  return body;
}

std::string fixture_text(const std::string& name) {
  std::ifstream in(fixture_path(name), std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The HTTP body of a recorded exchange (everything after the blank line).
std::string fixture_body(const std::string& name) {
  std::string text = fixture_text("llama-server/" + name);
  return text.substr(text.find("\r\n\r\n") + 4);
}

std::vector<std::string> keys_of(const nlohmann::ordered_json& j) {
  std::vector<std::string> keys;
  for (const auto& [k, v] : j.items()) {
    keys.push_back(k);
  }
  return keys;
}

std::string header(const Reply& r, const std::string& name) {
  auto it = r.headers.find(name);
  return it == r.headers.end() ? "" : it->second;
}

// Replaces what legitimately differs between two runs (ids, timestamps, timings, prompt
// token counts: the sim estimates them, llama-server tokenizes) and re-frames the chunked
// body with the new chunk sizes, so the rest can be compared byte for byte.
std::string normalise(const std::string& raw) {
  auto clean = [](std::string s) {
    static const std::vector<std::pair<std::regex, std::string>> k_rules = {
        {std::regex(R"("id":"chatcmpl-[A-Za-z0-9]{32}")"), R"("id":"chatcmpl-ID")"},
        {std::regex(R"("created":\d+)"), R"("created":0)"},
        {std::regex(R"("timings":\{[^}]*\})"), R"("timings":{})"},
        {std::regex(R"("(prompt|total|cached)_tokens":\d+)"), R"("$1_tokens":0)"},
        // The Messages and Responses doors: their ids, times and prompt token counts.
        {std::regex(R"re("(id|item_id)":"(resp_|msg_)[A-Za-z0-9]{32}")re"), R"("$1":"$2ID")"},
        {std::regex(R"re("(created_at|completed_at)":\d+)re"), R"("$1":0)"},
        {std::regex(R"re("(cache_read_input|input)_tokens":\d+)re"), R"("$1_tokens":0)"},
    };
    for (const auto& [re, with] : k_rules) {
      s = std::regex_replace(s, re, with);
    }
    return s;
  };
  const std::size_t head_end = raw.find("\r\n\r\n") + 4;
  std::string head = raw.substr(0, head_end);
  std::string body = raw.substr(head_end);
  if (head.find("Transfer-Encoding: chunked") == std::string::npos) {
    body = clean(body);
    head = std::regex_replace(head, std::regex(R"(Content-Length: \d+)"),
                              "Content-Length: " + std::to_string(body.size()));
    return head + body;
  }
  std::string out = head;
  std::size_t pos = 0;
  while (pos < body.size()) {
    std::size_t eol = body.find("\r\n", pos);
    std::size_t size = std::stoul(body.substr(pos, eol - pos), nullptr, 16);
    std::string payload = clean(body.substr(eol + 2, size));
    char hex[16];
    std::snprintf(hex, sizeof hex, "%zx", payload.size());
    out += std::string(hex) + "\r\n" + payload + "\r\n";
    pos = eol + 2 + size + 2;
    if (size == 0) {
      break;
    }
  }
  return out;
}

// A raw POST of `body` to `path`, as curl sends it.
std::string raw_post(const std::string& path, const Json& body) {
  std::string text = body.dump();
  return "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
         "Content-Length: " + std::to_string(text.size()) + "\r\n\r\n" + text;
}

// The recorded request (tests/fixtures/README.md, "MSG"), with a directive that makes the
// sim answer what the tiny model answered: newlines.
std::string recorded_request(const Json& extra) {
  Json body = chat_body(extra);
  body["messages"][1]["content"] = "Hello! What is the capital of France? [[sim: repeat=\"\n\"]]";
  std::string text = body.dump();
  return "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
         "application/json\r\n"
         "Content-Length: " +
         std::to_string(text.size()) + "\r\n\r\n" + text;
}

const std::vector<std::string> k_recorded_model = {
    "-a", "/opt/models/tiny-fixtures/tiny-llama-2L-f16.gguf"};

} // namespace

TEST_CASE("llm-sim llama: raw responses equal the recordings byte for byte once normalised") {
  SimProcess sim(llama_args(k_recorded_model));
  const std::string stream = raw_exchange(sim.port(), recorded_request({{"stream", true}}));
  CHECK(normalise(stream) == normalise(fixture_text("llama-server/chat-stream.sse")));
  const std::string usage = raw_exchange(
      sim.port(),
      recorded_request({{"stream", true}, {"stream_options", {{"include_usage", true}}}}));
  CHECK(normalise(usage) == normalise(fixture_text("llama-server/chat-stream-usage.sse")));
  const std::string whole = raw_exchange(sim.port(), recorded_request(Json::object()));
  CHECK(normalise(whole) == normalise(fixture_text("llama-server/chat-nonstream.http")));
}

TEST_CASE("llm-sim llama: /health answers 503 Loading model during --sim-load-time, then 200") {
  // 5 s: long enough that the first /health lands inside the load even on a loaded machine.
  SimProcess sim(llama_args({"--sim-load-time", "5s"}), /*wait_ready=*/false);
  auto c = sim.client();
  auto loading = c.Get("/health");
  REQUIRE(loading);
  CHECK(loading->status == 503);
  CHECK(loading->body ==
        R"({"error":{"message":"Loading model","type":"unavailable_error","code":503}})");
  CHECK(loading->get_header_value("Connection") == "close");
  REQUIRE(sim.process().wait_for_output("listening on http://127\\.0\\.0\\.1:",
                                        std::chrono::seconds(20)));
  c.set_keep_alive(true); // like curl: the server then answers with Keep-Alive
  auto ready = c.Get("/health");
  REQUIRE(ready);
  CHECK(ready->status == 200);
  CHECK(ready->body == R"({"status":"ok"})");
  CHECK(ready->get_header_value("Server") == "llama.cpp");
  CHECK(ready->get_header_value("Keep-Alive") == "timeout=5, max=100");
}

TEST_CASE("llm-sim llama: a non-streaming chat has llama-server's key order and fields") {
  SimProcess sim(llama_args());
  Reply r = post(sim, "/v1/chat/completions", chat_body());
  REQUIRE(r.status == 200);
  CHECK(header(r, "Content-Type") == "application/json; charset=utf-8");
  auto body = nlohmann::ordered_json::parse(r.body);
  auto recorded = nlohmann::ordered_json::parse(fixture_body("chat-nonstream.http"));
  CHECK(keys_of(body) == keys_of(recorded));
  CHECK(keys_of(body["usage"]) == keys_of(recorded["usage"]));
  CHECK(keys_of(body["timings"]) == keys_of(recorded["timings"]));
  CHECK(std::regex_match(body["id"].get<std::string>(), std::regex("chatcmpl-[A-Za-z0-9]{32}")));
  CHECK(body["system_fingerprint"] == recorded["system_fingerprint"]);
  CHECK(body["model"] == fixture_path("gguf/tiny-llama-2L-f16.gguf"));
  CHECK(body["choices"][0]["message"]["role"] == "assistant");
  CHECK(!body["choices"][0]["message"]["content"].get<std::string>().empty());
  CHECK(body["usage"]["completion_tokens"].get<int>() <= 16);
  CHECK(body["usage"]["total_tokens"] ==
        body["usage"]["prompt_tokens"].get<int>() + body["usage"]["completion_tokens"].get<int>());
}

TEST_CASE(
    "llm-sim llama: a stream is the role chunk, one chunk per token, the final chunk, [DONE]") {
  SimProcess sim(llama_args());
  Reply r = post(sim, "/v1/chat/completions", chat_body({{"stream", true}}));
  REQUIRE(r.status == 200);
  CHECK(r.error == httplib::Error::Success);
  CHECK(header(r, "Content-Type") == "text/event-stream");
  CHECK(header(r, "X-Accel-Buffering") == "no");
  auto events = sse_events(r.body);
  REQUIRE(events.size() >= 3);
  CHECK(events.back().is_done());
  auto first = Json::parse(events.front().data);
  CHECK(first["choices"][0]["delta"] == Json{{"role", "assistant"}, {"content", nullptr}});
  auto last = Json::parse(events[events.size() - 2].data);
  CHECK(last["choices"][0]["delta"] == Json::object());
  CHECK(last["choices"][0]["finish_reason"].is_string());
  CHECK(last.contains("timings"));
  // Streaming and not give the same text for the same request.
  Reply whole = post(sim, "/v1/chat/completions", chat_body());
  // get<std::string>(): clang finds string == json ambiguous inside doctest's CHECK.
  CHECK(streamed_content(events) ==
        Json::parse(whole.body)["choices"][0]["message"]["content"].get<std::string>());
}

TEST_CASE("llm-sim llama: include_usage adds a usage chunk with no choices before [DONE]") {
  SimProcess sim(llama_args());
  Reply r = post(sim, "/v1/chat/completions",
                 chat_body({{"stream", true}, {"stream_options", {{"include_usage", true}}}}));
  auto events = sse_events(r.body);
  REQUIRE(events.size() >= 4);
  auto usage = Json::parse(events[events.size() - 2].data);
  CHECK(usage["choices"] == Json::array());
  CHECK(usage["usage"]["completion_tokens"].get<int>() > 0);
  CHECK(usage.contains("timings"));
  auto final_chunk = Json::parse(events[events.size() - 3].data);
  CHECK(!final_chunk.contains("timings"));
  CHECK(final_chunk["choices"][0]["finish_reason"].is_string());
}

TEST_CASE("llm-sim llama: the same request gets the same answer, another request another") {
  SimProcess sim(llama_args());
  auto content = [&](const Json& body) {
    return Json::parse(
        post(sim, "/v1/chat/completions", body).body)["choices"][0]["message"]["content"];
  };
  Json a = chat_body({{"max_tokens", 40}});
  Json b = a;
  b["messages"][1]["content"] = "Tell me about rivers.";
  CHECK(content(a) == content(a));
  CHECK(content(a) != content(b));
  Json seeded = a;
  seeded["seed"] = 7;
  CHECK(content(seeded) != content(a));
}

TEST_CASE("llm-sim llama: max_tokens cuts the answer with finish_reason length") {
  SimProcess sim(llama_args());
  Json body = Json::parse(post(sim, "/v1/chat/completions", chat_body({{"max_tokens", 3}})).body);
  CHECK(body["choices"][0]["finish_reason"] == "length");
  CHECK(body["usage"]["completion_tokens"] == 3);
  Json free =
      Json::parse(post(sim, "/v1/chat/completions", chat_body({{"max_tokens", 1000}})).body);
  CHECK(free["choices"][0]["finish_reason"] == "stop");
}

TEST_CASE(
    "llm-sim llama: tool_choice required produces a call with the schema's required arguments") {
  SimProcess sim(llama_args());
  Json tools = Json::parse(R"([{"type":"function","function":{"name":"get_weather",
      "description":"Get the current weather for a city","parameters":{"type":"object",
      "properties":{"city":{"type":"string"},"days":{"type":"integer"}},"required":["city","days"]}}}])");
  Json body{{"messages", {{{"role", "user"}, {"content", "What is the weather in Paris?"}}}},
            {"tools", tools},
            {"tool_choice", "required"}};
  Json whole = Json::parse(post(sim, "/v1/chat/completions", body).body);
  const Json& msg = whole["choices"][0]["message"];
  CHECK(whole["choices"][0]["finish_reason"] == "tool_calls");
  CHECK(msg["content"].is_null());
  REQUIRE(msg["tool_calls"].size() == 1);
  CHECK(msg["tool_calls"][0]["function"]["name"] == "get_weather");
  Json args = Json::parse(msg["tool_calls"][0]["function"]["arguments"].get<std::string>());
  CHECK(args["city"].is_string());
  CHECK(args["days"].is_number_integer());

  body["stream"] = true;
  auto events = sse_events(post(sim, "/v1/chat/completions", body).body);
  bool saw_call = false;
  for (const auto& e : events) {
    if (!e.is_done() && e.data.find("tool_calls") != std::string::npos) {
      auto j = Json::parse(e.data);
      if (j["choices"][0]["delta"].contains("tool_calls")) {
        saw_call = j["choices"][0]["delta"]["tool_calls"][0]["function"]["name"] == "get_weather";
      }
    }
  }
  CHECK(saw_call);
  CHECK(Json::parse(events[events.size() - 2].data)["choices"][0]["finish_reason"] == "tool_calls");
}

TEST_CASE("llm-sim llama: enable_thinking streams reasoning_content before content") {
  SimProcess sim(llama_args());
  Json body = chat_body({{"stream", true},
                         {"max_tokens", 100},
                         {"chat_template_kwargs", {{"enable_thinking", true}}}});
  auto events = sse_events(post(sim, "/v1/chat/completions", body).body);
  int last_reasoning = -1, first_content = -1;
  for (int i = 0; i < static_cast<int>(events.size()) - 1; ++i) {
    const Json delta = Json::parse(events[static_cast<std::size_t>(i)].data)["choices"][0]["delta"];
    if (delta.contains("reasoning_content")) {
      last_reasoning = i;
    }
    if (delta.contains("content") && delta["content"].is_string() && first_content < 0) {
      first_content = i;
    }
  }
  CHECK(last_reasoning > 0);
  CHECK(first_content > last_reasoning);
}

TEST_CASE("llm-sim llama: errors match llama-server's recorded bodies") {
  SimProcess sim(llama_args());
  auto c = sim.client();
  auto bad_json = c.Post("/v1/chat/completions", R"({"messages": [ not json)", "application/json");
  REQUIRE(bad_json);
  CHECK(bad_json->status == 500);
  CHECK(
      bad_json->body ==
      R"({"error":{"code":500,"message":"[json.exception.parse_error.101] parse error at line 1, column 17: syntax error while parsing value - invalid literal; last read: '\"messages\": [ no'","type":"server_error"}})");
  CHECK(bad_json->get_header_value("Connection") == "close");
  auto missing = c.Post("/v1/chat/completions", R"({"max_tokens":16})", "application/json");
  CHECK(missing->status == 400);
  CHECK(
      missing->body ==
      R"({"error":{"code":400,"message":"'messages' is required","type":"invalid_request_error"}})");
  auto not_array = c.Post("/v1/chat/completions", R"({"messages":"hello"})", "application/json");
  CHECK(
      not_array->body ==
      R"({"error":{"code":400,"message":"Expected 'messages' to be an array","type":"invalid_request_error"}})");
  auto negative =
      c.Post("/v1/chat/completions",
             R"({"messages":[{"role":"user","content":"x"}],"max_tokens":-5})", "application/json");
  CHECK(
      negative->body ==
      R"({"error":{"code":400,"message":"Field 'max_tokens': Value must be between -1 <= value <= 2147483647, but got -5","type":"invalid_request_error"}})");
  auto temp = c.Post("/v1/chat/completions",
                     R"({"messages":[{"role":"user","content":"x"}],"temperature":"hot"})",
                     "application/json");
  CHECK(
      temp->body ==
      R"({"error":{"code":400,"message":"Field 'temperature': [json.exception.type_error.302] type must be number, but is string","type":"invalid_request_error"}})");
  auto unknown = c.Get("/v1/does-not-exist");
  CHECK(unknown->status == 404);
  CHECK(unknown->body ==
        R"({"error":{"message":"File Not Found","type":"not_found_error","code":404}})");
}

TEST_CASE(
    "llm-sim llama: a prompt larger than a slot's context is refused like llama-server does") {
  SimProcess sim(llama_args());
  std::string words;
  for (int i = 0; i < 1500; ++i) {
    words += "word ";
  }
  Reply r = post(sim, "/v1/chat/completions",
                 Json{{"messages", {{{"role", "user"}, {"content", words}}}}});
  CHECK(r.status == 400);
  Json err = Json::parse(r.body)["error"];
  CHECK(err["type"] == "exceed_context_size_error");
  CHECK(err["n_ctx"] == 512);
  CHECK(err["n_prompt_tokens"].get<int>() > 512);
}

TEST_CASE("llm-sim llama: /v1/models, /props and /slots describe the model, alias and slots") {
  SimProcess sim(llama_args({"-a", "fast-9b"}));
  Json models = sim.get_json("/v1/models");
  CHECK(models["data"][0]["id"] == "fast-9b");
  CHECK(models["data"][0]["owned_by"] == "llamacpp");
  CHECK(models["data"][0]["meta"]["n_ctx"] == 512);
  CHECK(models["data"][0]["meta"]["n_vocab"] == 32000);
  CHECK(sim.get_json("/models") == models);
  Json props = sim.get_json("/props");
  CHECK(props["total_slots"] == 2);
  CHECK(props["default_generation_settings"]["n_ctx"] == 512);
  CHECK(props["model_alias"] == "fast-9b");
  Json slots = sim.get_json("/slots");
  REQUIRE(slots.size() == 2);
  CHECK(slots[0] ==
        Json{{"id", 0}, {"n_ctx", 512}, {"speculative", false}, {"is_processing", false}});
}

TEST_CASE(
    "llm-sim llama: with --parallel 1 a second request waits (deferred) until the first ends") {
  SimProcess sim(llama_args({"-np", "1", "--metrics"}));
  // The first request holds the only slot: after one token the sim sends nothing more, and
  // this client keeps the connection until told to hang up.
  std::promise<void> got_first, hang_up;
  bool hung_up = false;
  auto release_first = [&] {
    if (!std::exchange(hung_up, true)) {
      hang_up.set_value();
    }
  };
  std::thread first, waiter;
  // A failed REQUIRE below must not leave joinable threads behind (std::terminate would skip
  // the llm-sim clean-up): hang up the first request and join both on any exit.
  struct JoinOnExit {
    std::function<void()> release;
    std::thread& a;
    std::thread& b;
    ~JoinOnExit() {
      release();
      for (std::thread* t : {&a, &b}) {
        if (t->joinable()) {
          t->join();
        }
      }
    }
  } join_on_exit{release_first, first, waiter};
  first = std::thread([&] {
    httplib::Client c = sim.client();
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/chat/completions";
    req.set_header("X-Sim-Fault", "hang_after=1");
    req.body = chat_body({{"stream", true}}).dump();
    bool told = false;
    req.content_receiver = [&](const char*, std::size_t, std::uint64_t, std::uint64_t) {
      if (!std::exchange(told, true)) {
        got_first.set_value();
        hang_up.get_future().wait();
      }
      return false;
    };
    httplib::Response res;
    httplib::Error err;
    c.send(req, res, err);
  });
  REQUIRE(got_first.get_future().wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  Json busy = sim.get_json("/slots");
  CHECK(busy[0]["is_processing"] == true);
  CHECK(busy[0]["params"]["stream"] == true);
  Reply second;
  waiter = std::thread([&] { second = post(sim, "/v1/chat/completions", chat_body()); });
  CHECK(stats_when(sim, "deferred", 1)["deferred"] == 1);
  auto metrics = sim.client().Get("/metrics");
  REQUIRE(metrics);
  CHECK(metrics->body.find("llamacpp:requests_deferred 1") != std::string::npos);
  CHECK(metrics->body.find("llamacpp:requests_processing 1") != std::string::npos);
  release_first();
  first.join();
  waiter.join();
  CHECK(second.status == 200);
  CHECK(stats_when(sim, "client_disconnects", 1)["client_disconnects"] == 1);
}

TEST_CASE("llm-sim llama: -lv 4 prints llama-server's buffer lines for the model") {
  SimProcess sim(llama_args({"-lv", "4"}));
  std::string log = sim.process().output();
  CHECK(log.find("load_tensors:   CPU_Mapped model buffer size =     4.05 MiB") !=
        std::string::npos);
  CHECK(log.find("llama_context:        CPU  output buffer size =     0.24 MiB") !=
        std::string::npos);
  CHECK(log.find("llama_kv_cache:        CPU KV buffer size =     0.25 MiB") != std::string::npos);
  CHECK(log.find("sched_reserve:        CPU compute buffer size =     1.51 MiB") !=
        std::string::npos);
}

TEST_CASE("llm-sim llama: unknown flags are accepted and logged") {
  SimProcess sim(llama_args({"--frobnicate", "7", "--no-such-switch"}));
  std::string log = sim.process().output();
  CHECK(log.find("llm-sim: ignoring unknown flag --frobnicate 7") != std::string::npos);
  CHECK(log.find("llm-sim: ignoring unknown flag --no-such-switch") != std::string::npos);
}

TEST_CASE("llm-sim llama: a missing model file exits 1 like llama-server") {
  ChildProcess p({LLM_SIM_PATH, "--port", "0", "-m", "/nonexistent/does-not-exist.gguf"});
  auto status = p.wait_exit(k_start_timeout);
  REQUIRE(status);
  CHECK(status->exited);
  CHECK(status->code == 1);
  // The output readers may trail the exit; waiting for the line also waits for them.
  CHECK(p.wait_for_output("E srv  llama_server: exiting due to model loading error",
                          k_start_timeout));
  CHECK(p.output().find(
            "gguf_init_from_file: failed to open GGUF file '/nonexistent/does-not-exist.gguf' "
            "(No such file or directory)") != std::string::npos);
}

TEST_CASE("llm-sim llama: a port in use exits 1 like llama-server") {
  SimProcess first(llama_args());
  ChildProcess second({LLM_SIM_PATH, "--port", std::to_string(first.port()), "--host", "127.0.0.1",
                       "--sim-fake-model"});
  auto status = second.wait_exit(k_start_timeout);
  REQUIRE(status);
  CHECK(status->code == 1);
  CHECK(second.wait_for_output("exiting due to HTTP server error", k_start_timeout));
  CHECK(second.output().find("couldn't bind HTTP server socket, hostname: 127.0.0.1, port: " +
                             std::to_string(first.port())) != std::string::npos);
}

TEST_CASE("llm-sim llama: SIGTERM stops it gracefully with exit status 0") {
  SimProcess sim(llama_args());
  ExitStatus status = sim.process().terminate();
  CHECK(status.exited);
  CHECK(status.code == 0);
  CHECK(sim.process().wait_for_output("cleaning up before exit\\.\\.\\.", k_start_timeout));
}

TEST_CASE("llm-sim llama: --sim-fake-model serves without a GGUF file under the alias") {
  SimProcess sim({"--sim-fake-model", "-a", "coder", "--sim-tokens-per-second", "0"});
  CHECK(sim.get_json("/v1/models")["data"][0]["id"] == "coder");
  CHECK(post(sim, "/v1/chat/completions", chat_body()).status == 200);
}

TEST_CASE("llm-sim: /sim/requests shows what arrived, Authorization masked - /sim/reset clears") {
  SimProcess sim(llama_args());
  post(sim, "/v1/chat/completions", chat_body({{"model", "fast-9b"}}),
       {{"Authorization", "Bearer sk-secret"}});
  Json log = sim.get_json("/sim/requests");
  REQUIRE(log["requests"].size() == 1);
  const Json& entry = log["requests"][0];
  CHECK(entry["method"] == "POST");
  CHECK(entry["path"] == "/v1/chat/completions");
  CHECK(entry["json"]["model"] == "fast-9b");
  CHECK(entry["headers"]["Authorization"] == "Bearer ***");
  CHECK(entry["received_at"].get<double>() > 0);
  CHECK(stats_when(sim, "completed", 1)["completed"] == 1);
  auto reset = sim.client().Post("/sim/reset", "", "application/json");
  CHECK(reset->status == 200);
  CHECK(sim.get_json("/sim/requests")["requests"].empty());
  CHECK(sim.get_json("/sim/stats")["requests_total"] == 0);
}

TEST_CASE("llm-sim llama: --api-key requires the key except on the public endpoints") {
  SimProcess sim(llama_args({"--api-key", "sk-one,sk-two"}));
  Reply denied = post(sim, "/v1/chat/completions", chat_body());
  CHECK(denied.status == 401);
  CHECK(Json::parse(denied.body)["error"]["type"] == "authentication_error");
  CHECK(
      post(sim, "/v1/chat/completions", chat_body(), {{"Authorization", "Bearer sk-two"}}).status ==
      200);
  CHECK(post(sim, "/v1/chat/completions", chat_body(), {{"X-Api-Key", "sk-one"}}).status == 200);
  CHECK(sim.client().Get("/health")->status == 200);
  CHECK(sim.client().Get("/v1/models")->status == 200);
  CHECK(sim.client().Get("/props")->status == 401);
}

// --- Text completions, infill, embeddings and rerank (recorded from b10587 in
// tests/fixtures/llama-server: v1-completions-*, completion-*, infill*, flags-off.http,
// embeddings.http, rerank.http).

namespace {

// The body of request `n` ("### n. ...") of a multi-request recording.
std::string recorded_body(const std::string& file, int n) {
  std::string text = fixture_text("llama-server/" + file);
  std::size_t at = text.find("### " + std::to_string(n) + ". ");
  REQUIRE(at != std::string::npos);
  at = text.find("\r\n\r\n", at) + 4;
  return text.substr(at, text.find('\n', at) - at);
}

std::vector<Json> data_events(const std::string& body) {
  std::vector<Json> out;
  for (const auto& e : sse_events(body)) {
    if (e.data != "[DONE]") {
      out.push_back(Json::parse(e.data));
    }
  }
  return out;
}

std::vector<std::string> top_keys(const std::string& json_text) {
  return keys_of(nlohmann::ordered_json::parse(json_text));
}

double norm_of(const Json& v) {
  double s = 0;
  for (const auto& x : v) {
    s += x.get<double>() * x.get<double>();
  }
  return std::sqrt(s);
}

} // namespace

TEST_CASE("llm-sim llama: /v1/completions answers text_completion with the recorded keys") {
  SimProcess sim(llama_args());
  Json req{{"prompt", "Hello, my name is"}, {"max_tokens", 8}, {"temperature", 0}};
  Reply r = post(sim, "/v1/completions", req);
  REQUIRE(r.status == 200);
  CHECK(top_keys(r.body) == top_keys(fixture_body("v1-completions-nonstream.http")));
  Json j = Json::parse(r.body);
  CHECK(j["object"] == "text_completion");
  CHECK(j["choices"][0]["finish_reason"] == "length");
  CHECK(j["usage"]["completion_tokens"] == 8);
  CHECK(!j["choices"][0]["text"].get<std::string>().empty());
  CHECK(Json::parse(post(sim, "/v1/completions", req).body)["choices"][0]["text"] ==
        j["choices"][0]["text"]);
  // b10587 ignores "suffix" on this endpoint (v1-completions-suffix.http): same answer.
  Json with_suffix = req;
  with_suffix["suffix"] = "    return c";
  CHECK(Json::parse(post(sim, "/v1/completions", with_suffix).body)["choices"][0]["text"] ==
        j["choices"][0]["text"]);
  // A one-element prompt array and a stop string.
  Json arr{{"prompt", {"Hello, my name is"}}, {"max_tokens", 8}, {"temperature", 0}, {"stop", "."}};
  Json a = Json::parse(post(sim, "/v1/completions", arr).body);
  CHECK(a["choices"][0]["text"].get<std::string>().find('.') == std::string::npos);
}

TEST_CASE("llm-sim llama: /v1/completions streams chunks and ends with usage and [DONE]") {
  SimProcess sim(llama_args());
  for (bool include_usage : {false, true}) {
    Json req{{"prompt", "Hello, my name is"}, {"max_tokens", 3}, {"stream", true}};
    if (include_usage) {
      req["stream_options"] = {{"include_usage", true}};
    }
    Reply r = post(sim, "/v1/completions", req);
    REQUIRE(r.status == 200);
    CHECK(r.header("Content-Type") == "text/event-stream");
    auto events = sse_events(r.body);
    REQUIRE(events.size() == 5); // 3 tokens, final, [DONE]: no role chunk, no usage chunk
    CHECK(events.back().data == "[DONE]");
    Json first = Json::parse(events[0].data);
    CHECK(first["object"] == "text_completion");
    CHECK(first["choices"][0]["finish_reason"].is_null());
    Json last = Json::parse(events[3].data);
    CHECK(last["choices"][0]["finish_reason"] == "length");
    CHECK(last["usage"]["completion_tokens"] == 3);
    CHECK(last.contains("timings"));
  }
}

TEST_CASE("llm-sim llama: /completion and /completions answer the native shape") {
  SimProcess sim(llama_args());
  for (const char* path : {"/completion", "/completions"}) {
    Reply r = post(sim, path, {{"prompt", "Hello, my name is"}, {"n_predict", 8}});
    REQUIRE(r.status == 200);
    CHECK(top_keys(r.body) == top_keys(fixture_body("completion-nonstream.http")));
    Json j = Json::parse(r.body);
    CHECK(j["stop"] == true);
    CHECK(j["tokens_predicted"] == 8);
    CHECK(j["stop_type"] == "limit");
    CHECK(j["prompt"] == "Hello, my name is");
  }
  Reply s = post(sim, "/completions", {{"prompt", "Hello"}, {"n_predict", 3}, {"stream", true}});
  REQUIRE(s.status == 200);
  CHECK(s.body.find("[DONE]") == std::string::npos); // the native stream has none
  auto events = data_events(s.body);
  REQUIRE(events.size() == 4);
  CHECK(events[0]["tokens_predicted"] == 1);
  CHECK(events[2]["tokens_predicted"] == 3);
  CHECK(events[3]["stop"] == true);
  CHECK(events[3]["content"] == "");
}

TEST_CASE("llm-sim llama: completion errors answer as b10587 does") {
  SimProcess sim(llama_args());
  Reply none = post(sim, "/v1/completions", {{"max_tokens", 2}});
  CHECK(none.status == 400);
  CHECK(none.body == recorded_body("v1-completions-errors.http", 3));
  Reply number = post(sim, "/v1/completions", {{"prompt", 5}, {"max_tokens", 2}});
  CHECK(number.status == 400);
  CHECK(number.body == recorded_body("v1-completions-errors.http", 4));
  Reply bad = post(sim.port(), "/v1/completions", "{\"prompt\":");
  CHECK(bad.status == 500);
  CHECK(bad.body == recorded_body("v1-completions-errors.http", 5));
  Reply type = post(sim, "/v1/completions", {{"prompt", "Hi"}, {"max_tokens", "2"}});
  CHECK(type.status == 400);
  CHECK(type.body == recorded_body("v1-completions-errors.http", 6));
  // A prompt past the 512-token slot, for every generating endpoint, streamed or not.
  std::string long_text;
  for (int i = 0; i < 700; ++i) {
    long_text += "word ";
  }
  for (bool stream : {false, true}) {
    for (const char* path : {"/v1/completions", "/completion"}) {
      Reply r = post(sim, path, {{"prompt", long_text}, {"stream", stream}});
      CHECK(r.status == 400);
      Json e = Json::parse(r.body)["error"];
      CHECK(e["type"] == "exceed_context_size_error");
      CHECK(e["n_ctx"] == 512);
      CHECK(e["n_prompt_tokens"].get<long long>() > 512);
    }
    Reply inf = post(sim, "/infill",
                     {{"input_prefix", long_text}, {"input_suffix", "y"}, {"stream", stream}});
    CHECK(inf.status == 400);
    CHECK(Json::parse(inf.body)["error"]["type"] == "exceed_context_size_error");
  }
}

TEST_CASE("llm-sim llama: /infill fills between prefix and suffix, streamed or not") {
  SimProcess sim(llama_args());
  Json req{{"input_prefix", "def add(a, b):\n    "},
           {"input_suffix", "\n    return c\n"},
           {"n_predict", 6}};
  Reply r = post(sim, "/infill", req);
  REQUIRE(r.status == 200);
  CHECK(top_keys(r.body) == top_keys(recorded_body("infill.http", 1)));
  Json j = Json::parse(r.body);
  CHECK(j["content"].get<std::string>().starts_with("[fim b..return] "));
  CHECK(j["tokens_predicted"] == 6);
  // Another prefix, another answer; input_extra and prompt are accepted.
  Json other = req;
  other["input_prefix"] = "def mul(x, y):\n    ";
  other["input_extra"] = {{{"filename", "util.py"}, {"text", "def sub(a, b): return a - b\n"}}};
  other["prompt"] = "c =";
  Json o = Json::parse(post(sim, "/infill", other).body);
  CHECK(o["content"].get<std::string>().starts_with("[fim y..return] "));
  Json sreq = req;
  sreq["stream"] = true;
  Reply s = post(sim, "/infill", sreq);
  REQUIRE(s.status == 200);
  auto events = data_events(s.body);
  REQUIRE(events.size() == 7);
  std::string text;
  for (std::size_t i = 0; i + 1 < events.size(); ++i) {
    text += events[i]["content"].get<std::string>();
  }
  CHECK(j["content"] == text);
  CHECK(events.back()["stop"] == true);
}

TEST_CASE("llm-sim llama: /infill malformed requests and a model without FIM tokens") {
  SimProcess sim(llama_args());
  Reply no_prefix = post(sim, "/infill", {{"input_suffix", "x"}, {"n_predict", 4}});
  CHECK(no_prefix.status == 500);
  CHECK(no_prefix.body == recorded_body("infill.http", 3));
  Reply no_suffix = post(sim, "/infill", {{"input_prefix", "x"}, {"n_predict", 4}});
  CHECK(no_suffix.status == 500);
  CHECK(no_suffix.body == recorded_body("infill.http", 4));
  CHECK(
      post(sim, "/infill", {{"input_prefix", "x"}, {"input_suffix", "y"}, {"prompt", 5}}).status ==
      200);
  Reply extra =
      post(sim, "/infill", {{"input_prefix", "x"}, {"input_suffix", "y"}, {"input_extra", "z"}});
  CHECK(extra.status == 400);
  CHECK(extra.body == recorded_body("infill.http", 6));
  Reply chunk =
      post(sim, "/infill",
           {{"input_prefix", "x"}, {"input_suffix", "y"}, {"input_extra", {{{"filename", "a"}}}}});
  CHECK(chunk.body == recorded_body("infill.http", 7));
  Reply bad = post(sim.port(), "/infill", "{\"input_prefix\":");
  CHECK(bad.status == 500);
  CHECK(bad.body == recorded_body("infill.http", 8));
  CHECK(post(sim, "/infill", {{"input_prefix", 5}, {"input_suffix", "y"}}).body ==
        recorded_body("infill.http", 9));

  SimProcess no_fim(llama_args({"--sim-no-fim"}));
  for (const std::string& body : {std::string(R"({"input_prefix":"a","input_suffix":"b"})"),
                                  std::string("{\"input_prefix\":")}) {
    Reply r = post(no_fim.port(), "/infill", body);
    CHECK(r.status == 501);
    CHECK(r.body == recorded_body("infill-no-fim.http", 1));
  }
}

TEST_CASE("llm-sim llama: embeddings and rerank need their flags, like b10587") {
  SimProcess sim(llama_args());
  for (const char* path : {"/v1/embeddings", "/embeddings", "/embedding"}) {
    Reply r = post(sim, path, {{"input", "hello"}});
    CHECK(r.status == 501);
    CHECK(r.body == recorded_body("flags-off.http", 1));
  }
  for (const char* path : {"/v1/rerank", "/rerank", "/reranking", "/v1/reranking"}) {
    Reply r = post(sim, path, {{"query", "a"}, {"documents", {"a", "b"}}});
    CHECK(r.status == 501);
    CHECK(r.body == recorded_body("flags-off.http", 3));
  }
  // The model's own pooling is none: not OpenAI-compatible.
  SimProcess none(llama_args({"--embeddings"}));
  Reply r = post(none, "/v1/embeddings", {{"input", "hello world"}});
  CHECK(r.status == 400);
  CHECK(r.body == recorded_body("embeddings.http", 1));
  Json native = Json::parse(post(none, "/embeddings", {{"content", "hi"}}).body);
  CHECK(native[0]["embedding"].size() >= 2); // a row per token
}

TEST_CASE("llm-sim llama: /v1/embeddings vectors are deterministic unit vectors") {
  SimProcess sim(llama_args({"--embeddings", "--pooling", "mean"}));
  Reply r = post(sim, "/v1/embeddings", {{"input", {"the giant panda", "a quiet harbor"}}});
  REQUIRE(r.status == 200);
  CHECK(top_keys(r.body) == top_keys(recorded_body("embeddings.http", 3)));
  Json j = Json::parse(r.body);
  REQUIRE(j["data"].size() == 2);
  CHECK(j["object"] == "list");
  CHECK(j["data"][1]["index"] == 1);
  CHECK(j["data"][0]["object"] == "embedding");
  const Json& a = j["data"][0]["embedding"];
  CHECK(a.size() == 64); // the tiny model's n_embd
  CHECK(std::abs(norm_of(a) - 1.0) < 1e-4);
  CHECK(a != j["data"][1]["embedding"]);
  Json again = Json::parse(post(sim, "/v1/embeddings", {{"input", "the giant panda"}}).body);
  CHECK(again["data"][0]["embedding"] == a);
  CHECK(again["model"].get<std::string>().ends_with("tests/fixtures/gguf/tiny-llama-2L-f16.gguf"));
  CHECK(Json::parse(post(sim, "/v1/embeddings", {{"input", "x"}, {"model", "m"}}).body)["model"] ==
        "m");
  Json b64 = Json::parse(
      post(sim, "/v1/embeddings", {{"input", "hi"}, {"encoding_format", "base64"}}).body);
  CHECK(b64["data"][0]["embedding"].get<std::string>().size() == 344); // 256 bytes
  Json tokens = Json::parse(post(sim, "/v1/embeddings", {{"input", {{15043, 3186}, {1}}}}).body);
  CHECK(tokens["data"].size() == 2);
  Json native = Json::parse(post(sim, "/embeddings", {{"content", "hi"}}).body);
  CHECK(native[0]["embedding"].size() == 1);
  CHECK(native[0]["embedding"][0].size() == 64);
  // Malformed, as recorded.
  CHECK(post(sim, "/v1/embeddings", {{"model", "x"}}).body == recorded_body("embeddings.http", 8));
  CHECK(post(sim, "/v1/embeddings", {{"input", 5}}).body == recorded_body("embeddings.http", 9));
  CHECK(post(sim.port(), "/v1/embeddings", "{\"input\":").body ==
        recorded_body("embeddings.http", 10));
  CHECK(post(sim, "/v1/embeddings", {{"input", "hi"}, {"encoding_format", "hex"}}).body ==
        recorded_body("embeddings.http", 12));
  CHECK(post(sim, "/v1/embeddings", {{"input", Json::array()}}).body ==
        recorded_body("embeddings.http", 16));
  std::string long_text(4000, 'a');
  Reply big = post(sim, "/v1/embeddings", {{"input", long_text}});
  CHECK(big.status == 500);
  CHECK(Json::parse(big.body)["error"]["message"].get<std::string>().find(
            "is too large to process") != std::string::npos);
  // Generation still works with --embeddings.
  CHECK(post(sim, "/v1/completions", {{"prompt", "Hello"}, {"max_tokens", 2}}).status == 200);
}

TEST_CASE("llm-sim llama: /v1/rerank ranks the relevant document first") {
  SimProcess sim(llama_args({"--reranking"}));
  Json docs = {"hi", "it is a bear", "The giant panda is a bear species endemic to China."};
  Reply r = post(sim, "/v1/rerank", {{"query", "What is a giant panda?"}, {"documents", docs}});
  REQUIRE(r.status == 200);
  CHECK(top_keys(r.body) == top_keys(recorded_body("rerank.http", 1)));
  Json j = Json::parse(r.body);
  REQUIRE(j["results"].size() == 3);
  CHECK(j["results"][0]["index"] == 2);
  CHECK(j["results"][0]["relevance_score"] > j["results"][1]["relevance_score"]);
  CHECK(j["results"][1]["relevance_score"] >= j["results"][2]["relevance_score"]);
  CHECK(j["usage"]["prompt_tokens"].get<long long>() > 0);
  Json top = Json::parse(post(sim, "/rerank",
                              {{"model", "x"},
                               {"query", "panda"},
                               {"documents", docs},
                               {"top_n", 1},
                               {"return_text", true}})
                             .body);
  CHECK(top["model"] == "x");
  REQUIRE(top["results"].size() == 1);
  CHECK(!top["results"][0].contains("text")); // return_text only in the TEI form
  Json tei = Json::parse(
      post(sim, "/reranking", {{"query", "panda"}, {"texts", docs}, {"return_text", true}}).body);
  REQUIRE(tei.is_array());
  CHECK(tei[0]["index"] == 2);
  CHECK(tei[0].contains("score"));
  CHECK(tei[0]["text"] == docs[2]);
  CHECK(post(sim, "/v1/rerank", {{"documents", {"a"}}}).body == recorded_body("rerank.http", 3));
  CHECK(post(sim, "/v1/rerank", {{"query", "a"}}).body == recorded_body("rerank.http", 4));
  CHECK(post(sim, "/v1/rerank", {{"query", "a"}, {"documents", Json::array()}}).status == 400);
  CHECK(post(sim, "/v1/rerank", {{"query", "a"}, {"documents", "b"}}).status == 400);
  CHECK(post(sim, "/v1/rerank", {{"query", 5}, {"documents", {"b"}}}).body ==
        recorded_body("rerank.http", 7));
  CHECK(post(sim.port(), "/v1/rerank", "{\"query\":").body == recorded_body("rerank.http", 8));
  CHECK(post(sim, "/v1/rerank", {{"query", "a"}, {"documents", {"b", 5}}}).body ==
        recorded_body("rerank.http", 11));
  // --reranking turns embeddings on (rank pooling).
  CHECK(post(sim, "/v1/embeddings", {{"input", "a"}}).status == 200);
}

// --- /v1/messages, /v1/messages/count_tokens and /v1/responses -------------------------

namespace {

// The model path the anthropic/ and responses/ recordings name.
const std::vector<std::string> k_door_model = {"-a",
                                               "/work/shared/fixtures/gguf/tiny-llama-2L-f16.gguf"};

const std::string k_door_system = "You are a helpful assistant.";
const std::string k_door_question = "Hello! What is the capital of France?";
// Makes the sim answer what the tiny model answered at temperature 0: newlines.
const std::string k_door_newlines = " [[sim: repeat=\"\n\"]]";

// The recorded /v1/messages request (anthropic/record.sh, SYS and MSG).
Json messages_body(const std::string& question, const Json& extra = Json::object()) {
  Json body{{"model", "tiny"},
            {"max_tokens", 8},
            {"temperature", 0},
            {"system", k_door_system},
            {"messages", Json::array({{{"role", "user"}, {"content", question}}})}};
  body.update(extra);
  return body;
}

// The recorded /v1/responses request (responses/README.md, nonstream.http).
Json responses_body(const std::string& question, const Json& extra = Json::object()) {
  Json body{{"model", "tiny"},
            {"instructions", k_door_system},
            {"input", question},
            {"max_output_tokens", 8},
            {"temperature", 0}};
  body.update(extra);
  return body;
}

// The body of a recorded .sse file with its chunked framing undone.
std::string recorded_sse_body(const std::string& name) {
  std::string body = fixture_body(name);
  std::string out;
  std::size_t pos = 0;
  while (pos < body.size()) {
    std::size_t eol = body.find("\r\n", pos);
    std::size_t size = std::stoul(body.substr(pos, eol - pos), nullptr, 16);
    if (size == 0) {
      break;
    }
    out += body.substr(eol + 2, size);
    pos = eol + 2 + size + 2;
  }
  return out;
}

std::vector<std::string> event_names(const std::string& body) {
  std::vector<std::string> names;
  for (const auto& e : sse_events(body)) {
    names.push_back(e.event);
    CHECK(Json::parse(e.data)["type"] == e.event); // data.type repeats the event name
  }
  return names;
}

// The events of a stream, as ordered JSON.
std::vector<nlohmann::ordered_json> door_events(const std::string& body) {
  std::vector<nlohmann::ordered_json> out;
  for (const auto& e : sse_events(body)) {
    out.push_back(nlohmann::ordered_json::parse(e.data));
  }
  return out;
}

// The keys of every event, event by event, to compare shapes with a recording.
std::vector<std::vector<std::string>> event_keys(const std::string& body) {
  std::vector<std::vector<std::string>> out;
  for (const auto& e : door_events(body)) {
    out.push_back(keys_of(e));
  }
  return out;
}

} // namespace

TEST_CASE("llm-sim llama: /v1/messages equals the recordings byte for byte once normalised") {
  SimProcess sim(llama_args(k_door_model));
  const Json whole = messages_body(k_door_question + k_door_newlines);
  CHECK(normalise(raw_exchange(sim.port(), raw_post("/v1/messages", whole))) ==
        normalise(fixture_text("llama-server/anthropic/messages-nonstream.http")));
  const Json stream =
      messages_body(k_door_question + k_door_newlines, {{"max_tokens", 4}, {"stream", true}});
  CHECK(normalise(raw_exchange(sim.port(), raw_post("/v1/messages", stream))) ==
        normalise(fixture_text("llama-server/anthropic/messages-stream.sse")));
}

TEST_CASE("llm-sim llama: /v1/responses equals the recordings byte for byte once normalised") {
  SimProcess sim(llama_args(k_door_model));
  const Json whole = responses_body(k_door_question + k_door_newlines);
  CHECK(normalise(raw_exchange(sim.port(), raw_post("/v1/responses", whole))) ==
        normalise(fixture_text("llama-server/responses/nonstream.http")));
  const Json stream = responses_body(k_door_question + k_door_newlines,
                                     {{"max_output_tokens", 4}, {"stream", true}});
  CHECK(normalise(raw_exchange(sim.port(), raw_post("/v1/responses", stream))) ==
        normalise(fixture_text("llama-server/responses/stream.sse")));
}

TEST_CASE("llm-sim llama: /v1/messages answers generated text in the recorded shape") {
  SimProcess sim(llama_args(k_door_model));
  Reply r = post(sim, "/v1/messages", messages_body(k_door_question));
  REQUIRE(r.status == 200);
  CHECK(r.header("Content-Type") == "application/json; charset=utf-8");
  auto body = nlohmann::ordered_json::parse(r.body);
  auto recorded = nlohmann::ordered_json::parse(fixture_body("anthropic/messages-nonstream.http"));
  CHECK(keys_of(body) == keys_of(recorded));
  CHECK(keys_of(body["usage"]) == keys_of(recorded["usage"]));
  CHECK(keys_of(body["content"][0]) == keys_of(recorded["content"][0]));
  CHECK(std::regex_match(body["id"].get<std::string>(), std::regex("chatcmpl-[A-Za-z0-9]{32}")));
  CHECK(body["stop_reason"] == "max_tokens");
  CHECK(body["stop_sequence"].is_null());
  CHECK(body["usage"]["output_tokens"] == 8);
  const std::string text = body["content"][0]["text"].get<std::string>();
  CHECK(text.find('\n') == std::string::npos); // generated words, not the recording's text

  // Streamed: the recorded event names in order, each event with the recorded keys, and
  // the same text as the whole reply of the same request.
  Reply s = post(sim, "/v1/messages", messages_body(k_door_question, {{"stream", true}}));
  REQUIRE(s.status == 200);
  CHECK(s.header("Content-Type") == "text/event-stream");
  const std::string recorded_stream = recorded_sse_body("anthropic/messages-stream.sse");
  std::vector<std::string> names = event_names(s.body);
  std::vector<std::string> want = event_names(recorded_stream); // 4 deltas recorded
  want.insert(want.begin() + 3, 4, "content_block_delta");      // 8 here
  CHECK(names == want);
  std::vector<std::vector<std::string>> keys = event_keys(s.body);
  std::vector<std::vector<std::string>> want_keys = event_keys(recorded_stream);
  want_keys.insert(want_keys.begin() + 3, 4, want_keys[2]);
  CHECK(keys == want_keys);
  std::string streamed;
  for (const auto& e : door_events(s.body)) {
    if (e["type"] == "content_block_delta") {
      CHECK(e["delta"]["type"] == "text_delta");
      streamed += e["delta"]["text"].get<std::string>();
    }
  }
  CHECK(streamed == text);
  auto last = door_events(s.body);
  CHECK(last[last.size() - 2]["delta"]["stop_reason"] == "max_tokens");
  CHECK(last[last.size() - 2]["usage"]["output_tokens"] == 8);
}

TEST_CASE("llm-sim llama: /v1/messages stop_sequences end the turn and name the sequence") {
  SimProcess sim(llama_args(k_door_model));
  Json plain{{"model", "tiny"},
             {"max_tokens", 8},
             {"temperature", 0},
             {"stop_sequences", {"\n"}},
             {"messages",
              Json::array({{{"role", "user"}, {"content", k_door_question + k_door_newlines}}})}};
  Reply r = post(sim, "/v1/messages", plain);
  auto body = nlohmann::ordered_json::parse(r.body);
  auto recorded =
      nlohmann::ordered_json::parse(fixture_body("anthropic/messages-stop-sequence.http"));
  CHECK(keys_of(body) == keys_of(recorded));
  CHECK(body["content"] == recorded["content"]); // []
  CHECK(body["stop_reason"] == "end_turn");
  CHECK(body["stop_sequence"] == "\n");
  plain["stream"] = true;
  Reply s = post(sim, "/v1/messages", plain);
  const std::string recorded_stream =
      recorded_sse_body("anthropic/messages-stop-sequence-stream.sse");
  CHECK(event_names(s.body) == event_names(recorded_stream));
  auto events = door_events(s.body);
  REQUIRE(events.size() == 3);
  CHECK(events[1]["delta"] == door_events(recorded_stream)[1]["delta"]);
  // A stop sequence that is not met leaves stop_sequence null.
  Reply other =
      post(sim, "/v1/messages", messages_body(k_door_question, {{"stop_sequences", {"zzz"}}}));
  CHECK(Json::parse(other.body)["stop_sequence"].is_null());
}

TEST_CASE("llm-sim llama: /v1/messages reads block content and answers tool_use") {
  SimProcess sim(llama_args());
  Json tools = Json::array({{{"name", "get_weather"},
                             {"description", "Get the current weather for a city"},
                             {"input_schema",
                              {{"type", "object"},
                               {"properties", {{"city", {{"type", "string"}}}}},
                               {"required", {"city"}}}}}});
  Json blocks{
      {"model", "tiny"},
      {"max_tokens", 64},
      {"system", Json::array({{{"type", "text"}, {"text", k_door_system}}})},
      {"tools", tools},
      {"tool_choice", {{"type", "auto"}}},
      {"messages",
       Json::array(
           {{{"role", "user"},
             {"content", Json::array({{{"type", "text"},
                                       {"text", "Weather in Paris? [[sim: tool=get_weather]]"}},
                                      {{"type", "image"}, {"source", Json::object()}}})}}})}};
  Reply r = post(sim, "/v1/messages", blocks);
  REQUIRE(r.status == 200);
  Json body = Json::parse(r.body);
  CHECK(body["stop_reason"] == "tool_use");
  REQUIRE(body["content"].size() == 1);
  CHECK(body["content"][0]["type"] == "tool_use");
  CHECK(body["content"][0]["name"] == "get_weather");
  CHECK(body["content"][0]["input"]["city"].is_string());
  blocks["stream"] = true;
  Reply s = post(sim, "/v1/messages", blocks);
  CHECK(event_names(s.body) == std::vector<std::string>{"message_start", "content_block_start",
                                                        "content_block_delta", "content_block_stop",
                                                        "message_delta", "message_stop"});
  auto events = door_events(s.body);
  CHECK(events[1]["content_block"]["type"] == "tool_use");
  CHECK(events[2]["delta"]["type"] == "input_json_delta");
  CHECK(Json::parse(events[2]["delta"]["partial_json"].get<std::string>()) ==
        body["content"][0]["input"]);
  // A conversation that went through a tool: tool_use and tool_result blocks are accepted.
  Json turn = blocks;
  turn.erase("stream");
  turn["messages"] = Json::array(
      {{{"role", "user"}, {"content", "Weather in Paris?"}},
       {{"role", "assistant"},
        {"content", Json::array({{{"type", "tool_use"},
                                  {"id", "t1"},
                                  {"name", "get_weather"},
                                  {"input", {{"city", "Paris"}}}}})}},
       {{"role", "user"},
        {"content",
         Json::array({{{"type", "tool_result"}, {"tool_use_id", "t1"}, {"content", "Sunny"}}})}}});
  Reply after = post(sim, "/v1/messages", turn);
  CHECK(after.status == 200);
  CHECK(Json::parse(after.body)["content"][0]["type"] == "text");
}

TEST_CASE("llm-sim llama: /v1/messages/count_tokens counts the chat prompt it becomes") {
  SimProcess sim(llama_args());
  Json req{{"model", "tiny"},
           {"system", k_door_system},
           {"messages", Json::array({{{"role", "user"}, {"content", k_door_question}}})}};
  Reply r = post(sim, "/v1/messages/count_tokens", req);
  REQUIRE(r.status == 200);
  auto body = nlohmann::ordered_json::parse(r.body);
  CHECK(keys_of(body) ==
        keys_of(nlohmann::ordered_json::parse(fixture_body("anthropic/count-tokens.http"))));
  Reply chat = post(sim, "/v1/chat/completions", chat_body());
  CHECK(body["input_tokens"] == Json::parse(chat.body)["usage"]["prompt_tokens"]);
  CHECK(body["input_tokens"].get<int>() > 0);
  // A longer prompt counts more.
  req["messages"][0]["content"] = k_door_question + " And of Spain, and of Italy?";
  CHECK(Json::parse(post(sim, "/v1/messages/count_tokens", req).body)["input_tokens"]
            .get<long long>() > body["input_tokens"].get<long long>());
}

TEST_CASE("llm-sim llama: /v1/responses answers generated text in the recorded shape") {
  SimProcess sim(llama_args(k_door_model));
  Reply r = post(sim, "/v1/responses", responses_body(k_door_question));
  REQUIRE(r.status == 200);
  auto body = nlohmann::ordered_json::parse(r.body);
  auto recorded = nlohmann::ordered_json::parse(fixture_body("responses/nonstream.http"));
  CHECK(keys_of(body) == keys_of(recorded));
  CHECK(keys_of(body["output"][0]) == keys_of(recorded["output"][0]));
  CHECK(keys_of(body["output"][0]["content"][0]) == keys_of(recorded["output"][0]["content"][0]));
  CHECK(keys_of(body["usage"]) == keys_of(recorded["usage"]));
  CHECK(std::regex_match(body["id"].get<std::string>(), std::regex("resp_[A-Za-z0-9]{32}")));
  CHECK(body["usage"]["output_tokens"] == 8);
  const std::string text = body["output"][0]["content"][0]["text"].get<std::string>();
  CHECK(!text.empty());

  Reply s = post(sim, "/v1/responses",
                 responses_body(k_door_question, {{"max_output_tokens", 4}, {"stream", true}}));
  const std::string recorded_stream = recorded_sse_body("responses/stream.sse");
  CHECK(event_names(s.body) == event_names(recorded_stream));
  CHECK(event_keys(s.body) == event_keys(recorded_stream));
  auto events = door_events(s.body);
  auto want = door_events(recorded_stream);
  REQUIRE(events.size() == want.size());
  CHECK(keys_of(events.back()["response"]) == keys_of(want.back()["response"]));
  CHECK(keys_of(events[2]["item"]) == keys_of(want[2]["item"]));
  CHECK(
      events.back()["response"]["output"][0]["content"][0]["text"].get<std::string>() ==
      text.substr(
          0,
          events.back()["response"]["output"][0]["content"][0]["text"].get<std::string>().size()));
  CHECK(events.back()["response"]["usage"]["output_tokens"] == 4);
}

TEST_CASE("llm-sim llama: /v1/responses reads message items and answers function calls") {
  SimProcess sim(llama_args());
  Json req{{"model", "tiny"},
           {"input",
            Json::array(
                {{{"role", "user"},
                  {"content", Json::array({{{"type", "input_text"},
                                            {"text", "Weather? [[sim: tool=get_weather]]"}}})}}})},
           {"tools", Json::array({{{"type", "function"},
                                   {"name", "get_weather"},
                                   {"parameters",
                                    {{"type", "object"},
                                     {"properties", {{"city", {{"type", "string"}}}}},
                                     {"required", {"city"}}}}},
                                  {{"type", "web_search"}}})}};
  Reply r = post(sim, "/v1/responses", req);
  REQUIRE(r.status == 200);
  Json body = Json::parse(r.body);
  REQUIRE(body["output"].size() == 1);
  CHECK(body["output"][0]["type"] == "function_call");
  CHECK(body["output"][0]["name"] == "get_weather");
  CHECK(Json::parse(body["output"][0]["arguments"].get<std::string>())["city"].is_string());
  req["stream"] = true;
  Reply s = post(sim, "/v1/responses", req);
  CHECK(event_names(s.body) == std::vector<std::string>{"response.created", "response.in_progress",
                                                        "response.output_item.added",
                                                        "response.function_call_arguments.delta",
                                                        "response.output_item.done",
                                                        "response.completed"});
  // A built-in tool alone is skipped as b10587 skips it (builtin-tool.http): a text answer.
  Json builtin{{"model", "tiny"},
               {"input", Json::array({{{"role", "user"}, {"content", "hi"}}})},
               {"tools", Json::array({{{"type", "web_search"}}})},
               {"max_output_tokens", 2}};
  Reply b = post(sim, "/v1/responses", builtin);
  REQUIRE(b.status == 200);
  auto bb = nlohmann::ordered_json::parse(b.body);
  auto recorded = nlohmann::ordered_json::parse(fixture_body("responses/builtin-tool.http"));
  CHECK(keys_of(bb) == keys_of(recorded));
  CHECK(bb["output"][0]["type"] == "message");
  CHECK(bb["usage"]["output_tokens"] == 2);
}

TEST_CASE("llm-sim llama: /v1/messages and /v1/responses errors match the recordings") {
  SimProcess sim(llama_args());
  auto c = sim.client();
  auto no_messages =
      c.Post("/v1/messages", R"({"model":"tiny","max_tokens":8})", "application/json");
  REQUIRE(no_messages);
  CHECK(no_messages->status == 500);
  CHECK(no_messages->body == fixture_body("anthropic/error-no-messages.http"));
  auto bad_json = c.Post("/v1/messages",
                         R"({"model":"tiny","max_tokens":8,"messages":[{"role":"user","content":)",
                         "application/json");
  CHECK(bad_json->status == 500);
  CHECK(bad_json->body == fixture_body("anthropic/error-bad-json.http"));
  auto count_bad = c.Post("/v1/messages/count_tokens", R"({"model":"tiny"})", "application/json");
  CHECK(count_bad->status == 500);
  auto not_object = c.Post("/v1/messages", "[1,2]", "application/json");
  CHECK(not_object->status == 500);
  auto input = c.Post("/v1/responses", R"({"model":"tiny","input":42})", "application/json");
  CHECK(input->status == 400);
  CHECK(input->body == fixture_body("responses/error-input.http"));
  auto previous =
      c.Post("/v1/responses", R"({"model":"tiny","input":"hi","previous_response_id":"resp_x"})",
             "application/json");
  CHECK(previous->status == 400);
  CHECK(previous->body == fixture_body("responses/error-previous-response-id.http"));
  auto item = c.Post("/v1/responses", R"({"model":"tiny","input":["hi"]})", "application/json");
  CHECK(item->status == 400);
  auto no_input = c.Post("/v1/responses", R"({"model":"tiny"})", "application/json");
  CHECK(no_input->status == 400);
  auto bad_max =
      c.Post("/v1/responses", R"({"input":"hi","max_output_tokens":"many"})", "application/json");
  CHECK(bad_max->status == 400);
}

TEST_CASE("llm-sim llama: /v1/messages and /v1/responses refuse a prompt over the context") {
  SimProcess sim(llama_args()); // -c 1024 -np 2: 512 tokens a slot
  const std::string long_text(4000, 'a');
  for (const char* path : {"/v1/messages", "/v1/responses"}) {
    CAPTURE(path);
    Json req =
        std::string(path) == "/v1/messages" ? messages_body(long_text) : responses_body(long_text);
    Reply r = post(sim, path, req);
    CHECK(r.status == 400);
    Json body = Json::parse(r.body);
    CHECK(body["error"]["type"] == "exceed_context_size_error");
    CHECK(body["error"]["n_ctx"] == 512);
    Reply chat =
        post(sim, "/v1/chat/completions",
             Json{{"messages", Json::array({{{"role", "system"}, {"content", k_door_system}},
                                            {{"role", "user"}, {"content", long_text}}})}});
    CHECK(Json::parse(chat.body)["error"]["n_prompt_tokens"] == body["error"]["n_prompt_tokens"]);
  }
}
