#include "telemetry/stats.h"

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "tests/support/temp_dir.h"
#include <unistd.h>

using ask::telemetry::ModelSummary;
using ask::telemetry::render_table;
using ask::telemetry::StatsOptions;
using ask::telemetry::StatsReport;
using ask::telemetry::summarize;
using ask::telemetry::summarize_file;
using ask::telemetry::to_json;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

constexpr double k_t0 = 1777978000; // 2026-05-05 10:46:40 UTC

// One telemetry line as ask writes it; `extra` is merged over the defaults.
std::string line(const std::string& model, double ts, const json& extra = json::object()) {
  json value = {{"ts", ts},           {"model", model},
                {"served_by", model}, {"prompt_hash", "775a61d9"},
                {"prompt_chars", 22}, {"response_chars", 2},
                {"latency_s", 0.5},   {"cache_hit", false},
                {"demoted", false},   {"exit_code", 0}};
  value.update(extra);
  return value.dump() + "\n";
}

StatsReport run(const std::string& log, const StatsOptions& options = {}) {
  std::istringstream in(log);
  return summarize(in, options);
}

const ModelSummary& find(const StatsReport& report, const std::string& model) {
  for (const ModelSummary& s : report.models) {
    if (s.model == model) {
      return s;
    }
  }
  FAIL("no model ", model, " in the report");
  throw 0; // unreachable
}

// A fresh folder per test, removed afterwards.
class StatsTempDir : public ask::testing::TempDir {
public:
  StatsTempDir() : ask::testing::TempDir("stats_test") {}
};

// A log with three models: fast-9b 4 calls (2 hits, 1 demoted to fast-1b, 1 error),
// think-9b 2 calls, heavy 1 call that nothing served.
std::string sample_log() {
  return line("fast-9b", k_t0, {{"cache_hit", true}, {"latency_s", 0.004}}) +
         line("fast-9b", k_t0 + 10, {{"cache_hit", true}, {"latency_s", 0.003}}) +
         line("fast-9b", k_t0 + 20,
              {{"served_by", "fast-1b"}, {"demoted", true}, {"latency_s", 2.5}}) +
         line("fast-9b", k_t0 + 30, {{"served_by", ""}, {"exit_code", 4}, {"latency_s", 1.0}}) +
         line("think-9b", k_t0 + 40, {{"latency_s", 3.0}}) +
         line("think-9b", k_t0 + 50, {{"latency_s", 5.0}}) +
         line("heavy", k_t0 + 3600, {{"served_by", ""}, {"exit_code", 3}, {"latency_s", 0.01}});
}

} // namespace

TEST_CASE("summarize: counts calls, hits, demotions and errors per requested model") {
  const StatsReport report = run(sample_log());
  CHECK(report.lines == 7);
  CHECK(report.skipped_malformed == 0);
  CHECK(report.skipped_by_time == 0);
  REQUIRE(report.models.size() == 3);

  const ModelSummary& fast = find(report, "fast-9b");
  CHECK(fast.calls == 4);
  CHECK(fast.cache_hits == 2);
  CHECK(fast.demoted == 1);
  CHECK(fast.errors == 1);
  CHECK(fast.hit_rate() == doctest::Approx(0.5));
  CHECK(fast.demotion_rate() == doctest::Approx(0.25));
  CHECK(fast.served_by ==
        std::map<std::string, long long>{{"fast-9b", 2}, {"fast-1b", 1}, {"", 1}});

  const ModelSummary& heavy = find(report, "heavy");
  CHECK(heavy.calls == 1);
  CHECK(heavy.errors == 1);
  CHECK(heavy.served_by == std::map<std::string, long long>{{"", 1}});

  CHECK(report.total.model == "all");
  CHECK(report.total.calls == 7);
  CHECK(report.total.cache_hits == 2);
  CHECK(report.total.errors == 2);
  CHECK(report.total.served_by.at("think-9b") == 2);
  CHECK(report.first_ts == k_t0);
  CHECK(report.last_ts == k_t0 + 3600);
}

TEST_CASE("summarize: models by calls descending, then by name") {
  const std::string log = line("b", k_t0) + line("c", k_t0) + line("c", k_t0) + line("a", k_t0) +
                          line("zz", k_t0) + line("zz", k_t0) + line("zz", k_t0);
  const StatsReport report = run(log);
  REQUIRE(report.models.size() == 4);
  CHECK(report.models[0].model == "zz");
  CHECK(report.models[1].model == "c");
  CHECK(report.models[2].model == "a");
  CHECK(report.models[3].model == "b");
}

TEST_CASE("summarize: nearest-rank percentiles") {
  SUBCASE("1..100: p50 is 50, p95 is 95") {
    std::string log;
    for (int i = 100; i >= 1; --i) { // out of order on purpose
      log += line("m", k_t0 + i, {{"latency_s", i}});
    }
    const StatsReport report = run(log);
    CHECK(report.total.latency_p50_s == 50);
    CHECK(report.total.latency_p95_s == 95);
    CHECK(report.total.miss_latency_p50_s == 50);
    CHECK(report.total.miss_latency_p95_s == 95);
  }
  SUBCASE("one value is every percentile") {
    const StatsReport report = run(line("m", k_t0, {{"latency_s", 0.7}}));
    CHECK(report.total.latency_p50_s == 0.7);
    CHECK(report.total.latency_p95_s == 0.7);
  }
  SUBCASE("two values: p50 the smaller, p95 the larger") {
    const StatsReport report =
        run(line("m", k_t0, {{"latency_s", 2.0}}) + line("m", k_t0, {{"latency_s", 1.0}}));
    CHECK(report.total.latency_p50_s == 1.0);
    CHECK(report.total.latency_p95_s == 2.0);
  }
  SUBCASE("20 values: p95 is the 19th") {
    std::string log;
    for (int i = 1; i <= 20; ++i) {
      log += line("m", k_t0, {{"latency_s", i}});
    }
    CHECK(run(log).total.latency_p95_s == 19);
  }
  SUBCASE("no latencies: 0") {
    const StatsReport report = run(line("m", k_t0, {{"latency_s", nullptr}}));
    CHECK(report.total.calls == 1);
    CHECK(report.total.latency_p50_s == 0);
    CHECK(report.total.miss_latency_p95_s == 0);
  }
}

TEST_CASE("summarize: miss latencies leave cache hits out") {
  const StatsReport report = run(sample_log());
  const ModelSummary& fast = find(report, "fast-9b");
  // All four: 0.003 0.004 1.0 2.5; misses: 1.0 2.5.
  CHECK(fast.latency_p50_s == 0.004);
  CHECK(fast.latency_p95_s == 2.5);
  CHECK(fast.miss_latency_p50_s == 1.0);
  CHECK(fast.miss_latency_p95_s == 2.5);
}

TEST_CASE("summarize: since and until leave lines out by ts, inclusive bounds") {
  const std::string log =
      line("m", k_t0) + line("m", k_t0 + 100) + line("m", k_t0 + 200) + line("m", k_t0 + 300);
  SUBCASE("since") {
    const StatsReport report = run(log, {.since = k_t0 + 100, .until = std::nullopt});
    CHECK(report.total.calls == 3);
    CHECK(report.skipped_by_time == 1);
    CHECK(report.first_ts == k_t0 + 100);
  }
  SUBCASE("until") {
    const StatsReport report = run(log, {.since = std::nullopt, .until = k_t0 + 200});
    CHECK(report.total.calls == 3);
    CHECK(report.last_ts == k_t0 + 200);
  }
  SUBCASE("both") {
    const StatsReport report = run(log, {.since = k_t0 + 50, .until = k_t0 + 250});
    CHECK(report.total.calls == 2);
    CHECK(report.skipped_by_time == 2);
    CHECK(report.lines == 4);
  }
  SUBCASE("nothing in the window") {
    const StatsReport report = run(log, {.since = k_t0 + 1000, .until = std::nullopt});
    CHECK(report.total.calls == 0);
    CHECK(report.models.empty());
    CHECK(report.first_ts == 0);
    CHECK(report.last_ts == 0);
  }
}

TEST_CASE("summarize: malformed lines are skipped and counted, never fatal") {
  const std::string good = line("fast-9b", k_t0);
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"not JSON", "hello world\n"},
      {"JSON array", "[1,2,3]\n"},
      {"JSON string", "\"fast-9b\"\n"},
      {"JSON number", "42\n"},
      {"null", "null\n"},
      {"missing model", R"({"ts":1777978000,"served_by":"fast-9b"})"
                        "\n"},
      {"model not a string", R"({"ts":1777978000,"model":7})"
                             "\n"},
      {"missing ts", R"({"model":"fast-9b"})"
                     "\n"},
      {"ts as a string", R"({"ts":"1777978000","model":"fast-9b"})"
                         "\n"},
      {"ts as a bool", R"({"ts":true,"model":"fast-9b"})"
                       "\n"},
      {"two values on one line", good.substr(0, good.size() - 1) + good},
      {"trailing garbage", R"({"ts":1,"model":"m"} x)"
                           "\n"},
      {"number overflow", R"({"ts":1e400,"model":"m"})"
                          "\n"},
      {"huge nesting", std::string(100000, '[') + "\n"},
      {"nesting just past the limit",
       R"({"ts":1,"model":"m","x":)" + std::string(64, '[') + std::string(64, ']') + "}\n"},
      {"invalid UTF-8", "{\"ts\":1,\"model\":\"fast-\xff\xfe\"}\n"},
      {"a 2 MiB line", R"({"ts":1,"model":"m","pad":")" + std::string(2 << 20, 'x') + "\"}\n"},
  };
  for (const auto& [what, text] : bad) {
    CAPTURE(what);
    const StatsReport report = run(good + text + good);
    CHECK(report.total.calls == 2);
    CHECK(report.skipped_malformed == 1);
    CHECK(report.lines == 3);
  }
}

TEST_CASE("summarize: a truncated last line is malformed, the lines before it count") {
  const std::string log = line("m", k_t0) + line("m", k_t0) + R"({"ts":1777978000,"mod)";
  const StatsReport report = run(log);
  CHECK(report.total.calls == 2);
  CHECK(report.skipped_malformed == 1);
}

TEST_CASE("summarize: a complete last line without a newline counts") {
  std::string log = line("m", k_t0) + line("m", k_t0);
  log.pop_back();
  CHECK(run(log).total.calls == 2);
}

TEST_CASE("summarize: accepted edge cases") {
  SUBCASE("blank lines and CRLF are not counted as lines") {
    std::string crlf = line("m", k_t0);
    crlf.insert(crlf.size() - 1, "\r");
    const StatsReport report = run("\n\n" + line("m", k_t0) + "   \n\r\n" + crlf + "\n");
    CHECK(report.lines == 2);
    CHECK(report.total.calls == 2);
    CHECK(report.skipped_malformed == 0);
  }
  SUBCASE("nesting at the limit parses") {
    const std::string text =
        R"({"ts":1,"model":"m","x":)" + std::string(63, '[') + std::string(63, ']') + "}\n";
    CHECK(run(text).total.calls == 1);
  }
  SUBCASE("brackets inside strings do not count as nesting") {
    const std::string text = R"({"ts":1,"model":"m","error":")" + std::string(500, '[') +
                             R"(\"{{{"})"
                             "\n";
    const StatsReport report = run(text);
    CHECK(report.total.calls == 1);
    CHECK(report.skipped_malformed == 0);
  }
  SUBCASE("integer ts and extra fields") {
    const StatsReport report =
        run(R"({"ts":1777978000,"model":"m","tier":null,"tokens_out":12,"x":{"y":[1]}})"
            "\n");
    CHECK(report.total.calls == 1);
    CHECK(report.first_ts == 1777978000);
  }
  SUBCASE("an empty log") {
    const StatsReport report = run("");
    CHECK(report.lines == 0);
    CHECK(report.models.empty());
  }
}

TEST_CASE("summarize: optional fields of the wrong type count as absent") {
  const std::string log =
      line("m", k_t0,
           {{"latency_s", "0.5"}, {"cache_hit", "true"}, {"demoted", 1}, {"exit_code", "4"}}) +
      line("m", k_t0, {{"served_by", 7}, {"latency_s", -1.0}}) +
      line("m", k_t0, {{"latency_s", 2.0}, {"cache_hit", nullptr}, {"exit_code", 2.5}});
  const StatsReport report = run(log);
  REQUIRE(report.models.size() == 1);
  const ModelSummary& m = report.models[0];
  CHECK(m.calls == 3);
  CHECK(report.skipped_malformed == 0);
  CHECK(m.cache_hits == 0);
  CHECK(m.demoted == 0);
  CHECK(m.errors == 0);
  CHECK(m.served_by == std::map<std::string, long long>{{"m", 2}}); // the 7 is not counted
  CHECK(m.latency_p50_s == 2.0);    // only the third line's latency counts
  CHECK(m.miss_latency_p50_s == 0); // ...and its cache_hit is unknown, so it is no miss
}

TEST_CASE("render_table: rows per model, a total and the period in UTC") {
  const std::string table = render_table(run(sample_log() + "garbage\n"));
  INFO(table);
  CHECK(table.starts_with("ask stats: 2026-05-05 10:46 \u2192 2026-05-05 11:46 (UTC), 7 calls\n"));
  CHECK(table.find("model ") != std::string::npos);
  CHECK(table.find("cache hit") != std::string::npos);
  CHECK(table.find("served by") != std::string::npos);
  // fast-9b: 4 calls, 50.0% hits, 25.0% demoted, 1 error, p50 4 ms, p95 2.50 s.
  const auto fast = table.find("\nfast-9b ");
  REQUIRE(fast != std::string::npos);
  const std::string fast_row = table.substr(fast + 1, table.find('\n', fast + 1) - fast - 1);
  CHECK(fast_row.find("  4  ") != std::string::npos);
  CHECK(fast_row.find("50.0%") != std::string::npos);
  CHECK(fast_row.find("25.0%") != std::string::npos);
  CHECK(fast_row.find("4 ms") != std::string::npos);
  CHECK(fast_row.find("2.50 s") != std::string::npos);
  CHECK(fast_row.ends_with("fast-9b 2, (none) 1, fast-1b 1"));
  CHECK(table.find("\nthink-9b ") != std::string::npos);
  CHECK(table.find("\nall ") != std::string::npos);
  CHECK(table.ends_with("skipped 1 malformed line\n"));
  // Rows come in report order: fast-9b, think-9b, heavy, then all.
  CHECK(table.find("\nfast-9b") < table.find("\nthink-9b"));
  CHECK(table.find("\nthink-9b") < table.find("\nheavy"));
  CHECK(table.find("\nheavy") < table.find("\nall"));
}

TEST_CASE("render_table: columns line up") {
  const std::string table = render_table(run(sample_log()));
  std::istringstream in(table);
  std::string text;
  std::getline(in, text); // the period
  std::vector<std::size_t> calls_end;
  while (std::getline(in, text)) {
    // The name has no space; the calls column is the next word, right-aligned.
    const auto start = text.find_first_not_of(' ', text.find(' '));
    calls_end.push_back(text.find(' ', start));
  }
  REQUIRE(calls_end.size() == 5); // header, three models, all
  for (std::size_t end : calls_end) {
    CHECK(end == calls_end.front());
  }
}

TEST_CASE("render_table: no calls, and names that would drive a terminal") {
  CHECK(render_table(run("")) == "ask stats: no calls recorded\n");
  CHECK(render_table(run("oops\noops\n")) ==
        "ask stats: no calls recorded\nskipped 2 malformed lines\n");
  const std::string table = render_table(run(line("evil\x1b[2J", k_t0, {{"latency_s", 12.345}})));
  CHECK(table.find('\x1b') == std::string::npos);
  CHECK(table.find("evil\\x1b[2J") != std::string::npos);
  CHECK(table.find("12.35 s") != std::string::npos);
  CHECK(table.find(", 1 call\n") != std::string::npos);
}

TEST_CASE("render_table: a model without latencies shows a dash") {
  const std::string table = render_table(run(line("m", k_t0, {{"latency_s", nullptr}})));
  INFO(table);
  CHECK(table.find("  -  ") != std::string::npos);
}

TEST_CASE("to_json: field names and types") {
  const json j = to_json(run(sample_log() + "[]\n", {.since = std::nullopt, .until = k_t0 + 60}));
  CHECK(j["period"]["first_ts"] == k_t0);
  CHECK(j["period"]["last_ts"] == k_t0 + 50);
  CHECK(j["lines"] == 8);
  CHECK(j["skipped"]["malformed"] == 1);
  CHECK(j["skipped"]["by_time"] == 1);
  REQUIRE(j["models"].is_array());
  REQUIRE(j["models"].size() == 2);
  const json& fast = j["models"][0];
  CHECK(fast["model"] == "fast-9b");
  CHECK(fast["calls"].is_number_integer());
  CHECK(fast["calls"] == 4);
  CHECK(fast["served_by"] == json{{"fast-9b", 2}, {"fast-1b", 1}, {"", 1}});
  CHECK(fast["cache_hits"] == 2);
  CHECK(fast["demoted"] == 1);
  CHECK(fast["errors"] == 1);
  CHECK(fast["hit_rate"].is_number_float());
  CHECK(fast["hit_rate"].get<double>() == doctest::Approx(0.5));
  CHECK(fast["demotion_rate"].get<double>() == doctest::Approx(0.25));
  for (const char* key :
       {"latency_p50_s", "latency_p95_s", "miss_latency_p50_s", "miss_latency_p95_s"}) {
    CAPTURE(key);
    CHECK(fast[key].is_number());
  }
  CHECK(fast["miss_latency_p95_s"] == 2.5);
  CHECK(j["total"]["model"] == "all");
  CHECK(j["total"]["calls"] == 6);
}

TEST_CASE("to_json: an empty report has a null period") {
  const json j = to_json(run(""));
  CHECK(j["period"]["first_ts"].is_null());
  CHECK(j["period"]["last_ts"].is_null());
  CHECK(j["models"] == json::array());
  CHECK(j["total"]["calls"] == 0);
  CHECK(j["total"]["hit_rate"] == 0.0);
}

TEST_CASE("summarize_file: reads a file, a missing one is empty, a folder is an error") {
  StatsTempDir dir;
  SUBCASE("a file") {
    const fs::path log = dir.path() / "log.jsonl";
    std::ofstream(log, std::ios::binary) << sample_log() << "not json\n";
    const auto report = summarize_file(log, {});
    REQUIRE(report.has_value());
    CHECK(report->total.calls == 7);
    CHECK(report->skipped_malformed == 1);
  }
  SUBCASE("missing") {
    const auto report = summarize_file(dir.path() / "nope" / "log.jsonl", {});
    REQUIRE(report.has_value());
    CHECK(report->lines == 0);
    CHECK(report->models.empty());
    CHECK(render_table(*report) == "ask stats: no calls recorded\n");
  }
  SUBCASE("a folder") {
    const auto report = summarize_file(dir.path(), {});
    REQUIRE_FALSE(report.has_value());
    CHECK(report.error().kind == ask::core::ErrorKind::internal);
    CHECK(report.error().message ==
          "telemetry: cannot read " + dir.path().string() + ": Is a directory");
  }
  SUBCASE("a path through a file") {
    const fs::path file = dir.path() / "file";
    std::ofstream(file) << "x";
    const auto report = summarize_file(file / "log.jsonl", {});
    REQUIRE_FALSE(report.has_value());
    CHECK(report.error().message.find("Not a directory") != std::string::npos);
  }
}

namespace {

// One failed call of model "m": exit code and error_kind as ask writes them (kind may be any
// JSON value, to test wrong types), with latency 0.001 s.
std::string failed(long long exit_code, const json& kind, double ts = k_t0) {
  return line(
      "m", ts,
      {{"exit_code", exit_code}, {"error_kind", kind}, {"served_by", ""}, {"latency_s", 0.001}});
}

// m: 2 answered (one from the cache), 3 usage errors, 2 interrupted, 5 failures.
std::string outcome_log() {
  return line("m", k_t0, {{"cache_hit", true}, {"latency_s", 0.5}}) +
         line("m", k_t0, {{"latency_s", 0.5}}) + //
         failed(2, "usage") + failed(2, "rejected") +
         failed(2, nullptr) + // an older line without error_kind: by exit code
         failed(130, "interrupted") + failed(130, 7) + // a kind of the wrong type: by exit code
         failed(3, "unreachable") + failed(4, "all_failed") + failed(5, "timeout") +
         failed(1, "other") + failed(4, "something-new"); // an unknown kind: a failure
}

} // namespace

TEST_CASE("summarize: usage errors, interruptions and model failures are counted apart") {
  const StatsReport report = run(outcome_log());
  REQUIRE(report.models.size() == 1);
  const ModelSummary& m = find(report, "m");
  CHECK(m.calls == 12);
  CHECK(m.usage_errors == 3);
  CHECK(m.interrupted == 2);
  CHECK(m.failures == 5);
  CHECK(m.errors == 10);
  // Rates count the 9 calls that were asked, not the 3 mistyped ones.
  CHECK(m.asked() == 9);
  CHECK(m.hit_rate() == doctest::Approx(1.0 / 9));
  CHECK(m.failure_rate() == doctest::Approx(5.0 / 9));
  // Usage errors end at once and stay out of the latencies: 2 calls at 0.5 s, 7 at 0.001 s.
  CHECK(m.latency_p95_s == 0.5);
  CHECK(m.latency_p50_s == 0.001);
  const StatsReport only_usage = run(failed(2, "usage") + failed(2, "rejected"));
  CHECK(only_usage.total.asked() == 0);
  CHECK(only_usage.total.hit_rate() == 0);
  CHECK(only_usage.total.failure_rate() == 0);
  CHECK(only_usage.total.latency_p50_s == 0);
}

TEST_CASE("summarize: a call that failed before a model was chosen counts in the total only") {
  const std::string log = line("", k_t0, {{"exit_code", 2}, {"error_kind", "usage"}}) +
                          line("", k_t0 + 1, {{"exit_code", 2}, {"error_kind", "usage"}}) +
                          line("fast-9b", k_t0 + 2);
  const StatsReport report = run(log);
  REQUIRE(report.models.size() == 1);
  CHECK(report.models[0].model == "fast-9b");
  CHECK(report.without_model == 2);
  CHECK(report.total.calls == 3);
  CHECK(report.total.usage_errors == 2);
  CHECK(report.total.hit_rate() == 0);
  CHECK(report.total.asked() == 1);

  const std::string table = render_table(report);
  INFO(table);
  CHECK(table.find("\n  ") == std::string::npos); // no row with an empty name
  CHECK(table.ends_with("2 calls failed before a model was chosen (counted in all only)\n"));
  const json j = to_json(report);
  CHECK(j["without_model"] == 2);
  CHECK(j["models"].size() == 1);
  CHECK(j["total"]["calls"] == 3);
}

TEST_CASE("render_table and to_json: usage errors and failures in their own columns") {
  const StatsReport report = run(outcome_log());
  const std::string table = render_table(report);
  INFO(table);
  std::istringstream in(table);
  std::string period;
  std::string header;
  std::string row;
  std::getline(in, period);
  std::getline(in, header);
  std::getline(in, row);
  CHECK(header.find("usage") != std::string::npos);
  CHECK(header.find("failed") != std::string::npos);
  CHECK(header.find("errors") == std::string::npos);
  // m  12  11.1%  0.0%  3  5  1 ms  500 ms  (none) 10, m 2
  std::istringstream cells(row);
  std::vector<std::string> words{std::istream_iterator<std::string>(cells),
                                 std::istream_iterator<std::string>()};
  REQUIRE(words.size() >= 6);
  CHECK(words[0] == "m");
  CHECK(words[1] == "12");
  CHECK(words[2] == "11.1%");
  CHECK(words[3] == "0.0%");
  CHECK(words[4] == "3");
  CHECK(words[5] == "5");

  const json j = to_json(report);
  const json& m = j["models"][0];
  CHECK(m["usage_errors"] == 3);
  CHECK(m["interrupted"] == 2);
  CHECK(m["failures"] == 5);
  CHECK(m["errors"] == 10);
  CHECK(m["asked"] == 9);
  CHECK(m["failure_rate"].get<double>() == doctest::Approx(5.0 / 9));
  CHECK(m["hit_rate"].get<double>() == doctest::Approx(1.0 / 9));
  CHECK(j["without_model"] == 0);
}
