#include "council/council.h"

#include <doctest/doctest.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>

using ask::core::Json;
namespace council = ask::council;

namespace {

// Answers each model with a canned text (or fails it), records every request, and can hold
// every call until `rendezvous` calls are in flight at once: proof that they run in parallel.
class FakeCompleter final : public ask::core::Completer {
public:
  std::map<std::string, std::string> answers;         // model -> content
  std::map<std::string, std::string> served_by;       // model -> who "served" (demotion)
  std::set<std::string> failing;                      // models whose chain fails
  std::size_t rendezvous = 0;

  ask::core::Result<ask::core::Completion> complete(const Json& request) override {
    const std::string model = request["model"];
    {
      std::unique_lock lock(m_mutex);
      m_requests.push_back(request);
      ++m_in_flight;
      m_max_in_flight = std::max(m_max_in_flight, m_in_flight);
      m_changed.notify_all();
      if (rendezvous > 0) {
        m_changed.wait_for(lock, std::chrono::seconds(10),
                           [&] { return m_max_in_flight >= rendezvous; });
      }
      --m_in_flight;
    }
    if (failing.contains(model)) {
      return ask::core::fail(ask::core::Error::connect(model + ": connection refused"));
    }
    ask::core::Completion c;
    c.served_by = served_by.contains(model) ? served_by[model] : model;
    ask::core::Choice choice;
    choice.message.role = "assistant";
    choice.message.content = answers[model];
    choice.message.reasoning_content = "secret reasoning of " + model;
    c.response.choices.push_back(choice);
    c.response.usage = ask::core::Usage{10, 5, 15, Json::object()};
    return c;
  }

  std::vector<Json> requests() {
    std::lock_guard lock(m_mutex);
    return m_requests;
  }
  std::size_t max_in_flight() {
    std::lock_guard lock(m_mutex);
    return m_max_in_flight;
  }

private:
  std::mutex m_mutex;
  std::condition_variable m_changed;
  std::vector<Json> m_requests;
  std::size_t m_in_flight = 0;
  std::size_t m_max_in_flight = 0;
};

ask::config::Council make_council(const std::vector<std::string>& members) {
  ask::config::Council c;
  c.name = "council";
  c.chairman = "think-9b";
  for (const std::string& m : members) {
    c.members.push_back({m, 0.7, ""});
  }
  return c;
}

ask::core::ChatRequest question(const std::string& text, bool stream = false) {
  Json body = {{"model", "council"},
               {"stream", stream},
               {"messages", Json::array({{{"role", "system"}, {"content", "be brief"}},
                                         {{"role", "user"}, {"content", text}}})}};
  auto parsed = ask::core::parse_chat_request(body);
  REQUIRE(parsed.has_value());
  return *parsed;
}

std::string chairman_prompt(const council::Deliberation& d) {
  const Json& messages = d.chairman_request["messages"];
  return messages.back()["content"];
}

} // namespace

TEST_CASE("council: members run in parallel - the chairman sees every answer and no model name") {
  FakeCompleter fake;
  fake.answers = {{"fast-9b", "Paris is the capital."}, {"llama-3b", "It is Paris, France."}};
  fake.rendezvous = 2; // each member waits until both are in flight
  std::mt19937_64 rng(7);
  auto d = council::deliberate(make_council({"fast-9b", "llama-3b"}), question("Capital of France?"),
                               fake, rng);
  REQUIRE(d.has_value());
  CHECK(fake.max_in_flight() == 2);
  const std::string prompt = chairman_prompt(*d);
  CHECK(prompt.find("Paris is the capital.") != std::string::npos);
  CHECK(prompt.find("It is Paris, France.") != std::string::npos);
  CHECK(prompt.find("Response A:") != std::string::npos);
  CHECK(prompt.find("Response B:") != std::string::npos);
  CHECK(prompt.find("Capital of France?") != std::string::npos);
  CHECK(prompt.find("fast-9b") == std::string::npos);
  CHECK(prompt.find("llama-3b") == std::string::npos);
  CHECK(prompt.find("secret reasoning") == std::string::npos); // reasoning stays out
  CHECK(d->chairman_request["model"] == "think-9b");
  CHECK(d->chairman_request["messages"][0] == Json{{"role", "system"}, {"content", "be brief"}});
  CHECK(d->usage.total_tokens == 30);
  CHECK(d->served_list() == "fast-9b,llama-3b");
  // The members got the question through the member template, at their temperature.
  for (const Json& r : fake.requests()) {
    CHECK(r["messages"].back()["content"] == "Capital of France?");
    CHECK(r["temperature"] == 0.7);
    CHECK(r["stream"] == false);
  }
}

TEST_CASE("council: the labelled order varies from request to request") {
  FakeCompleter fake;
  fake.answers = {{"a", "answer from a"}, {"b", "answer from b"}, {"c", "answer from c"}};
  std::mt19937_64 rng(1);
  std::set<std::string> first_labelled;
  for (int i = 0; i < 30; ++i) {
    auto d = council::deliberate(make_council({"a", "b", "c"}), question("q"), fake, rng);
    REQUIRE(d.has_value());
    const std::string prompt = chairman_prompt(*d);
    const std::size_t at = prompt.find("Response A:\n");
    REQUIRE(at != std::string::npos);
    first_labelled.insert(prompt.substr(at + 12, 13));
  }
  CHECK(first_labelled.size() == 3); // each member was "Response A" at some point
}

TEST_CASE("council: a failed member leaves a council of the rest - all failing is a 502") {
  FakeCompleter fake;
  fake.answers = {{"a", "answer a"}, {"b", "answer b"}};
  fake.failing = {"b"};
  std::mt19937_64 rng(3);
  auto d = council::deliberate(make_council({"a", "b"}), question("q"), fake, rng);
  REQUIRE(d.has_value());
  CHECK(d->answered() == 1);
  CHECK(d->served_list() == "a,-");
  REQUIRE(d->members[1].error.has_value());
  CHECK(chairman_prompt(*d).find("Response B:") == std::string::npos);

  fake.failing = {"a", "b"};
  auto none = council::deliberate(make_council({"a", "b"}), question("q"), fake, rng);
  REQUIRE_FALSE(none.has_value());
  CHECK(none.error().http_status == 502);
  CHECK(none.error().message.find("a (a: connection refused)") != std::string::npos);
  CHECK(none.error().message.find("b (b: connection refused)") != std::string::npos);
}

TEST_CASE("council: a demoted member is recorded with who served it") {
  FakeCompleter fake;
  fake.answers = {{"fast-9b", "x"}};
  fake.served_by = {{"fast-9b", "fast-3b"}};
  std::mt19937_64 rng(3);
  auto council_config = make_council({"fast-9b", "fast-9b"});
  auto d = council::deliberate(council_config, question("q"), fake, rng);
  REQUIRE(d.has_value());
  CHECK(d->served_list() == "fast-3b,fast-3b");
}

TEST_CASE("council: peer review ranks the anonymised answers for the chairman") {
  FakeCompleter fake;
  // Both members rank "Response B" first whatever the shuffle did.
  fake.answers = {{"a", "An answer.\nFINAL RANKING:\n1. Response B\n2. Response A"},
                  {"b", "Another.\nFINAL RANKING:\n1. Response B\n2. Response A"}};
  auto c = make_council({"a", "b"});
  c.peer_review = true;
  std::mt19937_64 rng(5);
  auto d = council::deliberate(c, question("q"), fake, rng);
  REQUIRE(d.has_value());
  CHECK(fake.requests().size() == 4); // two answers, two ballots
  CHECK(d->rankings.find("Peer review (2 ballots)") != std::string::npos);
  CHECK(d->rankings.find("1. Response B (average position 1)") != std::string::npos);
  CHECK(chairman_prompt(*d).find(d->rankings) != std::string::npos);
  CHECK(d->usage.total_tokens == 60);
}

TEST_CASE("council: a streamed request streams the chairman - no user message is a 400") {
  FakeCompleter fake;
  fake.answers = {{"a", "x"}};
  std::mt19937_64 rng(5);
  auto d = council::deliberate(make_council({"a"}), question("q", true), fake, rng);
  REQUIRE(d.has_value());
  CHECK(d->chairman_request["stream"] == true);

  auto only_system = ask::core::parse_chat_request(
      Json{{"model", "council"}, {"messages", {{{"role", "system"}, {"content", "s"}}}}});
  REQUIRE(only_system.has_value());
  auto bad = council::deliberate(make_council({"a"}), *only_system, fake, rng);
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().kind == ask::core::ErrorKind::bad_request);
}

TEST_CASE("council: response labels go A..Z, then AA") {
  CHECK(council::response_label(0) == "Response A");
  CHECK(council::response_label(25) == "Response Z");
  CHECK(council::response_label(26) == "Response AA");
  CHECK(council::response_label(27) == "Response AB");
}
