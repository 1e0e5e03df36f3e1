// The real ask binary's prompt cache, beyond ask_files_test.cpp: the key is docs/cache.md's
// recipe, --json from a hit, cache.ttl and prune, cache.enabled and cache.path from the
// config, a cache that cannot be opened, and councils named with -m.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "tests/integration/ask_harness.h"

using namespace ask::testing;
namespace fs = std::filesystem;

TEST_CASE("ask cache: the key is docs/cache.md's recipe - aliases and stdin give the same key") {
  AskWorld world;
  AskUser user(world.config(), world.askd().port());
  // docs/cache.md's worked example (cache/key_test.cpp pins the whole keys).
  REQUIRE(user.run({"--9b", "hello"}).code == 0);
  CHECK(user.last_line()["prompt_hash"] == "92218927");
  REQUIRE(user.run({"-m", "fast-1b", "hello"}).code == 0);
  CHECK(user.last_line()["prompt_hash"] == "a82c1297");

  const std::size_t asked = world.ollama_requests();
  REQUIRE(user.run({"-m", "fast", "hello"}).code == 0); // the alias is fast-9b
  CHECK(user.last_line()["prompt_hash"] == "92218927");
  CHECK(user.last_line()["cache_hit"] == true);
  REQUIRE(user.run({}, std::string("hello\n")).code == 0); // the default tier, from stdin
  CHECK(user.last_line()["prompt_hash"] == "92218927");
  CHECK(user.last_line()["cache_hit"] == true);
  CHECK(world.ollama_requests() == asked);

  REQUIRE(user.run({"--9b", "--max-tokens", "5", "hello"}).code == 0);
  CHECK(user.last_line()["prompt_hash"] != "92218927"); // every parameter counts
  CHECK(user.last_line()["cache_hit"] == false);
}

TEST_CASE("ask cache: --json from a hit prints the stored response - streamed or not, one key") {
  AskWorld world;
  AskUser user(world.config(), world.askd().port());
  AskResult streamed = user.run({"--9b", "streamed first"});
  REQUIRE_MESSAGE(streamed.code == 0, streamed.err);
  const std::size_t asked = world.ollama_requests();
  AskResult json = user.run({"--9b", "--json", "streamed first"});
  REQUIRE_MESSAGE(json.code == 0, json.err);
  CHECK(world.ollama_requests() == asked);
  CHECK(user.last_line()["cache_hit"] == true);
  Json body = Json::parse(json.out);
  CHECK(body["object"] == "chat.completion");
  CHECK(body["model"] == "fast-9b");
  REQUIRE(body["choices"].size() == 1);
  CHECK(body["choices"][0]["message"]["content"].get<std::string>() + "\n" == streamed.out);

  AskResult whole = user.run({"--tiny", "--json", "whole first"}); // not streamed
  REQUIRE(whole.code == 0);
  const std::string answer = Json::parse(whole.out)["choices"][0]["message"]["content"];
  AskResult text = user.run({"--tiny", "whole first"});
  REQUIRE(text.code == 0);
  CHECK(user.last_line()["cache_hit"] == true);
  CHECK(text.out == answer + "\n");
}

TEST_CASE("ask cache: ttl 0 stores but never reuses - prune deletes what expired") {
  AskWorld world;
  Json config = world.config();
  config["cache"] = {{"ttl", 0}};
  AskUser user(config, world.askd().port());
  const std::size_t asked = world.llama_requests();
  REQUIRE(user.run({"--tiny", "asked twice"}).code == 0);
  REQUIRE(user.run({"--tiny", "asked twice"}).code == 0);
  CHECK(user.last_line()["cache"] == "miss");
  CHECK(user.last_line()["cache_hit"] == false);
  CHECK(world.llama_requests() == asked + 2);
  const CacheCounts before = cache_counts(user);
  CHECK(before.entries == 1); // the second answer replaced the first
  CHECK(before.expired == 1);
  AskResult prune = user.run({"cache", "prune"});
  CHECK(prune.code == 0);
  CHECK(contains(prune.out, "pruned 1 entry from " + user.cache_file().string()));
  CHECK(cache_counts(user).entries == 0);
}

TEST_CASE("ask cache: cache.enabled false neither reads nor writes, and creates no file") {
  AskWorld world;
  Json config = world.config();
  config["cache"] = {{"enabled", false}};
  AskUser user(config, world.askd().port());
  const std::size_t asked = world.llama_requests();
  for (int i = 0; i < 2; ++i) {
    REQUIRE(user.run({"--tiny", "never cached"}).code == 0);
    CHECK(user.last_line()["cache"] == "off");
    CHECK(user.last_line()["cache_hit"] == false);
  }
  CHECK(world.llama_requests() == asked + 2);
  CHECK_FALSE(fs::exists(user.cache_file().parent_path()));
  AskResult stats = user.run({"cache", "stats"});
  CHECK(contains(stats.out, "(disabled)"));
}

TEST_CASE("ask cache: cache.path from the config, ~ meaning $HOME, its folder private") {
  AskWorld world;
  Json config = world.config();
  config["cache"] = {{"path", "~/answers/ask.sqlite"}};
  AskUser user(config, world.askd().port());
  REQUIRE(user.run({"--tiny", "where is it kept?"}).code == 0);
  REQUIRE(user.run({"--tiny", "where is it kept?"}).code == 0);
  CHECK(user.last_line()["cache_hit"] == true);
  const fs::path file = user.dir() / "answers" / "ask.sqlite";
  CHECK(fs::exists(file));
  CHECK_FALSE(fs::exists(user.cache_file()));
  CHECK((fs::status(file.parent_path()).permissions() & fs::perms::all) == fs::perms::owner_all);
  AskResult stats = user.run({"cache", "stats"});
  CHECK(contains(stats.out, "cache:   " + file.string()));
  CHECK(contains(stats.out, "fast-1b: 1 entry"));
}

TEST_CASE("ask cache: a cache that cannot be opened is a warning, and the answer still comes") {
  AskWorld world;
  AskUser user(world.config(), world.askd().port());
  const fs::path blocker = user.dir() / "a-file";
  std::ofstream(blocker) << "not a folder";
  Json config = world.config();
  config["cache"] = {{"path", (blocker / "cache.sqlite").string()}};
  AskUser blocked(config, world.askd().port());
  for (int i = 0; i < 2; ++i) {
    AskResult r = blocked.run({"--tiny", "still answered?"});
    CHECK(r.code == 0);
    CHECK_FALSE(r.out.empty());
    const auto notes = lines_of(r.err);
    REQUIRE(notes.size() == 1); // said once, not again when storing
    CHECK(notes[0].starts_with("ask: warning: cache: "));
    CHECK(contains(notes[0], blocker.string()));
    CHECK(contains(notes[0], "answering without the cache"));
    CHECK(blocked.last_line()["exit_code"] == 0);
  }
  AskResult stats = blocked.run({"cache", "stats"});
  CHECK(stats.code == 1);
  CHECK(contains(stats.err, blocker.string()));
}

TEST_CASE("ask cache: a council named with -m is not cached either - its members answer anew") {
  AskWorld world;
  AskUser user(world.config(), world.askd().port());
  std::string first;
  for (int i = 0; i < 2; ++i) {
    const std::size_t asked = world.ollama_requests();
    AskResult r = user.run({"-m", "council", "deliberate again"});
    REQUIRE_MESSAGE(r.code == 0, r.err);
    CHECK(world.ollama_requests() == asked + 3); // two members and the chairman
    Json line = user.last_line();
    CHECK(line["model"] == "council");
    CHECK(line["tier"].is_null());
    CHECK(line["cache"] == "off");
    CHECK(line["served_by"] == "think-9b");
    first = i == 0 ? r.out : first;
    CHECK(r.out == first); // deterministic backends: the same deliberation
  }
  CHECK(cache_counts(user).entries == 0);
}

TEST_CASE("ask cache: a demoted answer is kept as the 1B's for -m, --tiny and the alias chain") {
  AskWorld world;
  AskUser user(world.config(), world.askd().port());
  world.stop_ollama();
  AskResult demoted = user.run({"-m", "fast", "who answers this?"}); // alias of fast-9b
  REQUIRE_MESSAGE(demoted.code == 0, demoted.err);
  CHECK(user.last_line()["demoted"] == true);
  const std::size_t asked = world.llama_requests();
  AskResult tiny = user.run({"--tiny", "who answers this?"}); // the tier of fast-1b
  REQUIRE(tiny.code == 0);
  CHECK(tiny.out == demoted.out);
  CHECK(user.last_line()["cache_hit"] == true);
  CHECK(user.last_line()["served_by"] == "fast-1b");
  CHECK(world.llama_requests() == asked);
  const CacheCounts counts = cache_counts(user);
  CHECK(counts.entries == 1);
  AskResult stats = user.run({"cache", "stats"});
  CHECK(contains(stats.out, "fast-1b: 1 entry"));
  CHECK_FALSE(contains(stats.out, "fast-9b:"));
}
