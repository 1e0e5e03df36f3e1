// Every llm-sim fault, injected per request (directive or X-Sim-Fault header) or for the
// whole process (--sim-fault), observed from a real client over a real socket.

#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "tests/integration/sim_harness.h"

namespace {

using namespace ask::testing;
using SteadyClock = std::chrono::steady_clock;

// How long a client waits on a hanging server before giving up: long enough that a loaded
// CI box still delivers the tokens that come before the hang.
constexpr std::chrono::milliseconds k_give_up_after{2000};

Json user_says(const std::string& text, const Json& extra = Json::object()) {
  Json body{{"messages", {{{"role", "user"}, {"content", text}}}}};
  body.update(extra);
  return body;
}

Json stream_ask(const std::string& text) {
  return user_says(text, {{"stream", true}});
}

// Token events of a llama-server stream (content or reasoning deltas, not the role chunk).
int token_events(const std::vector<ask::core::SseEvent>& events) {
  int n = 0;
  for (const auto& e : events) {
    if (e.is_done()) {
      continue;
    }
    const Json delta = Json::parse(e.data)["choices"][0]["delta"];
    n += (delta.contains("content") && delta["content"].is_string()) ||
         delta.contains("reasoning_content");
  }
  return n;
}

} // namespace

TEST_CASE("llm-sim faults: ttft delays the first byte") {
  SimProcess sim(llama_args());
  const auto start = SteadyClock::now();
  Reply r = post(sim, "/v1/chat/completions", stream_ask("hi [[sim: ttft=300ms]]"));
  CHECK(r.status == 200);
  CHECK(SteadyClock::now() - start >= std::chrono::milliseconds(300));
  CHECK(sse_events(r.body).back().is_done());
}

TEST_CASE("llm-sim faults: status answers with the backend's error body - 429 adds Retry-After") {
  SimProcess sim(llama_args());
  Reply unavailable =
      post(sim, "/v1/chat/completions", user_says("hi"), {{"X-Sim-Fault", "status=503"}});
  CHECK(unavailable.status == 503);
  Json err = Json::parse(unavailable.body)["error"];
  CHECK(err["code"] == 503);
  CHECK(err["type"] == "unavailable_error");
  Reply limited =
      post(sim, "/v1/chat/completions", user_says("hi [[sim: status=429 retry_after=7]]"));
  CHECK(limited.status == 429);
  auto retry_after = limited.headers.find("Retry-After");
  REQUIRE(retry_after != limited.headers.end());
  CHECK(retry_after->second == "7");
  CHECK(sim.get_json("/sim/stats")["faults"]["status"] == 2);
}

TEST_CASE("llm-sim faults: close_before_headers and reset end the connection without a response") {
  SimProcess sim(llama_args());
  for (const char* fault : {"close_before_headers", "reset"}) {
    CAPTURE(fault);
    Reply r = post(sim, "/v1/chat/completions", user_says("hi"), {{"X-Sim-Fault", fault}});
    CHECK(r.status == 0);
    CHECK(r.error != httplib::Error::Success);
    CHECK(r.body.empty());
  }
  CHECK(post(sim, "/v1/chat/completions", user_says("hi")).status == 200); // the server lives on
}

TEST_CASE("llm-sim faults: drop_after ends the stream after N tokens without [DONE]") {
  SimProcess sim(llama_args());
  Reply r = post(sim, "/v1/chat/completions", stream_ask("hi [[sim: drop_after=3]]"));
  CHECK(r.status == 200);
  CHECK(r.error != httplib::Error::Success); // the chunked body never ended
  auto events = sse_events(r.body);
  CHECK(token_events(events) == 3);
  REQUIRE(!events.empty());
  CHECK(!events.back().is_done());
  // The server ends its side of the request asynchronously; wait (bounded) until it has been
  // counted as finished before asserting it was not counted as completed.
  Json stats = sim.get_json("/sim/stats");
  const auto deadline = SteadyClock::now() + std::chrono::seconds(5);
  while (stats["in_flight"] != 0 && SteadyClock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    stats = sim.get_json("/sim/stats");
  }
  CHECK(stats["in_flight"] == 0);
  CHECK(stats["completed"] == 0);
}

TEST_CASE(
    "llm-sim faults: hang keeps the client waiting until it gives up - the disconnect is counted") {
  SimProcess sim(llama_args());
  const auto start = SteadyClock::now();
  Reply r = post(sim, "/v1/chat/completions", user_says("hi [[sim: hang]]"), {}, k_give_up_after);
  CHECK(r.status == 0);
  CHECK(r.error == httplib::Error::Read);
  CHECK(SteadyClock::now() - start >= k_give_up_after);
  CHECK(stats_when(sim, "client_disconnects", 1)["client_disconnects"] == 1);
}

TEST_CASE("llm-sim faults: hang_after sends N tokens, then nothing") {
  SimProcess sim(llama_args());
  Reply r = post(sim, "/v1/chat/completions", stream_ask("hi [[sim: hang_after=2]]"), {},
                 k_give_up_after);
  CHECK(r.status == 200);
  CHECK(r.error == httplib::Error::Read);
  CHECK(token_events(sse_events(r.body)) == 2);
  CHECK(stats_when(sim, "client_disconnects", 1)["client_disconnects"] == 1);
}

TEST_CASE("llm-sim faults: crash kills the process - the client sees the connection die") {
  SimProcess sim(llama_args());
  Reply r = post(sim, "/v1/chat/completions", user_says("hi [[sim: crash]]"));
  CHECK(r.status == 0);
  auto status = sim.process().wait_exit(std::chrono::milliseconds(5000));
  REQUIRE(status);
  CHECK(!status->exited);
  CHECK(status->signal == SIGKILL);
}

TEST_CASE("llm-sim faults: crash_after dies mid-stream after N tokens") {
  SimProcess sim(llama_args());
  Reply r = post(sim, "/v1/chat/completions", stream_ask("hi [[sim: crash_after=2]]"));
  CHECK(r.status == 200);
  CHECK(token_events(sse_events(r.body)) == 2);
  auto status = sim.process().wait_exit(std::chrono::milliseconds(5000));
  REQUIRE(status);
  CHECK(status->signal == SIGKILL);
}

TEST_CASE("llm-sim faults: repeat streams the phrase until max_tokens") {
  SimProcess sim(llama_args());
  Json body = stream_ask("hi [[sim: repeat=\"all work and no play\"]]");
  body["max_tokens"] = 20;
  Reply r = post(sim, "/v1/chat/completions", body);
  auto events = sse_events(r.body);
  std::string text = streamed_content(events);
  CHECK(text.starts_with("all work and no play all work and no play "));
  CHECK(token_events(events) == 20);
  CHECK(Json::parse(events[events.size() - 2].data)["choices"][0]["finish_reason"] == "length");
}

TEST_CASE("llm-sim faults: repeat without max_tokens stops when the slot's context is full") {
  SimProcess sim(llama_args());
  Json body = user_says("hi [[sim: repeat=\"again\"]]");
  Json reply = Json::parse(post(sim, "/v1/chat/completions", body).body);
  CHECK(reply["choices"][0]["finish_reason"] == "length");
  CHECK(reply["usage"]["total_tokens"] == 512); // -c 1024 -np 2
}

TEST_CASE("llm-sim faults: repeat runs until the client goes away - the disconnect is counted") {
  SimProcess sim(llama_args({"-c", "200000", "-np", "1"}));
  Reply r = post(sim, "/v1/chat/completions", stream_ask("hi [[sim: repeat=loop tps=1000]]"), {},
                 10s, 2000);
  CHECK(r.status == 200);
  CHECK(r.body.size() >= 2000);
  CHECK(stats_when(sim, "client_disconnects", 1)["client_disconnects"] == 1);
  CHECK(sim.get_json("/sim/stats")["completed"] == 0);
}

TEST_CASE("llm-sim faults: tokens gives an exact length and tps paces the stream") {
  SimProcess sim(llama_args());
  const auto start = SteadyClock::now();
  Reply r = post(sim, "/v1/chat/completions", stream_ask("hi [[sim: tokens=5 tps=40]]"));
  CHECK(token_events(sse_events(r.body)) == 5);
  CHECK(SteadyClock::now() - start >= std::chrono::milliseconds(100)); // 4 gaps of 25 ms
}

TEST_CASE("llm-sim faults: think and tool change the answer") {
  SimProcess sim(llama_args());
  Json thought =
      Json::parse(post(sim, "/v1/chat/completions", user_says("hi [[sim: think]]")).body);
  CHECK(thought["choices"][0]["message"]["reasoning_content"].get<std::string>().starts_with(
      "Let me think."));
  Json body = user_says("weather? [[sim: tool=lookup]]");
  body["tools"] = Json::parse(R"([{"type":"function","function":{"name":"other","parameters":{}}},
      {"type":"function","function":{"name":"lookup","parameters":{"type":"object",
      "properties":{"q":{"type":"string"}},"required":["q"]}}}])");
  Json called = Json::parse(post(sim, "/v1/chat/completions", body).body);
  CHECK(called["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "lookup");
}

TEST_CASE("llm-sim faults: the directive is removed before the answer is derived") {
  SimProcess sim(llama_args());
  auto content = [&](const std::string& text) {
    return Json::parse(post(sim, "/v1/chat/completions", user_says(text))
                           .body)["choices"][0]["message"]["content"];
  };
  CHECK(content("tell me a story [[sim: ttft=10ms]]") == content("tell me a story"));
}

TEST_CASE("llm-sim faults: an unknown key is a 400 naming it") {
  SimProcess sim(llama_args());
  Reply r = post(sim, "/v1/chat/completions", user_says("hi [[sim: stauts=503]]"));
  CHECK(r.status == 400);
  CHECK(r.body.find("unknown fault 'stauts'") != std::string::npos);
  Reply h = post(sim, "/v1/chat/completions", user_says("hi"), {{"X-Sim-Fault", "drop_after=x"}});
  CHECK(h.status == 400);
  CHECK(h.body.find("X-Sim-Fault: fault 'drop_after'") != std::string::npos);
}

TEST_CASE("llm-sim faults: the header wins over the directive") {
  SimProcess sim(llama_args());
  Reply r = post(sim, "/v1/chat/completions", user_says("hi [[sim: status=500]]"),
                 {{"X-Sim-Fault", "status=502"}});
  CHECK(r.status == 502);
}

TEST_CASE("llm-sim faults: --sim-fault applies to every request") {
  SimProcess sim(llama_args({"--sim-fault", "status=500"}));
  CHECK(post(sim, "/v1/chat/completions", user_says("a")).status == 500);
  CHECK(post(sim, "/v1/chat/completions", user_says("b")).status == 500);
  CHECK(sim.client().Get("/health")->status == 200); // health is not a chat
}

TEST_CASE("llm-sim faults: a client leaving mid-stream is counted as a disconnect") {
  SimProcess sim(llama_args());
  Reply r =
      post(sim, "/v1/chat/completions", stream_ask("hi [[sim: tokens=200 tps=200]]"), {}, 10s, 600);
  CHECK(r.status == 200);
  Json stats = stats_when(sim, "client_disconnects", 1);
  CHECK(stats["client_disconnects"] == 1);
  CHECK(stats["completed"] == 0);
  CHECK(stats["in_flight"] == 0);
}

TEST_CASE("llm-sim faults: Ollama mode answers faults in Ollama's error format") {
  SimProcess sim({"--ollama", "--sim-tokens-per-second", "0"});
  Json body{{"model", "llama3.2:1b"},
            {"messages", {{{"role", "user"}, {"content", "hi [[sim: status=503]]"}}}}};
  Reply r = post(sim, "/api/chat", body);
  CHECK(r.status == 503);
  CHECK(Json::parse(r.body) == Json{{"error", "llm-sim: injected fault status=503"}});
  body["messages"][0]["content"] = "hi [[sim: drop_after=2]]";
  Reply dropped = post(sim, "/api/chat", body);
  CHECK(dropped.error != httplib::Error::Success);
  CHECK(ndjson_lines(dropped.body).size() == 2);
}
