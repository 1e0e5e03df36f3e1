// The council through the real askd: members in parallel through their own fallback chains,
// the chairman's prompt (every answer, anonymised, shuffled), chairman fallback, streaming,
// usage summed, and member failures. Members' answers are checked by replaying the exact
// request askd sent to the (deterministic) simulator.
#include <doctest/doctest.h>

#include <chrono>
#include <future>
#include <set>

#include "tests/integration/askd_harness.h"

using namespace ask::testing;

namespace {

// Sim A speaks Ollama (two models); sim B is a llama-server ("gemma").
std::string council_config(int a, int b) {
  auto url = [](int port) { return "http://127.0.0.1:" + std::to_string(port); };
  Json cfg = {
      {"backends",
       {{"a", {{"kind", "ollama"}, {"url", url(a)}, {"timeouts", {{"connect", "1s"}}}}},
        {"b", {{"kind", "openai"}, {"url", url(b)}, {"timeouts", {{"connect", "1s"}}}}}}},
      {"models",
       {{"member-a", {{"backend", "a"}, {"upstream", "qwen3.5:9b"}}},
        {"member-b", {{"backend", "b"}, {"upstream", "gemma"}, {"fallbacks", {"member-b2"}}}},
        {"member-b2", {{"backend", "a"}, {"upstream", "llama3.2:3b"}}},
        {"member-c", {{"backend", "b"}, {"upstream", "gemma"}}},
        {"chair", {{"backend", "a"}, {"upstream", "qwen3.5:9b"}}},
        {"chair-b", {{"backend", "b"}, {"upstream", "gemma"}, {"fallbacks", {"chair"}}}}}},
      {"councils",
       {{"council",
         {{"members", Json::array({{{"model", "member-a"}}, {{"model", "member-b"}}})},
          {"chairman", "chair"}}},
        {"twins",
         {{"members", Json::array({{{"model", "member-a"}}, {{"model", "member-a"}}})},
          {"chairman", "chair"}}},
        {"shrinking",
         {{"members", Json::array({{{"model", "member-a"}}, {{"model", "member-c"}}})},
          {"chairman", "chair-b"}}},
        {"reviewed",
         {{"members", Json::array({{{"model", "member-a"}}, {{"model", "member-b"}}})},
          {"chairman", "chair"},
          {"peer_review", true}}},
        {"doomed",
         {{"members", Json::array({{{"model", "member-c"}}, {{"model", "member-c"}}})},
          {"chairman", "chair"}}}}}};
  return cfg.dump(2);
}

struct Council {
  SimProcess a{{"--ollama", "--sim-tokens-per-second", "0", "--sim-models",
                "qwen3.5:9b,llama3.2:3b"}};
  std::unique_ptr<SimProcess> b = std::make_unique<SimProcess>(llama_args({"-a", "gemma"}));
  AskdProcess askd{council_config(a.port(), b->port())};
};

// Every request a simulator recorded, as {path, json}.
std::vector<Json> recorded(const SimProcess& sim) {
  Json requests = sim.get_json("/sim/requests")["requests"];
  return {requests.begin(), requests.end()};
}

bool is_chairman(const Json& request) {
  const Json& messages = request["json"]["messages"];
  return messages.back()["content"].get<std::string>().starts_with("You are the chairman");
}

// What the simulator answers `request` (recorded by it) when sent again: text and tokens.
std::pair<std::string, long long> replay(const SimProcess& sim, const Json& request) {
  Json body = request["json"];
  body["stream"] = false;
  Reply r = post(sim, request["path"], body);
  REQUIRE(r.status == 200);
  Json j = Json::parse(r.body);
  if (j.contains("message")) { // Ollama's /api/chat
    return {j["message"]["content"], j["prompt_eval_count"].get<long long>() +
                                         j["eval_count"].get<long long>()};
  }
  return {j["choices"][0]["message"]["content"], j["usage"]["total_tokens"].get<long long>()};
}

Json council_body(const std::string& model, const std::string& text, bool stream = false) {
  return chat_body(model, text, stream);
}

} // namespace

TEST_CASE("askd council: the chairman gets every member answer, anonymised - usage is summed") {
  Council c;
  Reply r = c.askd.chat(council_body("council", "Why is the sky blue?"));
  REQUIRE_MESSAGE(r.status == 200, r.body);
  CHECK(r.header("X-Served-By") == "chair");
  CHECK(r.header("X-Requested-Model") == "council");
  CHECK(r.header("X-Council-Members") == "member-a,member-b");

  std::vector<Json> on_a = recorded(c.a);
  std::vector<Json> on_b = recorded(*c.b);
  REQUIRE(on_a.size() == 2); // member-a and the chairman
  REQUIRE(on_b.size() == 1); // member-b
  const Json& chair = is_chairman(on_a[0]) ? on_a[0] : on_a[1];
  const Json& member_a = is_chairman(on_a[0]) ? on_a[1] : on_a[0];
  REQUIRE(is_chairman(chair));
  const std::string prompt = chair["json"]["messages"].back()["content"];
  auto [answer_a, tokens_a] = replay(c.a, member_a);
  auto [answer_b, tokens_b] = replay(*c.b, on_b[0]);
  CHECK(prompt.find("Why is the sky blue?") != std::string::npos);
  CHECK(prompt.find(answer_a) != std::string::npos);
  CHECK(prompt.find(answer_b) != std::string::npos);
  CHECK(prompt.find("Response A:\n") != std::string::npos);
  CHECK(prompt.find("Response B:\n") != std::string::npos);
  for (const char* name : {"member-a", "member-b", "qwen3.5", "gemma", "llama3.2"}) {
    CAPTURE(name);
    CHECK(prompt.find(name) == std::string::npos);
  }
  auto [chair_answer, tokens_chair] = replay(c.a, chair);
  Json reply = Json::parse(r.body);
  CHECK(reply["choices"][0]["message"]["content"] == chair_answer);
  CHECK(reply["usage"]["total_tokens"] == tokens_a + tokens_b + tokens_chair);
  Json line = c.askd.wait_log_lines(1).back();
  CHECK(line["council_members"] == "member-a,member-b");
  CHECK(line["served_by"] == "chair");
}

TEST_CASE("askd council: the labelled order is shuffled from request to request") {
  Council c;
  std::set<bool> a_first;
  for (int i = 0; i < 12 && a_first.size() < 2; ++i) {
    Reply r = c.askd.chat(council_body("council", "order " + std::to_string(i)));
    REQUIRE(r.status == 200);
    std::vector<Json> on_a = recorded(c.a);
    std::vector<Json> on_b = recorded(*c.b);
    const Json& chair = on_a.back();
    REQUIRE(is_chairman(chair));
    const std::string prompt = chair["json"]["messages"].back()["content"];
    const std::string answer_b = replay(*c.b, on_b.back()).first;
    const std::size_t b_at = prompt.find(answer_b);
    REQUIRE(b_at != std::string::npos);
    a_first.insert(prompt.find("Response A:\n" + answer_b) == std::string::npos);
  }
  CHECK(a_first.size() == 2); // member-b was "Response A" sometimes, "Response B" other times
}

TEST_CASE("askd council: members run at the same time") {
  Council c;
  auto started = std::chrono::steady_clock::now();
  auto reply = std::async(std::launch::async, [&] {
    return c.askd.chat(council_body("twins", "[[sim: ttft=1s]] slowly"), {}, 20s);
  });
  // Both members of "twins" are on sim A: it sees two requests in flight at once.
  Json stats = c.a.get_json("/sim/stats?until=in_flight&at_least=2&timeout_ms=5000");
  CHECK(stats["in_flight"].get<int>() >= 2);
  Reply r = reply.get();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  REQUIRE(r.status == 200);
  // Members 1 s each at once, then the chairman 1 s: about 2 s; one after the other, 3 s.
  CHECK(seconds < 2.8);
}

TEST_CASE("askd council: a demoted member, a failed member, all failed, chairman fallback") {
  Council c;
  c.b.reset(); // sim B down: member-b falls back to member-b2; member-c and chair-b fail

  Reply demoted = c.askd.chat(council_body("council", "q"));
  REQUIRE(demoted.status == 200);
  CHECK(demoted.header("X-Council-Members") == "member-a,member-b2");

  Reply shrunk = c.askd.chat(council_body("shrinking", "q"));
  REQUIRE_MESSAGE(shrunk.status == 200, shrunk.body);
  CHECK(shrunk.header("X-Council-Members") == "member-a,-");
  CHECK(shrunk.header("X-Served-By") == "chair"); // chair-b failed: its own chain
  CHECK(shrunk.header("X-Fallback-Path") == "chair-b>chair");
  const std::string prompt = recorded(c.a).back()["json"]["messages"].back()["content"];
  CHECK(prompt.find("Response A:\n") != std::string::npos);
  CHECK(prompt.find("Response B:\n") == std::string::npos);
  Json line = c.askd.wait_log_lines(2).back();
  CHECK(line["council_members"] == "member-a,-");
  REQUIRE(line["member_errors"].size() == 1);
  CHECK(line["member_errors"][0].get<std::string>().starts_with("member-c: "));

  Reply doomed = c.askd.chat(council_body("doomed", "q"));
  CHECK(doomed.status == 502);
  Json err = Json::parse(doomed.body)["error"];
  CHECK(err["code"] == "council_failed");
  CHECK(err["message"].get<std::string>().find("every member failed") != std::string::npos);
  CHECK(err["message"].get<std::string>().find("member-c (") != std::string::npos);
}

TEST_CASE("askd council: the chairman's answer streams") {
  Council c;
  Reply r = c.askd.chat(council_body("council", "stream it", true));
  REQUIRE(r.status == 200);
  CHECK(r.header("Content-Type") == "text/event-stream");
  CHECK(r.header("X-Served-By") == "chair");
  CHECK(r.header("X-Council-Members") == "member-a,member-b");
  auto events = sse_events(r.body);
  REQUIRE(!events.empty());
  CHECK(events.back().is_done());
  const std::string chair_answer = replay(c.a, recorded(c.a).back()).first;
  CHECK(streamed_content(events) == chair_answer);
}

TEST_CASE("askd council: with peer review each member also ranks the anonymised answers") {
  Council c;
  Reply r = c.askd.chat(council_body("reviewed", "rank these"));
  REQUIRE_MESSAGE(r.status == 200, r.body);
  std::vector<Json> on_a = recorded(c.a);
  std::vector<Json> on_b = recorded(*c.b);
  CHECK(on_a.size() + on_b.size() == 5); // two answers, two ballots, the chairman
  int ballots = 0;
  for (const auto* list : {&on_a, &on_b}) {
    for (const Json& req : *list) {
      const std::string text = req["json"]["messages"].back()["content"];
      if (text.find("FINAL RANKING:") != std::string::npos) {
        ++ballots;
        CHECK(text.find("Response A:\n") != std::string::npos);
        CHECK(text.find("member-") == std::string::npos);
      }
    }
  }
  CHECK(ballots == 2);
  // The simulator's ballots name no response, so there is no ranking to pass on; the
  // chairman still answers.
  CHECK(is_chairman(on_a.back()));
}
