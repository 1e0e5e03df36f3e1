// askd end to end: the real askd binary in front of real llm-sim processes, over loopback.
// The core request flow: serving, headers, streaming relay, fallback and its triggers.

#include <doctest/doctest.h>

#include "tests/integration/askd_harness.h"

namespace {

using namespace ask::testing;

Json last_upstream_request(const SimProcess& sim) {
  Json requests = sim.get_json("/sim/requests")["requests"];
  REQUIRE(!requests.empty());
  return requests.back();
}

} // namespace

TEST_CASE("askd: serves a logical model and says who served, without fallback") {
  SimProcess sim(llama_args());
  Json extra = {{"params", {{"temperature", 0.25}, {"top_k", 7}}}};
  AskdProcess askd(chain_config({sim.port()}, extra));
  Json body = chat_body("m0", "hello there");
  body["temperature"] = 0.5; // the request's own value wins over the model's default
  Reply r = askd.chat(body);
  REQUIRE(r.status == 200);
  CHECK(r.header("X-Served-By") == "m0");
  CHECK(r.header("X-Requested-Model") == "m0");
  CHECK(r.header("X-Fallback-Path") == "m0");
  CHECK(r.header("Content-Type") == "application/json");
  Json reply = Json::parse(r.body);
  CHECK(reply["model"] == "m0");
  CHECK(reply["object"] == "chat.completion");
  CHECK(!reply["choices"][0]["message"]["content"].get<std::string>().empty());

  Json sent = last_upstream_request(sim)["json"];
  CHECK(sent["model"] == "sim-model");
  CHECK(sent["temperature"] == 0.5);
  CHECK(sent["top_k"] == 7);
  CHECK(sent["stream"] == false);

  auto lines = askd.wait_log_lines(1);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0]["requested"] == "m0");
  CHECK(lines[0]["served_by"] == "m0");
  CHECK(lines[0]["status"] == 200);
  CHECK(lines[0]["fallback_path"] == Json::array({"m0"}));
  CHECK(lines[0]["prompt_tokens"].is_number_integer());
  CHECK(lines[0]["completion_tokens"].get<long long>() > 0);
}

TEST_CASE("askd: a stream is relayed with the same content the backend sent") {
  SimProcess sim(llama_args());
  AskdProcess askd(chain_config({sim.port()}));
  Json body = chat_body("m0", "tell me a story [[sim: think]]", true);
  Reply direct = post(sim, "/v1/chat/completions", body);
  Reply proxied = askd.chat(body);
  REQUIRE(direct.status == 200);
  REQUIRE(proxied.status == 200);
  CHECK(proxied.header("Content-Type") == "text/event-stream");
  CHECK(proxied.header("X-Served-By") == "m0");
  auto direct_events = sse_events(direct.body);
  auto proxied_events = sse_events(proxied.body);
  CHECK(!streamed_content(direct_events).empty());
  CHECK(streamed_content(proxied_events) == streamed_content(direct_events));
  CHECK(!streamed_reasoning(direct_events).empty());
  CHECK(streamed_reasoning(proxied_events) == streamed_reasoning(direct_events));
  REQUIRE(!proxied_events.empty());
  CHECK(proxied_events.back().is_done());
  for (const auto& e : proxied_events) {
    if (!e.is_done()) {
      CHECK(Json::parse(e.data)["model"] == "m0");
      // The client did not ask for usage: askd asked upstream (to count tokens) but drops it.
      CHECK(!Json::parse(e.data).contains("usage"));
    }
  }
  auto lines = askd.wait_log_lines(1);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0]["stream"] == true);
  CHECK(lines[0]["ttft_s"].is_number());
  CHECK(lines[0]["completion_tokens"].get<long long>() > 0);
}

TEST_CASE("askd: the usage chunk reaches a client that asks for it") {
  SimProcess sim(llama_args());
  AskdProcess askd(chain_config({sim.port()}));
  Json body = chat_body("m0", "count", true);
  body["stream_options"] = {{"include_usage", true}};
  Reply r = askd.chat(body);
  REQUIRE(r.status == 200);
  auto events = sse_events(r.body);
  REQUIRE(events.size() >= 2);
  Json usage_chunk = Json::parse(events[events.size() - 2].data);
  CHECK(usage_chunk["choices"].empty());
  CHECK(usage_chunk["usage"]["completion_tokens"].get<long long>() > 0);
}

TEST_CASE("askd: falls back when the first backend refuses connections") {
  SimProcess sim(llama_args());
  AskdProcess askd(chain_config({closed_port(), sim.port()}));
  for (bool stream : {false, true}) {
    CAPTURE(stream);
    Reply r = askd.chat(chat_body("m0", "hi", stream));
    REQUIRE(r.status == 200);
    CHECK(r.header("X-Served-By") == "m1");
    CHECK(r.header("X-Requested-Model") == "m0");
    CHECK(r.header("X-Fallback-Path") == "m0>m1");
    if (stream) {
      CHECK(Json::parse(sse_events(r.body).front().data)["model"] == "m1");
    } else {
      CHECK(Json::parse(r.body)["model"] == "m1");
    }
  }
  auto lines = askd.wait_log_lines(2);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0]["attempts"][0]["model"] == "m0");
  CHECK(lines[0]["attempts"][0]["reason"] == "connect");
  auto [status, metrics] = askd.get("/metrics");
  CHECK(status == 200);
  CHECK(metrics.find(R"(askd_fallbacks_total{from="m0",to="m1",reason="connect"} 2)") !=
        std::string::npos);
}

TEST_CASE("askd: 5xx, 429 and a stream that ends before any content fall back") {
  for (const char* fault : {"status=500", "status=503", "status=429", "drop_after=0",
                            "close_before_headers", "reset"}) {
    CAPTURE(fault);
    SimProcess bad(llama_args({"--sim-fault", fault}));
    SimProcess good(llama_args());
    AskdProcess askd(chain_config({bad.port(), good.port()}));
    for (bool stream : {false, true}) {
      CAPTURE(stream);
      Reply r = askd.chat(chat_body("m0", "hi", stream));
      CHECK(r.status == 200);
      CHECK(r.header("X-Served-By") == "m1");
      CHECK(r.header("X-Fallback-Path") == "m0>m1");
    }
  }
}

TEST_CASE("askd: a first-byte timeout falls back") {
  SimProcess slow(llama_args({"--sim-fault", "ttft=3s"}));
  SimProcess good(llama_args());
  AskdProcess askd(chain_config({slow.port(), good.port()},
                                {{"timeouts", {{"first_byte", "300ms"}}}}));
  Reply r = askd.chat(chat_body("m0", "hi", true));
  CHECK(r.status == 200);
  CHECK(r.header("X-Served-By") == "m1");
  auto lines = askd.wait_log_lines(1);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0]["attempts"][0]["reason"] == "timeout");
}

TEST_CASE("askd: a 400 from the backend is the request's fault and does not fall back") {
  SimProcess bad(llama_args({"--sim-fault", "status=400"}));
  SimProcess good(llama_args());
  AskdProcess askd(chain_config({bad.port(), good.port()}));
  Reply r = askd.chat(chat_body("m0", "hi"));
  CHECK(r.status == 400);
  Json err = Json::parse(r.body)["error"];
  CHECK(err["type"] == "invalid_request_error");
  CHECK(err["message"].get<std::string>().find("b0 answered 400") != std::string::npos);
  CHECK(good.get_json("/sim/stats")["requests_total"] == 0);
}

TEST_CASE("askd: when every model fails, 502 lists each attempt and its reason") {
  SimProcess bad(llama_args({"--sim-fault", "status=503"}));
  AskdProcess askd(chain_config({closed_port(), bad.port()}));
  Reply r = askd.chat(chat_body("m0", "hi", true));
  CHECK(r.status == 502);
  CHECK(r.header("X-Fallback-Path") == "m0>m1");
  CHECK(r.header("X-Served-By").empty());
  Json err = Json::parse(r.body)["error"];
  CHECK(err["code"] == "all_models_failed");
  REQUIRE(err["attempts"].size() == 2);
  CHECK(err["attempts"][0]["model"] == "m0");
  CHECK(err["attempts"][0]["reason"] == "connect");
  CHECK(err["attempts"][1]["model"] == "m1");
  CHECK(err["attempts"][1]["reason"] == "status_503");
  CHECK(err["message"].get<std::string>().find("m1 (status_503") != std::string::npos);
}

TEST_CASE("askd: a stream that breaks after its first content ends with an error event") {
  SimProcess bad(llama_args({"--sim-fault", "drop_after=3"}));
  SimProcess good(llama_args());
  AskdProcess askd(chain_config({bad.port(), good.port()}));
  Reply r = askd.chat(chat_body("m0", "a long answer please", true));
  CHECK(r.status == 200);
  CHECK(r.header("X-Served-By") == "m0");
  auto events = sse_events(r.body);
  REQUIRE(!events.empty());
  Json last = Json::parse(events.back().data);
  CHECK(last["error"]["code"] == "stream_interrupted");
  CHECK(good.get_json("/sim/stats")["requests_total"] == 0);
  auto lines = askd.wait_log_lines(1);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0]["status"] == 200);
  CHECK(lines[0].contains("error"));
}

TEST_CASE("askd: a client that goes away cancels the upstream request") {
  SimProcess sim(llama_args({"--sim-tokens-per-second", "20"}));
  AskdProcess askd(chain_config({sim.port()}));
  Reply r = askd.chat(chat_body("m0", "talk for a while [[sim: tokens=400]]", true), {}, 10s,
                      /*stop_after=*/200);
  CHECK(r.status == 200);
  // The backend notices its connection closing: the request counts as a client disconnect.
  Json stats = stats_when(sim, "client_disconnects", 1);
  CHECK(stats["client_disconnects"] == 1);
  CHECK(stats["completed"] == 0);
}
