// The real ask binary's command line against a real askd and llm-sim backends, beyond
// ask_client_test.cpp: --url, -v and -q, interruptions and broken streams after part of the
// answer was printed, askd's 429, every backend down, usage errors that must send nothing,
// a config without a default tier, invalid UTF-8, --help and --version.
#include <doctest/doctest.h>

#include <csignal>

#include "tests/integration/ask_harness.h"

using namespace ask::testing;
using namespace std::chrono_literals;

namespace {

std::string askd_url(AskWorld& world) {
  return "http://127.0.0.1:" + std::to_string(world.askd().port());
}

} // namespace

TEST_CASE("ask: --url wins over $ASK_URL - a /v1 suffix is accepted - a bad URL is usage") {
  AskWorld world;
  AskUser user(world.config(), closed_port()); // $ASK_URL points at nothing
  CHECK(user.run({"--9b", "through $ASK_URL"}).code == 3);

  AskResult flag = user.run({"--url", askd_url(world), "--9b", "through --url"});
  REQUIRE_MESSAGE(flag.code == 0, flag.err);
  CHECK(user.last_line()["request_id"].is_string()); // askd answered
  AskResult v1 = user.run({"--url", askd_url(world) + "/v1/", "--tiny", "with /v1/"});
  CHECK_MESSAGE(v1.code == 0, v1.err);
  CHECK(last_user_text(world.llama()) == "with /v1/");

  AskResult models = user.run({"models", "--url", askd_url(world)});
  CHECK_MESSAGE(models.code == 0, models.err);
  CHECK(contains(models.out, "fast-9b"));

  AskResult bad = user.run({"--url", "ftp://127.0.0.1:1", "--9b", "q"});
  CHECK(bad.code == 2);
  CHECK(contains(bad.err, "ftp://127.0.0.1:1"));
  CHECK(bad.out.empty());
}

TEST_CASE("ask -v says who answered on stderr - -q still says it was degraded") {
  AskWorld world;
  AskUser user(world.config(), world.askd().port());
  AskResult plain = user.run({"--tiny", "--no-cache", "the same words"});
  AskResult verbose = user.run({"--tiny", "--no-cache", "-v", "the same words"});
  REQUIRE_MESSAGE(plain.code == 0, plain.err);
  REQUIRE_MESSAGE(verbose.code == 0, verbose.err);
  CHECK(verbose.out == plain.out); // stdout is the answer, -v or not
  const auto notes = lines_of(verbose.err);
  REQUIRE(notes.size() == 2);
  CHECK(notes[0].starts_with("[fast-1b: answered, ")); // each attempt with its time
  CHECK(notes[1].starts_with("[fast-1b via askd, "));
  CHECK(contains(notes[1], "first text after"));
  CHECK(contains(notes[1], "request " + user.last_line()["request_id"].get<std::string>()));

  REQUIRE(user.run({"--tiny", "cached words"}).code == 0);
  AskResult hit = user.run({"--tiny", "-v", "cached words"});
  REQUIRE(hit.code == 0);
  REQUIRE(lines_of(hit.err).size() == 1);
  CHECK(hit.err.starts_with("[cached: fast-1b, "));

  world.stop_ollama();
  AskResult quiet = user.run({"--9b", "-q", "demoted quietly"});
  REQUIRE_MESSAGE(quiet.code == 0, quiet.err);
  CHECK(lines_of(quiet.err) ==
        std::vector<std::string>{"[degraded: fast-9b → fast-1b (backend down)]"});
  CHECK_FALSE(contains(quiet.out, "["));

  AskResult loud = user.run({"--9b", "-v", "demoted loudly"});
  REQUIRE(loud.code == 0);
  auto loud_notes = lines_of(loud.err);
  // askd's waits get a line when one reached a millisecond, which a loaded machine (or a
  // sanitizer build) can take even for a model that is up and idle: it comes before the
  // summary.
  if (loud_notes.size() == 6 && loud_notes[4].starts_with("[waited ")) {
    CHECK(contains(loud_notes[4], " in askd's queue, "));
    loud_notes.erase(loud_notes.begin() + 4);
  }
  REQUIRE_MESSAGE(loud_notes.size() == 5, loud.err);
  CHECK(loud_notes[0] == "[degraded: fast-9b → fast-1b (backend down)]");
  // Every attempt, why it failed and how long it took, then the summary.
  CHECK(loud_notes[1].starts_with("[fast-9b: backend down, "));
  CHECK(loud_notes[2].starts_with("[fast-3b: backend down, "));
  CHECK(loud_notes[3].starts_with("[fast-1b: answered, "));
  CHECK(contains(loud_notes[4], "path fast-9b>fast-3b>fast-1b"));
  const Json attempts = user.last_line()["attempts"];
  REQUIRE(attempts.size() == 3);
  CHECK(attempts[0]["model"] == "fast-9b");
  CHECK(attempts[0]["reason"] == "connect");
  CHECK(attempts[0]["s"].is_number());
  CHECK(attempts[2]["model"] == "fast-1b");
  CHECK(attempts[2]["reason"].is_null());
}

TEST_CASE("ask: SIGINT mid-answer keeps the text printed, exits 130, and the backend is let go") {
  AskWorld world;
  AskUser user(world.config(), world.askd().port());
  // One token, "\n", then silence with the connection open (--stream: printed as it comes).
  auto child =
      user.start({"--tiny", "--stream", "[[sim: repeat=\"\n\" hang_after=1]] then silence"});
  REQUIRE_MESSAGE(child->wait_for_output("^$", 10s), child->output()); // it has arrived
  child->signal(SIGINT);
  AskResult r = finish(*child, 10s);
  CHECK(r.code == 130);
  CHECK(r.out == "\n");
  CHECK(r.err.empty());
  CHECK(stats_when(world.llama(), "client_disconnects", 1)["client_disconnects"] == 1);
  Json line = user.last_line();
  CHECK(line["exit_code"] == 130);
  CHECK(line["error_kind"] == "interrupted");
  CHECK(line["served_by"] == "fast-1b");
  CHECK(line["response_chars"] == 1);
  CHECK(line["request_id"].is_string());
  CHECK(cache_counts(user).entries == 0); // a broken-off answer is not kept
}

TEST_CASE("ask: SIGTERM while waiting is an interruption too (130)") {
  AskWorld world;
  AskUser user(world.config(), world.askd().port());
  auto child = user.start({"--tiny", "[[sim: hang]] never answered"});
  REQUIRE(stats_when(world.llama(), "in_flight", 1)["in_flight"] == 1);
  child->signal(SIGTERM);
  AskResult r = finish(*child, 10s);
  CHECK(r.code == 130);
  CHECK(r.out.empty());
  CHECK(stats_when(world.llama(), "client_disconnects", 1)["client_disconnects"] == 1);
  CHECK(user.last_line()["error_kind"] == "interrupted");
}

TEST_CASE("ask: an answer broken off mid-stream is exit 1 and, off a terminal, prints nothing") {
  AskWorld world;
  AskUser user(world.config(), world.askd().port());
  AskResult r = user.run({"--tiny", "[[sim: drop_after=3]] break off"});
  CHECK(r.code == 1);
  CHECK(r.out.empty()); // `ask … >> digest.md` appends nothing half-written
  REQUIRE(lines_of(r.err).size() == 1);
  CHECK(contains(r.err, "mid-stream"));
  CHECK(contains(r.err, "nothing was printed"));
  Json line = user.last_line();
  CHECK(line["exit_code"] == 1);
  CHECK(line["error_kind"] == "other");
  CHECK(line["response_chars"].get<int>() > 3); // what had come before the break
  CHECK(line["ttft_s"].is_number());
  CHECK(cache_counts(user).entries == 0);

  // --stream prints as it comes: the text so far stays, then a line says it is incomplete.
  AskResult streamed = user.run({"--tiny", "--stream", "[[sim: drop_after=3]] break off"});
  CHECK(streamed.code == 1);
  REQUIRE(lines_of(streamed.out).size() == 1); // three words, then the newline ask adds
  CHECK(streamed.out.back() == '\n');
  CHECK(streamed.out.size() > 3);
  const auto notes = lines_of(streamed.err);
  REQUIRE(notes.size() == 2);
  CHECK(notes[0].starts_with("[the answer is incomplete: it broke off after "));
  CHECK(contains(notes[1], "mid-stream"));
  CHECK(user.last_line()["response_chars"] == streamed.out.size() - 1); // ASCII
  CHECK(cache_counts(user).entries == 0);
}

TEST_CASE("ask: --timeout passing mid-answer is exit 5 and prints nothing off a terminal") {
  AskWorld world;
  AskUser user(world.config(), world.askd().port());
  AskResult r = user.run({"--tiny", "--timeout", "500ms", "[[sim: hang_after=3]] stall"});
  CHECK(r.code == 5);
  CHECK(r.out.empty());
  CHECK(contains(r.err, "timed out"));
  CHECK(contains(r.err, "nothing was printed"));
  Json line = user.last_line();
  CHECK(line["error_kind"] == "timeout");
  CHECK(line["latency_s"].get<double>() >= 0.5);
  CHECK(line["latency_s"].get<double>() < 5.0);
  CHECK(stats_when(world.llama(), "client_disconnects", 1)["client_disconnects"] == 1);
  CHECK(cache_counts(user).entries == 0);
}

TEST_CASE("ask: askd's 429 (the model's queue is full) is exit 4") {
  AskWorld world(
      Json{{"models", models_with({{"fast-1b", {{"max_concurrency", 1}, {"max_queue", 0}}}})}});
  AskUser user(world.config(), world.askd().port());
  auto holder = user.start({"--tiny", "[[sim: hang]] holds the only slot"});
  REQUIRE(stats_when(world.llama(), "in_flight", 1)["in_flight"] == 1);
  const std::size_t sent = world.llama_requests();
  AskResult r = user.run({"--tiny", "one too many"});
  CHECK(r.code == 4);
  CHECK(contains(r.err, "fast-1b"));
  CHECK(r.out.empty());
  CHECK(user.last_line()["error_kind"] == "all_failed");
  CHECK(world.llama_requests() == sent); // refused by askd, never sent on
  holder->signal(SIGINT);
  CHECK(finish(*holder, 10s).code == 130);
}

TEST_CASE("ask: every backend down is exit 4, each model of the chain named") {
  AskWorld world;
  AskUser user(world.config(), world.askd().port());
  world.stop_ollama();
  world.llama().process().terminate();
  AskResult r = user.run({"--9b", "is anyone there?"});
  CHECK(r.code == 4);
  CHECK(r.out.empty());
  for (const char* model : {"fast-9b", "fast-3b", "fast-1b"}) {
    CHECK(contains(r.err, model));
  }
  Json line = user.last_line();
  CHECK(line["error_kind"] == "all_failed");
  CHECK(line["served_by"] == "");
  CHECK(line["fallback_path"] == "fast-9b>fast-3b>fast-1b");
  CHECK(line["request_id"].is_string());
}

TEST_CASE("ask: usage errors are exit 2 and send nothing") {
  AskWorld world;
  AskUser user(world.config(), world.askd().port());
  const std::size_t llama_before = world.llama_requests();
  const std::size_t ollama_before = world.ollama_requests();
  const std::vector<std::vector<std::string>> calls = {
      {"--no-cache", "--refresh", "q"},
      {"--temperature", "3", "q"},
      {"--max-tokens", "0", "q"},
      {"--timeout", "0", "q"},
      {"--9b", "-m", "fast", "q"},
      {"--url", "127.0.0.1 11436", "q"},
      {"-m"},
      {"--json"},
      {"   "},
      {"cache"},
      {"cache", "stats", "--all"},
      {"stats", "--until", "soon"},
  };
  for (const auto& args : calls) {
    CAPTURE(args);
    AskResult r = user.run(args);
    CHECK(r.code == 2);
    CHECK(r.out.empty());
    CHECK(r.err.starts_with("ask: "));
  }
  AskResult big = user.run({"--9b", "summarise:"}, std::string(17 * 1024 * 1024, 'a'));
  CHECK(big.code == 2);
  CHECK(contains(big.err, "16 MiB"));
  CHECK(user.last_line()["error_kind"] == "usage");
  CHECK(world.llama_requests() == llama_before);
  CHECK(world.ollama_requests() == ollama_before);
  CHECK(world.askd().log_lines().empty()); // askd logs every request it proxies
}

TEST_CASE("ask: without default_tier the 9b tier is the default - with no such tier, usage") {
  AskWorld world;
  Json config = world.config();
  config.erase("default_tier");
  AskUser implied(config, world.askd().port());
  REQUIRE(implied.run({"which model?"}).code == 0);
  CHECK(implied.last_line()["tier"] == "9b");

  config["tiers"] = {{"nine", "fast-9b"}, {"tiny", "fast-1b"}};
  AskUser user(config, world.askd().port());
  // askd writes a request's line after its response: wait for the one request so far.
  const std::size_t proxied = world.askd().wait_log_lines(1).size();
  REQUIRE(proxied == 1);
  const std::size_t backend_before = world.llama_requests() + world.ollama_requests();
  AskResult none = user.run({"which model?"});
  CHECK(none.code == 2);
  CHECK(contains(none.err, "default_tier"));
  CHECK(world.llama_requests() + world.ollama_requests() == backend_before);
  CHECK(world.askd().log_lines().size() == proxied);
  CHECK(user.run({"--nine", "which model?"}).code == 0); // a tier of the user's own naming
  CHECK(last_request(world.ollama())["model"] == "qwen3.5:9b");
  CHECK(user.run({"-m", "fast-1b", "which model?"}).code == 0);
  CHECK(user.last_line()["served_by"] == "fast-1b");
}

TEST_CASE("ask: invalid UTF-8 in the prompt reaches the backend as U+FFFD") {
  AskWorld world;
  AskUser user(world.config(), world.askd().port());
  // Piped text with a stray Latin-1 byte (within the tolerance for text; docs/attachments.md).
  AskResult r = user.run({"--tiny", "caf\xC3\xA9 \xFF\xFE end"},
                         std::string("piped text, caf\xE9 au lait\n"));
  REQUIRE_MESSAGE(r.code == 0, r.err);
  const std::string fffd = "\xEF\xBF\xBD";
  CHECK(last_user_text(world.llama()) ==
        "caf\xC3\xA9 " + fffd + fffd + " end\n\npiped text, caf" + fffd + " au lait");
  Json line = user.last_line();      // parses: the log stays valid UTF-8
  CHECK(line["prompt_chars"] == 37); // code points, each U+FFFD one
}

TEST_CASE("ask --help and --version print on stdout and exit 0 - the help lists the tiers") {
  AskWorld world;
  AskUser user(world.config(), world.askd().port());
  AskResult help = user.run({"--help"});
  CHECK(help.code == 0);
  CHECK(help.err.empty());
  for (const char* tier : {"--9b", "--think", "--council", "--tiny"}) {
    CHECK(contains(help.out, tier));
  }
  CHECK(contains(help.out, "(the default)"));
  CHECK(contains(help.out, "130"));
  AskResult version = user.run({"--version"});
  CHECK(version.code == 0);
  CHECK(version.out.starts_with("ask "));
  CHECK(lines_of(version.out).size() == 1);
  CHECK(user.log_text_lines().empty()); // neither is a call
}
