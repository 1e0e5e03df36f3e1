// The real ask binary's telemetry log, beyond ask_files_test.cpp: every field of the line in
// its order with its type, for each kind of call; where ask keeps its files ($XDG_*, else
// $HOME) and where it finds its config; telemetry.enabled false; `ask stats` on demotions,
// errors and damaged lines.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>

#include "tests/integration/ask_harness.h"

using namespace ask::testing;
namespace fs = std::filesystem;

namespace {

// The fields of a line, in order: the stable ten, then the extra ones (docs/telemetry.md).
std::vector<std::string> expected_keys(bool council) {
  std::vector<std::string> keys = k_stable_fields;
  keys.insert(keys.end(), {"tier", "requested", "cache", "ttft_s", "tokens_in", "tokens_out",
                           "fallback_path", "error", "error_kind"});
  if (council) {
    keys.push_back("council_members");
  }
  keys.insert(keys.end(), {"request_id", "finish_reason", "queue_s", "load_s", "attempts", "cid",
                           "ask_version"});
  return keys;
}

bool string_or_null(const Json& v) {
  return v.is_string() || v.is_null();
}
bool integer_or_null(const Json& v) {
  return v.is_number_integer() || v.is_null();
}

// Every field's type as docs/telemetry.md promises it.
void check_types(const Json& line) {
  CHECK(line["ts"].is_number());
  CHECK(line["model"].is_string());
  CHECK(line["served_by"].is_string());
  CHECK(line["prompt_hash"].is_string());
  CHECK(line["prompt_chars"].is_number_integer());
  CHECK(line["response_chars"].is_number_integer());
  CHECK(line["latency_s"].is_number());
  CHECK(line["cache_hit"].is_boolean());
  CHECK(line["demoted"].is_boolean());
  CHECK(line["exit_code"].is_number_integer());
  CHECK(string_or_null(line["tier"]));
  CHECK(line["requested"].is_string());
  CHECK(std::set<std::string>{"hit", "miss", "refresh", "off"}.contains(
      line["cache"].get<std::string>()));
  CHECK((line["ttft_s"].is_number() || line["ttft_s"].is_null()));
  CHECK(integer_or_null(line["tokens_in"]));
  CHECK(integer_or_null(line["tokens_out"]));
  CHECK(string_or_null(line["fallback_path"]));
  CHECK(string_or_null(line["error"]));
  if (line["error_kind"].is_null()) {
    CHECK(line["exit_code"] == 0);
    CHECK(line["error"].is_null());
  } else {
    CHECK(std::set<std::string>{"usage", "rejected", "context", "unreachable", "all_failed",
                                "timeout", "interrupted", "other"}
              .contains(line["error_kind"].get<std::string>()));
    CHECK(line["exit_code"] != 0);
    CHECK(line["error"].is_string());
  }
  if (line.contains("council_members")) {
    CHECK(string_or_null(line["council_members"]));
  }
  CHECK(string_or_null(line["request_id"]));
  CHECK(string_or_null(line["finish_reason"]));
  CHECK((line["queue_s"].is_number() || line["queue_s"].is_null()));
  CHECK((line["load_s"].is_number() || line["load_s"].is_null()));
  REQUIRE(line["attempts"].is_array());
  for (const Json& a : line["attempts"]) {
    CHECK(a["model"].is_string());
    CHECK(string_or_null(a["reason"]));
    CHECK((a["s"].is_number() || a["s"].is_null()));
  }
  CHECK(string_or_null(line["cid"]));
  CHECK(line["ask_version"].is_string());
}

} // namespace

TEST_CASE("ask telemetry: every field in order, with its type, for each kind of call") {
  AskWorld world;
  AskUser user(world.config(), world.askd().port());
  AskUser nowhere(world.config(), closed_port());
  REQUIRE(user.run({"--9b", "first question"}).code == 0);              // 0: a miss
  REQUIRE(user.run({"--9b", "first question"}).code == 0);              // 1: a hit
  REQUIRE(user.run({"-m", "fast", "first question"}).code == 0);        // 2: a hit via an alias
  REQUIRE(user.run({"--9b", "--refresh", "first question"}).code == 0); // 3: refresh
  REQUIRE(user.run({"--council", "deliberate"}).code == 0);             // 4: a council
  REQUIRE(user.run({"-m", "fast-2b", "q"}).code == 2);                  // 5: rejected by askd
  REQUIRE(user.run({"--9b"}).code == 2);                                // 6: no prompt
  world.stop_ollama();
  REQUIRE(user.run({"--9b", "second question"}).code == 0);           // 7: demoted
  REQUIRE(user.run({"--9b", "[[sim: status=503]] third"}).code == 4); // 8: all failed
  REQUIRE(nowhere.run({"--tiny", "q"}).code == 3);                    // (the other log)

  const std::string version = user.run({"--version"}).out;
  const auto raw = user.log_text_lines();
  REQUIRE(raw.size() == 9);
  std::vector<Json> lines;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    CAPTURE(raw[i]);
    CHECK(key_order(raw[i]) == expected_keys(i == 4));
    lines.push_back(Json::parse(raw[i]));
    check_types(lines.back());
    CHECK(version == "ask " + lines.back()["ask_version"].get<std::string>() + "\n");
    CHECK(std::regex_match(lines.back()["prompt_hash"].get<std::string>(),
                           std::regex(i == 6 ? "" : "[0-9a-f]{8}")));
  }
  CHECK(lines[0]["cache"] == "miss");
  CHECK(lines[0]["ttft_s"].is_number());
  CHECK(lines[0]["tokens_in"].is_number_integer());
  CHECK(lines[0]["tokens_out"].is_number_integer());
  CHECK(lines[0]["fallback_path"].is_null()); // no fallback happened
  CHECK(lines[0]["request_id"].is_string());
  CHECK(lines[1]["cache"] == "hit");
  CHECK(lines[1]["request_id"].is_null()); // askd was not asked
  CHECK(lines[1]["tokens_out"].is_null());
  CHECK(lines[2]["requested"] == "fast");
  CHECK(lines[2]["model"] == "fast-9b");
  CHECK(lines[2]["tier"].is_null());
  CHECK(lines[3]["cache"] == "refresh");
  CHECK(lines[3]["cache_hit"] == false);
  CHECK(lines[4]["council_members"] == "fast-9b,fast-9b");
  CHECK(lines[4]["tier"] == "council");
  CHECK(lines[5]["error_kind"] == "rejected");
  CHECK(lines[5]["requested"] == "fast-2b");
  CHECK(lines[5]["request_id"].is_string());
  CHECK(lines[6]["error_kind"] == "usage");
  CHECK(lines[6]["request_id"].is_null());
  CHECK(lines[7]["demoted"] == true);
  CHECK(lines[7]["served_by"] == "fast-1b");
  CHECK(lines[7]["fallback_path"] == "fast-9b>fast-3b>fast-1b");
  CHECK(lines[8]["error_kind"] == "all_failed");
  CHECK(lines[8]["served_by"] == "");
  CHECK(lines[8]["response_chars"] == 0);
  Json unreachable = nowhere.last_line();
  check_types(unreachable);
  CHECK(unreachable["error_kind"] == "unreachable");
  CHECK(unreachable["request_id"].is_null());
}

TEST_CASE("ask's files: $XDG_DATA_HOME and $XDG_CACHE_HOME, else under $HOME - the config too") {
  AskWorld world;
  TempFolder home;
  const fs::path& h = home.path();
  const std::string url = "ASK_URL=http://127.0.0.1:" + std::to_string(world.askd().port());
  auto put_config = [&](const fs::path& folder) {
    fs::create_directories(folder / "ask");
    std::ofstream(folder / "ask" / "config.jsonc") << world.config().dump(2);
  };

  // The XDG folders given: the config, the cache and the log are found there. (Only the
  // config knows the --tiny tier: the built-in one has no such flag.)
  put_config(h / "xdg-config");
  AskResult xdg =
      run_ask({"--tiny", "where do the files go?"},
              ask_env({"HOME=" + h.string(), url, "XDG_CONFIG_HOME=" + (h / "xdg-config").string(),
                       "XDG_CACHE_HOME=" + (h / "xdg-cache").string(),
                       "XDG_DATA_HOME=" + (h / "xdg-data").string()}));
  REQUIRE_MESSAGE(xdg.code == 0, xdg.err);
  CHECK(fs::exists(h / "xdg-cache" / "ask" / "cache.sqlite"));
  CHECK(fs::exists(h / "xdg-data" / "ask" / "log.jsonl"));
  for (const fs::path& folder : {h / "xdg-cache" / "ask", h / "xdg-data" / "ask"}) {
    CHECK((fs::status(folder).permissions() & fs::perms::all) == fs::perms::owner_all);
  }

  // None given (a relative one counts as none): ~/.config, ~/.cache, ~/.local/share.
  put_config(h / ".config");
  AskResult plain = run_ask({"--tiny", "where do the files go?"},
                            ask_env({"HOME=" + h.string(), url, "XDG_DATA_HOME=relative/data"}));
  REQUIRE_MESSAGE(plain.code == 0, plain.err);
  CHECK(fs::exists(h / ".cache" / "ask" / "cache.sqlite"));
  const fs::path log = h / ".local" / "share" / "ask" / "log.jsonl";
  REQUIRE(fs::exists(log));
  std::ifstream in(log);
  std::string line;
  REQUIRE(std::getline(in, line));
  CHECK(Json::parse(line)["cache_hit"] == false); // another cache than the first call's
  CHECK_FALSE(std::getline(in, line));

  // $ASK_CONFIG naming a missing file is a usage error; --config wins over $ASK_CONFIG.
  const std::vector<std::string> missing =
      ask_env({"HOME=" + h.string(), url, "ASK_CONFIG=" + (h / "missing.jsonc").string()});
  AskResult gone = run_ask({"--tiny", "q"}, missing);
  CHECK(gone.code == 2);
  CHECK(contains(gone.err, "named by $ASK_CONFIG"));
  AskResult chosen = run_ask(
      {"--config", (h / ".config" / "ask" / "config.jsonc").string(), "--tiny", "q"}, missing);
  CHECK_MESSAGE(chosen.code == 0, chosen.err);
}

TEST_CASE("ask telemetry: telemetry.enabled false writes nothing - ask stats still reads") {
  AskWorld world;
  AskUser writer(world.config(), world.askd().port());
  REQUIRE(writer.run({"--tiny", "one"}).code == 0);
  REQUIRE(writer.run({"--tiny", "one"}).code == 0);
  Json config = world.config();
  config["telemetry"] = {{"enabled", false}, {"ask_log", writer.log_file().string()}};
  AskUser silent(config, world.askd().port());
  AskResult r = silent.run({"--tiny", "two"});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  CHECK(r.err.empty());
  CHECK(writer.log_text_lines().size() == 2);
  CHECK(silent.run({"--9b"}).code == 2); // failures are not logged either
  CHECK(writer.log_text_lines().size() == 2);
  AskResult stats = silent.run({"stats", "--json"});
  REQUIRE_MESSAGE(stats.code == 0, stats.err);
  CHECK(Json::parse(stats.out)["total"]["calls"] == 2);
}

TEST_CASE("ask stats --json: demotions, errors and who served, per model - damaged lines") {
  AskWorld world;
  AskUser user(world.config(), world.askd().port());
  REQUIRE(user.run({"--tiny", "a"}).code == 0); // fast-1b miss
  REQUIRE(user.run({"--tiny", "a"}).code == 0); // fast-1b hit
  REQUIRE(user.run({"--9b", "b"}).code == 0);   // fast-9b served
  world.stop_ollama();
  REQUIRE(user.run({"--9b", "c"}).code == 0);                     // demoted to fast-1b
  REQUIRE(user.run({"--9b", "[[sim: status=503]] d"}).code == 4); // nothing served
  std::ofstream(user.log_file(), std::ios::app) << "{\"ts\": 1, \"model\": \"torn";

  AskResult r = user.run({"stats", "--json"});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  Json stats = Json::parse(r.out);
  CHECK(stats["lines"] == 6);
  CHECK(stats["skipped"]["malformed"] == 1);
  CHECK(stats["total"]["calls"] == 5);
  CHECK(stats["total"]["errors"] == 1);
  CHECK(stats["total"]["demoted"] == 1);
  CHECK(stats["total"]["cache_hits"] == 1);
  REQUIRE(stats["models"].size() == 2);
  const Json& nine = stats["models"][0]; // most calls first
  CHECK(nine["model"] == "fast-9b");
  CHECK(nine["calls"] == 3);
  CHECK(nine["demoted"] == 1);
  CHECK(nine["errors"] == 1);
  CHECK(nine["served_by"] == Json{{"", 1}, {"fast-1b", 1}, {"fast-9b", 1}});
  CHECK(nine["demotion_rate"].get<double>() == doctest::Approx(1.0 / 3));
  const Json& tiny = stats["models"][1];
  CHECK(tiny["model"] == "fast-1b");
  CHECK(tiny["hit_rate"] == 0.5);
  CHECK(tiny["served_by"] == Json{{"fast-1b", 2}});

  AskResult old = user.run({"stats", "--json", "--until", "2001-01-01"});
  REQUIRE(old.code == 0);
  Json none = Json::parse(old.out);
  CHECK(none["total"]["calls"] == 0);
  CHECK(none["skipped"]["by_time"] == 5);
  AskResult table = user.run({"stats", "--until", "2001-01-01"});
  CHECK(table.out.starts_with("ask stats: no calls recorded\n"));
  CHECK(contains(table.out, "skipped 1 malformed line"));
}
