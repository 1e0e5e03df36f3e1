// The real ask binary and the files it keeps: the SQLite prompt cache (hits without askd,
// --refresh, --no-cache, councils and demotions, corruption, 50 processes at once) and the
// telemetry log (its line, field by field; ask stats; the jq recipes of docs/telemetry.md).
#include <doctest/doctest.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "tests/integration/ask_harness.h" // contains
#include "tests/integration/ask_process.h"

using namespace ask::testing;
namespace fs = std::filesystem;

namespace {

// The value after "entries: " in `ask cache stats`.
long long cache_entries(const AskUser& user) {
  AskResult r = user.run({"cache", "stats"});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  std::smatch m;
  REQUIRE(std::regex_search(r.out, m, std::regex("entries: ([0-9]+)")));
  return std::stoll(m[1]);
}

// Four calls: fast-1b asked and then answered from the cache, fast-9b asked, and a usage
// error (no prompt).
void four_calls(const AskUser& user) {
  REQUIRE(user.run({"--tiny", "a"}).code == 0);
  REQUIRE(user.run({"--tiny", "a"}).code == 0);
  REQUIRE(user.run({"--9b", "b"}).code == 0);
  REQUIRE(user.run({"--9b"}).code == 2);
}

} // namespace

TEST_CASE("ask cache: a hit prints the same answer without asking askd") {
  AskWorld world;
  AskUser user(world.config(), world.askd().port());
  AskResult first = user.run({"--tiny", "the same question"});
  REQUIRE_MESSAGE(first.code == 0, first.err);
  CHECK(user.last_line()["cache_hit"] == false);
  CHECK(user.last_line()["cache"] == "miss");
  const std::size_t asked = world.llama_requests();

  AskResult second = user.run({"--tiny", "the same question"});
  REQUIRE(second.code == 0);
  CHECK(second.out == first.out);
  CHECK(second.err.empty()); // off a terminal the cache note is not printed
  CHECK(world.llama_requests() == asked);
  Json hit = user.last_line();
  CHECK(hit["cache_hit"] == true);
  CHECK(hit["cache"] == "hit");
  CHECK(hit["served_by"] == "fast-1b");
  CHECK(hit["ttft_s"].is_null());

  // The same words through stdin are the same request: a hit too.
  CHECK(user.run({"--tiny"}, std::string("the same question\n")).code == 0);
  CHECK(user.last_line()["cache_hit"] == true);
  // Another system prompt or temperature is another request.
  CHECK(user.run({"--tiny", "-s", "x", "the same question"}).code == 0);
  CHECK(user.last_line()["cache_hit"] == false);
  CHECK(user.run({"--tiny", "--temperature", "1", "the same question"}).code == 0);
  CHECK(user.last_line()["cache_hit"] == false);
}

TEST_CASE("ask cache: a hit needs no askd at all") {
  AskWorld world;
  AskUser user(world.config(), world.askd().port());
  AskResult first = user.run({"--9b", "cached while askd is up"});
  REQUIRE(first.code == 0);
  world.askd().process().terminate();
  AskResult again = user.run({"--9b", "cached while askd is up"});
  CHECK(again.code == 0);
  CHECK(again.out == first.out);
  CHECK(user.run({"--9b", "not cached"}).code == 3);
}

TEST_CASE("ask cache: --refresh asks again and stores - --no-cache neither reads nor writes") {
  AskWorld world;
  AskUser user(world.config(), world.askd().port());
  REQUIRE(user.run({"--tiny", "q"}).code == 0);
  const std::size_t asked = world.llama_requests();
  REQUIRE(user.run({"--tiny", "--refresh", "q"}).code == 0);
  CHECK(world.llama_requests() == asked + 1);
  CHECK(user.last_line()["cache"] == "refresh");
  CHECK(cache_entries(user) == 1);

  REQUIRE(user.run({"--tiny", "--no-cache", "q"}).code == 0);
  CHECK(world.llama_requests() == asked + 2);
  CHECK(user.last_line()["cache"] == "off");
  REQUIRE(user.run({"--tiny", "--no-cache", "new question"}).code == 0);
  CHECK(cache_entries(user) == 1); // not stored
}

TEST_CASE("ask cache: a council is never cached") {
  AskWorld world;
  AskUser user(world.config(), world.askd().port());
  for (int i = 0; i < 2; ++i) {
    AskResult r = user.run({"--council", "deliberate"});
    REQUIRE_MESSAGE(r.code == 0, r.err);
    CHECK(r.err.empty());
    Json line = user.last_line();
    CHECK(line["served_by"] == "think-9b");
    CHECK(line["demoted"] == false);
    CHECK(line["council_members"] == "fast-9b,fast-9b");
    CHECK(line["cache"] == "off");
    CHECK(line["cache_hit"] == false);
    CHECK(line["model"] == "council");
  }
  CHECK(cache_entries(user) == 0);
}

TEST_CASE("ask cache: a demoted answer is stored as the serving model's, not the requested one's") {
  AskWorld world;
  AskUser user(world.config(), world.askd().port());
  world.stop_ollama();
  AskResult demoted = user.run({"--9b", "who answers?"});
  REQUIRE(demoted.code == 0);
  const std::size_t asked = world.llama_requests();

  AskResult again = user.run({"--9b", "who answers?"});
  REQUIRE(again.code == 0);
  CHECK(user.last_line()["cache_hit"] == false); // the 9B is asked again, honestly
  CHECK(contains(again.err, "[degraded: fast-9b → fast-1b (backend down)]"));
  CHECK(world.llama_requests() == asked + 1);

  AskResult as_1b = user.run({"-m", "fast-1b", "who answers?"});
  REQUIRE(as_1b.code == 0);
  CHECK(user.last_line()["cache_hit"] == true);
  CHECK(user.last_line()["demoted"] == false);
  CHECK(as_1b.out == demoted.out);
}

TEST_CASE("ask cache: a corrupt cache file is moved aside and the question still answered") {
  AskWorld world;
  AskUser user(world.config(), world.askd().port());
  fs::create_directories(user.cache_file().parent_path());
  std::ofstream(user.cache_file(), std::ios::binary) << std::string(8192, 'x');
  AskResult r = user.run({"--tiny", "q"});
  CHECK(r.code == 0);
  CHECK(contains(r.err, "warning: cache:"));
  CHECK(contains(r.err, "moved it to"));
  bool moved = false;
  for (const auto& entry : fs::directory_iterator(user.cache_file().parent_path())) {
    moved = moved || contains(entry.path().filename().string(), "cache.sqlite.corrupt-");
  }
  CHECK(moved);
  AskResult again = user.run({"--tiny", "q"});
  CHECK(again.code == 0);
  CHECK(again.err.empty());
  CHECK(user.last_line()["cache_hit"] == true);
}

TEST_CASE("ask cache: stats, prune and clear") {
  AskWorld world;
  AskUser user(world.config(), world.askd().port());
  REQUIRE(user.run({"--tiny", "one"}).code == 0);
  REQUIRE(user.run({"--tiny", "two"}).code == 0);
  CHECK(cache_entries(user) == 2);
  AskResult stats = user.run({"cache", "stats"});
  CHECK(contains(stats.out, "fast-1b: 2 entries"));
  AskResult prune = user.run({"cache", "prune"});
  CHECK(prune.code == 0);
  CHECK(contains(prune.out, "pruned 0 entries"));
  AskResult clear = user.run({"cache", "clear"});
  CHECK(clear.code == 0);
  CHECK(contains(clear.out, "cleared 2 entries"));
  CHECK(cache_entries(user) == 0);
  CHECK(user.run({"cache", "drop"}).code == 2);
}

TEST_CASE("ask telemetry: one line per call, the promised fields first, with their types") {
  AskWorld world;
  AskUser user(world.config(), world.askd().port());
  REQUIRE(user.run({"--9b", "héllo wörld"}).code == 0);
  REQUIRE(user.run({"--9b", "héllo wörld"}).code == 0);
  REQUIRE(user.run({"--9b"}).code == 2);
  const auto raw = user.log_text_lines();
  REQUIRE(raw.size() == 3);
  const std::regex order(R"(^\{"ts":[0-9.]+,"model":"[^"]*","served_by":"[^"]*",)"
                         R"("prompt_hash":"[0-9a-f]{8}","prompt_chars":[0-9]+,)"
                         R"("response_chars":[0-9]+,"latency_s":[0-9.e-]+,)"
                         R"("cache_hit":(true|false),"demoted":(true|false),"exit_code":[0-9]+,)");
  CHECK(std::regex_search(raw[0], order));
  CHECK(std::regex_search(raw[1], order));
  for (const Json& line : user.log_lines()) {
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
  }
  const auto lines = user.log_lines();
  CHECK(lines[0]["prompt_chars"] == 11); // code points, not bytes
  CHECK(lines[0]["response_chars"].get<long long>() > 0);
  CHECK(lines[0]["prompt_hash"] == lines[1]["prompt_hash"]);
  CHECK(lines[0]["tokens_out"].is_number_integer());
  CHECK(lines[0]["ttft_s"].is_number());
  CHECK(lines[0]["request_id"].is_string());
  CHECK(lines[1]["cache_hit"] == true);
  CHECK(lines[2]["exit_code"] == 2);
  CHECK(lines[2]["error_kind"] == "usage");
  CHECK(lines[2]["served_by"] == "");
  const double now = static_cast<double>(std::time(nullptr));
  CHECK(lines[0]["ts"].get<double>() > now - 60);
  CHECK(lines[0]["ts"].get<double>() <= now + 1);
}

TEST_CASE("ask telemetry: a log that cannot be written warns and changes nothing else") {
  AskWorld world;
  AskUser user(world.config(), world.askd().port());
  const fs::path blocker = user.dir() / "not-a-folder";
  std::ofstream(blocker) << "a file";
  Json config = world.config();
  config["telemetry"] = {{"ask_log", (blocker / "log.jsonl").string()}};
  AskUser blocked(config, world.askd().port());
  AskResult r = blocked.run({"--tiny", "q"});
  CHECK(r.code == 0);
  CHECK_FALSE(r.out.empty());
  CHECK(contains(r.err, "warning: telemetry:"));
  CHECK(contains(r.err, "not-a-folder"));
}

TEST_CASE("ask: 50 processes at once share one cache and one log") {
  AskWorld world;
  AskUser user(world.config(), world.askd().port());
  std::vector<std::unique_ptr<ChildProcess>> children;
  for (int i = 0; i < 50; ++i) {
    // Half ask the same question (racing to store it), half their own.
    const std::string q = i % 2 == 0 ? "the shared question" : "question " + std::to_string(i);
    children.push_back(user.start({"--tiny", q}));
  }
  int failures = 0;
  for (auto& child : children) {
    AskResult r = finish(*child, std::chrono::seconds(60));
    if (r.code != 0) {
      ++failures;
      MESSAGE("exit ", r.code, ": ", r.err);
    }
    CHECK_FALSE(contains(r.err, "locked"));
    CHECK_FALSE(contains(r.err, "warning"));
  }
  CHECK(failures == 0);
  const auto raw = user.log_text_lines();
  CHECK(raw.size() == 50);
  for (const std::string& line : raw) {
    Json parsed = Json::parse(line, nullptr, false);
    CHECK((parsed.is_object() && parsed.contains("exit_code")));
  }
  CHECK(cache_entries(user) == 26);
}

TEST_CASE("ask stats: the counts match the calls") {
  AskWorld world;
  AskUser user(world.config(), world.askd().port());
  four_calls(user);
  AskResult r = user.run({"stats", "--since", "1h", "--json"});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  Json stats = Json::parse(r.out);
  CHECK(stats["total"]["calls"] == 4);
  CHECK(stats["total"]["cache_hits"] == 1);
  CHECK(stats["total"]["errors"] == 1);
  bool tiny = false;
  for (const Json& m : stats["models"]) {
    if (m["model"] == "fast-1b") {
      tiny = true;
      CHECK(m["calls"] == 2);
      CHECK(m["hit_rate"] == 0.5);
    }
  }
  CHECK(tiny);
  AskResult table = user.run({"stats"});
  CHECK(table.code == 0);
  CHECK(contains(table.out, "fast-1b"));
  CHECK(user.run({"stats", "--since", "yesterday-ish"}).code == 2);
}

namespace {

// Splits a shell-like command (no shell: jq recipes use single and double quotes and
// backslash-newline continuations only) into its arguments.
std::vector<std::string> split_command(const std::string& text) {
  std::vector<std::string> args;
  std::string current;
  bool in_word = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\\' && i + 1 < text.size() && text[i + 1] == '\n') {
      ++i;
    } else if (c == '\'') {
      const std::size_t end = text.find('\'', i + 1);
      REQUIRE(end != std::string::npos);
      current += text.substr(i + 1, end - i - 1);
      i = end;
      in_word = true;
    } else if (c == '"') {
      for (++i; i < text.size() && text[i] != '"'; ++i) {
        if (text[i] == '\\' && i + 1 < text.size()) {
          ++i;
        }
        current += text[i];
      }
      in_word = true;
    } else if (c == ' ' || c == '\n' || c == '\t') {
      if (in_word) {
        args.push_back(current);
        current.clear();
        in_word = false;
      }
    } else {
      current += c;
      in_word = true;
    }
  }
  if (in_word) {
    args.push_back(current);
  }
  return args;
}

// The ```sh jq-recipe blocks of docs/telemetry.md.
std::vector<std::string> jq_recipes() {
  std::ifstream in(std::string(ASK_SOURCE_DIR) + "/docs/telemetry.md");
  std::stringstream doc;
  doc << in.rdbuf();
  std::vector<std::string> out;
  const std::string text = doc.str();
  const std::string open = "```sh jq-recipe\n";
  for (std::size_t at = text.find(open); at != std::string::npos; at = text.find(open, at)) {
    at += open.size();
    const std::size_t end = text.find("```", at);
    REQUIRE(end != std::string::npos);
    out.push_back(text.substr(at, end - at));
    at = end;
  }
  return out;
}

} // namespace

TEST_CASE("docs/telemetry.md: every jq recipe runs on a log that ask wrote") {
  REQUIRE_MESSAGE(fs::exists("/usr/bin/jq"), "jq is not installed (scripts/install-deps.sh)");
  AskWorld world;
  AskUser user(world.config(), world.askd().port());
  four_calls(user);
  world.stop_ollama();
  REQUIRE(user.run({"--9b", "demoted"}).code == 0);
  (void)user.run({"--9b", "[[sim: status=503]] failing"});

  const auto recipes = jq_recipes();
  CHECK(recipes.size() >= 5);
  for (const std::string& recipe : recipes) {
    CAPTURE(recipe);
    std::vector<std::string> args = split_command(recipe);
    REQUIRE(!args.empty());
    REQUIRE(args[0] == "jq");
    args[0] = "/usr/bin/jq";
    bool has_log = false;
    for (std::string& a : args) {
      if (a == "~/.local/share/ask/log.jsonl") {
        a = user.log_file().string();
        has_log = true;
      }
    }
    REQUIRE(has_log);
    ChildProcess jq(args, ChildOptions{{}, std::string("/dev/null")});
    AskResult r = finish(jq, std::chrono::seconds(20));
    CHECK_MESSAGE(r.code == 0, r.err);
    CHECK_FALSE(r.out.empty());
  }
}
