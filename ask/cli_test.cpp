#include "ask/cli.h"

#include <doctest/doctest.h>

#include "config/config.h"

namespace {

using ask::cli::Command;
using ask::cli::parse_command_line;

ask::config::Config test_config() {
  auto loaded = ask::config::parse_config(
      R"({"backends":{"o":{"kind":"ollama","url":"http://127.0.0.1:1"}},
          "models":{"fast-9b":{"backend":"o"},"think-9b":{"backend":"o"},
                    "mini":{"backend":"o"}},
          "tiers":{"9b":"fast-9b","think":"think-9b","tiny-model":"mini"},
          "default_tier":"9b"})",
      "test", [](const std::string&) { return std::optional<std::string>(); });
  REQUIRE(loaded.has_value());
  return loaded->config;
}

struct Argv {
  explicit Argv(std::vector<std::string> a) : args(std::move(a)) {
    args.insert(args.begin(), "ask");
    for (auto& s : args) {
      ptrs.push_back(s.c_str());
    }
  }
  int argc() const { return static_cast<int>(ptrs.size()); }
  const char* const* argv() const { return ptrs.data(); }
  std::vector<std::string> args;
  std::vector<const char*> ptrs;
};

auto parse(std::vector<std::string> args) {
  static const ask::config::Config config = test_config();
  Argv a(std::move(args));
  return parse_command_line(a.argc(), a.argv(), config);
}

} // namespace

TEST_CASE("ask cli: a tier flag from the config selects the tier - words form the prompt") {
  auto inv = parse({"--think", "why", "is", "the", "sky", "blue?"});
  REQUIRE(inv.has_value());
  CHECK(inv->command == Command::ask);
  CHECK(inv->ask.tier == "think");
  CHECK(inv->ask.words == std::vector<std::string>{"why", "is", "the", "sky", "blue?"});
  auto user_tier = parse({"--tiny-model", "hi"});
  REQUIRE(user_tier.has_value());
  CHECK(user_tier->ask.tier == "tiny-model");
}

TEST_CASE("ask cli: no tier leaves the choice to the default - -m takes any name") {
  auto plain = parse({"hello"});
  REQUIRE(plain.has_value());
  CHECK_FALSE(plain->ask.tier.has_value());
  auto m = parse({"-m", "coder", "hello"});
  REQUIRE(m.has_value());
  CHECK(m->ask.model == "coder");
}

TEST_CASE("ask cli: options are parsed with their values") {
  auto inv = parse({"--9b", "-s", "be brief", "--temperature", "0.2", "--max-tokens", "64",
                    "--json", "--timeout", "90s", "--url", "http://127.0.0.1:9", "--api-key", "k",
                    "--refresh", "--show-thinking", "-v", "-q", "question"});
  REQUIRE(inv.has_value());
  const auto& o = inv->ask;
  CHECK(o.system == "be brief");
  CHECK(o.temperature == doctest::Approx(0.2));
  CHECK(o.max_tokens == 64);
  CHECK(o.json);
  REQUIRE(o.timeout.has_value());
  CHECK(o.timeout->value() == std::chrono::seconds(90));
  CHECK(o.url == "http://127.0.0.1:9");
  CHECK(o.api_key == "k");
  CHECK(o.refresh);
  CHECK(o.show_thinking);
  CHECK(o.verbose);
  CHECK(o.quiet);
}

TEST_CASE("ask cli: contradictions and bad values are usage errors that say why") {
  auto two_tiers = parse({"--9b", "--think", "x"});
  REQUIRE_FALSE(two_tiers.has_value());
  CHECK(two_tiers.error().message.find("choose one tier") != std::string::npos);
  auto tier_and_model = parse({"--9b", "-m", "mini", "x"});
  REQUIRE_FALSE(tier_and_model.has_value());
  CHECK(tier_and_model.error().message.find("--model") != std::string::npos);
  CHECK_FALSE(parse({"--no-cache", "--refresh", "x"}).has_value());
  CHECK_FALSE(parse({"--temperature", "3", "x"}).has_value());
  CHECK_FALSE(parse({"--max-tokens", "0", "x"}).has_value());
  CHECK_FALSE(parse({"--max-tokens", "many", "x"}).has_value());
  auto timeout = parse({"--timeout", "soon", "x"});
  REQUIRE_FALSE(timeout.has_value());
  CHECK(timeout.error().message.find("--timeout") != std::string::npos);
  CHECK_FALSE(parse({"--timeout", "0", "x"}).has_value());
  auto unknown = parse({"--8b", "x"});
  REQUIRE_FALSE(unknown.has_value());
  CHECK(unknown.error().message.find("--8b") != std::string::npos);
}

TEST_CASE("ask cli: help lists the config's tiers and the exit codes") {
  auto inv = parse({"--help"});
  REQUIRE(inv.has_value());
  CHECK(inv->command == Command::help);
  CHECK(inv->text.find("--tiny-model") != std::string::npos);
  CHECK(inv->text.find("Ask fast-9b (the default)") != std::string::npos);
  CHECK(inv->text.find("Exit codes") != std::string::npos);
  CHECK(inv->text.find("askd is unreachable") != std::string::npos);
}

TEST_CASE("ask cli: subcommands only as the first argument") {
  auto stats = parse({"stats", "--since", "7d", "--json"});
  REQUIRE(stats.has_value());
  CHECK(stats->command == Command::stats);
  CHECK(stats->stats.since == "7d");
  CHECK(stats->stats.json);
  auto words = parse({"--9b", "models", "of", "cars", "stats"});
  REQUIRE(words.has_value());
  CHECK(words->command == Command::ask);
  CHECK(words->ask.words.size() == 4);
  CHECK(parse({"cache", "stats"})->command == Command::cache_stats);
  CHECK(parse({"cache", "prune"})->command == Command::cache_prune);
  CHECK(parse({"cache", "clear"})->command == Command::cache_clear);
  CHECK_FALSE(parse({"cache"}).has_value());
  CHECK_FALSE(parse({"cache", "drop"}).has_value());
  CHECK(parse({"models", "--json"})->models.json);
  CHECK_FALSE(parse({"stats", "--bogus"}).has_value());
}

TEST_CASE("ask cli: -- ends the options, so a prompt may start with a dash") {
  auto inv = parse({"--9b", "--", "--verbose", "is", "a", "flag"});
  REQUIRE(inv.has_value());
  CHECK_FALSE(inv->ask.verbose);
  CHECK(inv->ask.words.front() == "--verbose");
}

TEST_CASE("ask cli: find_config_arg finds --config before a --") {
  Argv a({"--9b", "--config", "/x/c.jsonc", "q"});
  CHECK(ask::cli::find_config_arg(a.argc(), a.argv()) == "/x/c.jsonc");
  Argv eq({"--config=/y.jsonc", "q"});
  CHECK(ask::cli::find_config_arg(eq.argc(), eq.argv()) == "/y.jsonc");
  Argv after({"--", "--config", "/z"});
  CHECK_FALSE(ask::cli::find_config_arg(after.argc(), after.argv()).has_value());
  Argv none({"q"});
  CHECK_FALSE(ask::cli::find_config_arg(none.argc(), none.argv()).has_value());
}

TEST_CASE("ask cli: a command is recognised after the global options") {
  for (const auto& args :
       std::vector<std::vector<std::string>>{{"-q", "stats"},
                                             {"--config", "x.jsonc", "stats"},
                                             {"--config=x.jsonc", "-v", "stats"}}) {
    CAPTURE(args[0]);
    auto inv = parse(args);
    REQUIRE(inv.has_value());
    CHECK(inv->command == Command::stats);
  }
  auto quiet = parse({"-q", "stats"});
  REQUIRE(quiet.has_value());
  CHECK(quiet->ask.quiet);
  auto models = parse({"--url", "http://127.0.0.1:9", "--api-key", "k", "models", "--json"});
  REQUIRE(models.has_value());
  CHECK(models->command == Command::models);
  CHECK(models->models.url == "http://127.0.0.1:9");
  CHECK(models->models.api_key == "k");
  CHECK(models->models.json);
  // After the command word too.
  auto after = parse({"models", "--url", "http://127.0.0.1:8"});
  REQUIRE(after.has_value());
  CHECK(after->models.url == "http://127.0.0.1:8");
  auto cache = parse({"-q", "cache", "prune"});
  REQUIRE(cache.has_value());
  CHECK(cache->command == Command::cache_prune);
}

TEST_CASE("ask cli: a question's option, or --, before a command word makes it a question") {
  auto tiered = parse({"--9b", "models", "of", "cars"});
  REQUIRE(tiered.has_value());
  CHECK(tiered->command == Command::ask);
  CHECK(tiered->ask.words == std::vector<std::string>{"models", "of", "cars"});
  auto dashed = parse({"--", "stats"});
  REQUIRE(dashed.has_value());
  CHECK(dashed->command == Command::ask);
  CHECK(dashed->ask.words == std::vector<std::string>{"stats"});
  auto quiet_dashed = parse({"-q", "--", "cahce", "stats"});
  REQUIRE(quiet_dashed.has_value());
  CHECK(quiet_dashed->command == Command::ask);
}

TEST_CASE("ask cli: a lone misspelt command is an error with a suggestion") {
  auto typo = parse({"cahce", "stats"});
  REQUIRE_FALSE(typo.has_value());
  CHECK(typo.error().message.find("did you mean `ask cache stats`") != std::string::npos);
  CHECK(typo.error().message.find("ask -- cahce stats") != std::string::npos);
  auto alone = parse({"modles"});
  REQUIRE_FALSE(alone.has_value());
  CHECK(alone.error().message.find("`ask models`") != std::string::npos);
  // Not alone, or not close: a question.
  auto longer = parse({"modles", "of", "cars"});
  REQUIRE(longer.has_value());
  CHECK(longer->command == Command::ask);
  auto other = parse({"cahce", "hello"});
  REQUIRE(other.has_value());
  CHECK(other->command == Command::ask);
  auto word = parse({"summarise"});
  REQUIRE(word.has_value());
  CHECK(word->command == Command::ask);
}

TEST_CASE("ask cli: -a and -f repeat and take one value each - the words stay the prompt") {
  auto inv = parse({"-a", "x.png", "describe", "-a", "y.png", "-f", "notes.txt", "both"});
  REQUIRE(inv.has_value());
  const auto& a = inv->ask.attachments;
  REQUIRE(a.size() == 3);
  CHECK(a[0].arg == "x.png");
  CHECK_FALSE(a[0].text_only);
  CHECK(a[1].arg == "y.png");
  CHECK(a[2].arg == "notes.txt");
  CHECK(a[2].text_only);
  auto mixed = parse({"-f", "a.txt", "--attach=b.png", "-f", "c.txt", "q"});
  REQUIRE(mixed.has_value());
  REQUIRE(mixed->ask.attachments.size() == 3);
  CHECK(mixed->ask.attachments[0].arg == "a.txt");
  CHECK(mixed->ask.attachments[1].arg == "b.png");
  CHECK(mixed->ask.attachments[2].arg == "c.txt");
  CHECK(inv->ask.words == std::vector<std::string>{"describe", "both"});
}

TEST_CASE("ask cli: conversations: -c or --cid, a valid id, not with --no-history") {
  auto c = parse({"-c", "and", "then?"});
  REQUIRE(c.has_value());
  CHECK(c->ask.continue_last);
  auto named = parse({"--cid", "work.plan-2", "hi"});
  REQUIRE(named.has_value());
  CHECK(named->ask.cid == "work.plan-2");
  CHECK_FALSE(parse({"-c", "--cid", "x", "hi"}).has_value());
  auto bad = parse({"--cid", "a b", "hi"});
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().message.find("--cid") != std::string::npos);
  CHECK_FALSE(parse({"--cid", std::string(65, 'a'), "hi"}).has_value());
  CHECK_FALSE(parse({"-c", "--no-history", "hi"}).has_value());
}

TEST_CASE("ask cli: logs takes -n, -q as its query, --cid and --json - completion a shell") {
  auto logs = parse({"-q", "logs", "-n", "3", "-q", "dead lock", "--json"});
  REQUIRE(logs.has_value());
  CHECK(logs->command == Command::logs);
  CHECK(logs->logs.n == 3);
  CHECK(logs->logs.query == "dead lock");
  CHECK(logs->logs.json);
  CHECK_FALSE(parse({"logs", "-n", "-1"}).has_value());
  CHECK_FALSE(parse({"logs", "--cid", "no spaces"}).has_value());
  auto comp = parse({"completion", "fish"});
  REQUIRE(comp.has_value());
  CHECK(comp->command == Command::completion);
  CHECK(comp->shell == "fish");
  CHECK_FALSE(parse({"completion", "tcsh"}).has_value());
  CHECK_FALSE(parse({"completion"}).has_value());
}
