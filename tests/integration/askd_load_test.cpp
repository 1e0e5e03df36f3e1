// askd end to end under load and at its limits: 256 concurrent streams through one askd to
// one llm-sim while another client is served; max_concurrency and max_queue (429 with
// Retry-After, waiting in the queue, falling back when the queue is full); clients that
// leave while queued or waiting for the first byte; the metrics once it is all over.

#include <doctest/doctest.h>

#include <chrono>
#include <latch>
#include <set>
#include <thread>

#include "tests/integration/askd_harness.h"

namespace {

using namespace ask::testing;

// A config with one model m0 on `port` whose concurrency is limited.
std::string limited_config(int port, int max_concurrency, int max_queue) {
  return chain_config({port}, {{"max_concurrency", max_concurrency}, {"max_queue", max_queue}});
}

// A raw chat request for m0 that llm-sim never answers (it waits for the client to leave).
std::string hanging_request(bool stream) {
  return raw_post("/v1/chat/completions", chat_body("m0", "wait [[sim: hang]]", stream).dump());
}

const std::string k_queued_m0 = R"(askd_queued_requests{scope="model",name="m0"})";

// llm-sim's answer to each question (m0), asked directly and unpaced: what askd must relay.
std::vector<std::string> direct_answers(const SimProcess& sim,
                                        const std::vector<std::string>& questions) {
  std::vector<std::string> out;
  for (const std::string& q : questions) {
    Reply direct =
        post(sim, "/v1/chat/completions", chat_body("m0", q), {{"X-Sim-Fault", "tps=0"}});
    REQUIRE(direct.status == 200);
    out.push_back(Json::parse(direct.body)["choices"][0]["message"]["content"]);
  }
  REQUIRE(out.size() >= 2);
  REQUIRE(out[0] != out[1]); // distinct answers, so that a mix-up shows
  return out;
}

// After `streams` streams of 20 tokens and one plain request of 3, all served by m0: the
// gauges back at 0, every request counted once, no fallback, error or disconnect.
void check_metrics_at_rest(const AskdProcess& askd, int streams) {
  const std::string upstream = R"(askd_upstream_in_flight{backend="b0",model="m0"})";
  MetricSamples m = askd.wait_metric(upstream, 0);
  CHECK(m.get(upstream) == 0);
  CHECK(m.get(R"(askd_requests_in_flight{requested="m0"})") == 0);
  CHECK(m.get(R"(askd_requests_total{requested="m0",served="m0",status="200"})") == streams + 1);
  CHECK(m.sum("askd_requests_total") == streams + 1);
  CHECK(m.sum("askd_fallbacks_total") == 0);
  CHECK(m.sum("askd_client_disconnects_total") == 0);
  CHECK(m.sum("askd_upstream_errors_total") == 0);
  CHECK(m.get(R"(askd_time_to_first_token_seconds_count{served="m0"})") == streams);
  CHECK(m.get(R"(askd_tokens_total{model="m0",type="completion"})") == 20 * streams + 3);
}

} // namespace

TEST_CASE("askd load: 256 concurrent streams complete while another client is served") {
  constexpr int k_streams = 256;
  // One slot per stream, and one more for the plain request made during the load. Each
  // stream takes 4 s (20 tokens at 5 per second): time enough for all of them to be under
  // way at once on a busy machine. A sanitizer build of askd, beside clang-tidy in CI, took
  // longer than that to start the 256th (the first ones had ended): 20 s there.
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
  constexpr const char* k_tokens_per_second = "1";
#else
  constexpr const char* k_tokens_per_second = "5";
#endif
  SimProcess sim({"-m", fixture_path("gguf/tiny-llama-2L-f16.gguf"), "-c",
                  std::to_string(1024 * (k_streams + 1)), "-np", std::to_string(k_streams + 1),
                  "--sim-tokens-per-second", k_tokens_per_second});
  AskdProcess askd(chain_config({sim.port()}));
  std::vector<std::string> questions;
  questions.reserve(k_streams);
  for (int i = 0; i < k_streams; ++i) {
    questions.push_back("stream number " + std::to_string(i) + " [[sim: tokens=20]]");
  }
  const std::vector<std::string> expected = direct_answers(sim, questions);
  REQUIRE(sim.client().Post("/sim/reset")->status == 200);

  std::vector<Reply> replies(k_streams);
  std::latch go(k_streams + 1);      // every client starts at once, not as its thread is made
  std::vector<std::jthread> clients; // joined on the way out, even when a check throws
  clients.reserve(k_streams);
  for (int i = 0; i < k_streams; ++i) {
    clients.emplace_back([&, i] {
      go.arrive_and_wait();
      replies[i] = askd.chat(chat_body("m0", questions[i], true), {}, 60s);
    });
  }
  go.arrive_and_wait();
  const auto released = std::chrono::steady_clock::now();
  // Every stream under way at once, then ask something else.
  Json stats = stats_when(sim, "in_flight", k_streams); // stats_when waits 5 s at most
  for (int tries = 1; tries < 4 && stats["in_flight"] < k_streams; ++tries) {
    stats = stats_when(sim, "in_flight", k_streams);
  }
  CHECK(stats["in_flight"] == k_streams);
  const auto start = std::chrono::steady_clock::now();
  Reply plain = askd.chat(chat_body("m0", "a quick one [[sim: tokens=3 tps=0]]"));
  const auto latency = std::chrono::steady_clock::now() - start;
  const long long streams_left = sim.get_json("/sim/stats")["in_flight"];
  for (auto& t : clients) {
    t.join();
  }
  CHECK(plain.status == 200);
  CHECK(Json::parse(plain.body)["usage"]["completion_tokens"] == 3);
  using ms = std::chrono::duration<double, std::milli>;
  MESSAGE("all " << k_streams << " streams under way after " << ms(start - released).count()
                 << " ms; the plain request during the load answered in " << ms(latency).count()
                 << " ms, with " << streams_left << " streams still in flight");

  int complete = 0;
  for (int i = 0; i < k_streams; ++i) {
    auto events = sse_events(replies[i].body);
    const bool ok = replies[i].status == 200 && !events.empty() && events.back().is_done() &&
                    streamed_content(events) == expected[i];
    complete += ok;
    if (!ok && complete == i) { // the first bad one, in full
      CHECK_MESSAGE(ok, "stream " << i << ": status " << replies[i].status << ", body:\n"
                                  << replies[i].body);
    }
  }
  CHECK(complete == k_streams);

  // One valid JSON line per request (log_lines throws on a torn line), no more.
  auto lines = askd.wait_log_lines(k_streams + 1);
  CHECK(lines.size() == k_streams + 1);
  std::set<std::string> ids;
  int served = 0;
  int streamed = 0;
  for (const Json& line : lines) {
    served += line["status"] == 200 && line["served_by"] == "m0";
    streamed += line["stream"] == true;
    ids.insert(line["id"].get<std::string>());
  }
  CHECK(served == k_streams + 1);
  CHECK(streamed == k_streams);
  CHECK(ids.size() == lines.size());
  check_metrics_at_rest(askd, k_streams);
  stats = sim.get_json("/sim/stats");
  CHECK(stats["completed"] == k_streams + 1);
  CHECK(stats["in_flight"] == 0);
}

TEST_CASE("askd load: a model at max_concurrency with no queue answers 429 with Retry-After") {
  SimProcess sim(llama_args());
  AskdProcess askd(limited_config(sim.port(), 1, 0));
  RawRequest first(askd.port(), hanging_request(false));
  REQUIRE(stats_when(sim, "in_flight", 1)["in_flight"] == 1);

  Reply second = askd.chat(chat_body("m0", "me too"));
  CHECK(second.status == 429);
  CHECK(second.header("Retry-After") == "1");
  CHECK(second.header("X-Fallback-Path") == "m0");
  Json e = Json::parse(second.body)["error"];
  CHECK(e["type"] == "rate_limit_error");
  CHECK(e["code"] == "overloaded");
  CHECK(e["message"].get<std::string>().find("queue full") != std::string::npos);
  CHECK(e["attempts"][0]["reason"] == "queue_full");
  CHECK(sim.get_json("/sim/stats")["requests_total"] == 1); // the second never reached it

  first.hang_up();
  CHECK(stats_when(sim, "client_disconnects", 1)["client_disconnects"] == 1);
  // Lines are written as requests end, in any order: find each by its id.
  auto lines = askd.wait_log_lines(2);
  REQUIRE(lines.size() == 2);
  const bool second_first = lines[0]["id"] == second.header("X-Request-Id");
  const Json& second_line = lines[second_first ? 0 : 1];
  CHECK(second_line["id"] == second.header("X-Request-Id"));
  CHECK(second_line["status"] == 429);
  CHECK(second_line["attempts"][0]["reason"] == "queue_full");
  CHECK(lines[second_first ? 1 : 0]["status"] == 499);
  MetricSamples m = askd.metrics();
  CHECK(m.get(R"(askd_upstream_errors_total{backend="b0",model="m0",kind="queue_full"})") == 1);
  CHECK(m.get(R"(askd_requests_total{requested="m0",served="",status="429"})") == 1);
}

TEST_CASE("askd load: with max_queue 1 the second request waits, then is served") {
  SimProcess sim(llama_args());
  AskdProcess askd(limited_config(sim.port(), 1, 1));
  RawRequest first(askd.port(), hanging_request(true));
  REQUIRE(stats_when(sim, "in_flight", 1)["in_flight"] == 1);

  Reply second;
  std::jthread waiter([&] { second = askd.chat(chat_body("m0", "after you", true)); });
  MetricSamples m = askd.wait_metric(k_queued_m0, 1);
  CHECK(m.get(k_queued_m0) == 1);
  CHECK(sim.get_json("/sim/stats")["requests_total"] == 1); // still waiting in askd

  first.hang_up(); // the first ends: its slot goes to the second
  waiter.join();
  CHECK(second.status == 200);
  CHECK(second.header("X-Served-By") == "m0");
  CHECK(sse_events(second.body).back().is_done());
  Json stats = sim.get_json("/sim/stats");
  CHECK(stats["requests_total"] == 2);
  CHECK(stats["completed"] == 1);
  CHECK(sim.get_json("/sim/requests")["requests"][1]["json"]["messages"][0]["content"] ==
        "after you");
  CHECK(askd.wait_metric(k_queued_m0, 0).get(k_queued_m0) == 0);
  auto lines = askd.wait_log_lines(2);
  REQUIRE(lines.size() == 2);
  std::multiset<int> statuses{lines[0]["status"].get<int>(), lines[1]["status"].get<int>()};
  CHECK(statuses == std::multiset<int>{200, 499});
}

TEST_CASE("askd load: a model whose queue is full falls back to the next in its chain") {
  SimProcess sim(llama_args());
  Json cfg = Json::parse(chain_config({sim.port(), sim.port()}));
  cfg["models"]["m0"]["max_concurrency"] = 1;
  cfg["models"]["m0"]["max_queue"] = 0;
  AskdProcess askd(cfg.dump());
  RawRequest first(askd.port(), hanging_request(false));
  REQUIRE(stats_when(sim, "in_flight", 1)["in_flight"] == 1);

  for (bool stream : {false, true}) {
    CAPTURE(stream);
    Reply r = askd.chat(chat_body("m0", "anyone free?", stream));
    CHECK(r.status == 200);
    CHECK(r.header("X-Served-By") == "m1");
    CHECK(r.header("X-Fallback-Path") == "m0>m1");
  }
  auto lines = askd.wait_log_lines(2);
  REQUIRE(lines.size() == 2);
  for (const Json& line : lines) {
    CHECK(line["served_by"] == "m1");
    CHECK(line["attempts"][0]["reason"] == "queue_full");
  }
  CHECK(askd.metrics().get(R"(askd_fallbacks_total{from="m0",to="m1",reason="queue_full"})") == 2);
  first.hang_up();
  CHECK(stats_when(sim, "client_disconnects", 1)["client_disconnects"] == 1);
}

TEST_CASE("askd load: a client that leaves while queued or before the first byte cancels") {
  SimProcess sim(llama_args());
  AskdProcess askd(limited_config(sim.port(), 1, 1));
  auto first = std::make_unique<RawRequest>(askd.port(), hanging_request(true));
  REQUIRE(stats_when(sim, "in_flight", 1)["in_flight"] == 1);
  auto queued = std::make_unique<RawRequest>(askd.port(), hanging_request(false));
  CHECK(askd.wait_metric(k_queued_m0, 1).get(k_queued_m0) == 1);

  // Leaving the queue: askd notices, logs 499, and the backend never hears of it.
  queued->hang_up();
  CHECK(askd.wait_metric(k_queued_m0, 0).get(k_queued_m0) == 0);
  auto lines = askd.wait_log_lines(1);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0]["status"] == 499);
  CHECK(lines[0]["served_by"] == "");
  CHECK(sim.get_json("/sim/stats")["requests_total"] == 1);

  // Leaving while the backend has not answered yet (a stream): the backend's connection closes.
  first->hang_up();
  Json stats = stats_when(sim, "client_disconnects", 1);
  CHECK(stats["client_disconnects"] == 1);
  CHECK(stats["completed"] == 0);

  // The same for a whole (non-streamed) answer.
  RawRequest whole(askd.port(), hanging_request(false));
  REQUIRE(stats_when(sim, "requests_total", 2)["in_flight"] == 1);
  whole.hang_up();
  stats = stats_when(sim, "client_disconnects", 2);
  CHECK(stats["client_disconnects"] == 2);
  CHECK(stats["in_flight"] == 0);

  lines = askd.wait_log_lines(3);
  REQUIRE(lines.size() == 3);
  for (const Json& line : lines) {
    CHECK(line["status"] == 499);
  }
  MetricSamples m = askd.wait_metric(R"(askd_requests_in_flight{requested="m0"})", 0);
  CHECK(m.get(R"(askd_requests_in_flight{requested="m0"})") == 0);
  CHECK(m.get(R"(askd_upstream_in_flight{backend="b0",model="m0"})") == 0);
  CHECK(m.get(R"(askd_client_disconnects_total{model="m0"})") == 3);
  CHECK(m.get(k_queued_m0) == 0);
}
