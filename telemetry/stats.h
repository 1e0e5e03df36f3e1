#pragma once
// The reader behind `ask stats`: folds ask's telemetry log (one JSON object per line, fields in
// docs/telemetry.md) into a summary per requested model — what one jq query over a week of
// data would tell. The log is untrusted text: malformed lines, wrong types and missing fields
// are counted and skipped, never fatal.

#include <filesystem>
#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace ask::telemetry {

struct StatsOptions {
  std::optional<double> since; // unix seconds: lines with an earlier "ts" are left out
  std::optional<double> until; // unix seconds: lines with a later "ts" are left out
};

struct ModelSummary {
  std::string model; // the requested model ("model" field)
  long long calls = 0;
  std::map<std::string, long long> served_by; // "served_by" → calls ("" when none served)
  long long cache_hits = 0;                   // cache_hit == true
  long long demoted = 0;                      // demoted == true
  // Failed calls (exit_code != 0), by whose fault, from error_kind (or, when a line has
  // none or an unknown one, from exit_code: 2 usage, 130 interrupted, others failures):
  long long usage_errors = 0; // "usage", "rejected": the caller's request was wrong
  long long interrupted = 0;  // "interrupted": the user stopped it; nobody failed
  long long failures = 0;     // "unreachable", "all_failed", "timeout", "other": askd or
                              // the models failed
  long long errors = 0;       // all three: exit_code != 0
  // Latency in seconds: nearest-rank percentiles over the calls that were asked (usage
  // errors left out: they end before any lookup), and over those that went to askd
  // (cache_hit false); 0 when there are none.
  double latency_p50_s = 0;
  double latency_p95_s = 0;
  double miss_latency_p50_s = 0;
  double miss_latency_p95_s = 0;
  // Calls that reached the cache or a model: the rates' denominator, so that mistyped
  // command lines do not dilute the hit rate or inflate the failure rate.
  long long asked() const { return calls - usage_errors; }
  double hit_rate() const { return rate(cache_hits); }
  double demotion_rate() const { return rate(demoted); }
  double failure_rate() const { return rate(failures); }

private:
  double rate(long long n) const { return asked() > 0 ? double(n) / double(asked()) : 0; }
};

struct StatsReport {
  std::vector<ModelSummary> models; // by calls, descending, then name
  ModelSummary total;               // every counted line; model "all"
  long long lines = 0;              // non-empty lines read
  long long skipped_malformed = 0;  // not JSON, not an object, or a required field missing or
                                    // of the wrong type (model string, ts number)
  long long skipped_by_time = 0;    // outside since/until
  long long without_model = 0;      // counted calls with model "" (failed before a model was
                                    // chosen): in `total`, in no row of `models`
  double first_ts = 0;              // of counted lines; 0 when none
  double last_ts = 0;
};

// Reads lines from `in`. Required per line: "ts" (number) and "model" (string); the other
// fields count when present with the documented type and are treated as absent otherwise.
StatsReport summarize(std::istream& in, const StatsOptions& options);
// Opens `log` and summarizes it; a missing file is an empty report (no calls yet), an
// unreadable one an internal error naming the path and the reason.
core::Result<StatsReport> summarize_file(const std::filesystem::path& log,
                                         const StatsOptions& options);

// The report as a table for a terminal: one row per model (calls, hit rate, demotion rate,
// usage errors, failures, p50/p95 latency, served-by breakdown like "fast-9b 41, fast-1b 2")
// and a total row, plus a first line naming the period, and lines for skipped lines and
// calls without a model when there were any.
std::string render_table(const StatsReport& report);
// The report for `ask stats --json`: {"period":{"first_ts","last_ts"},"lines","skipped":{...},
// "without_model","models":[{...}],"total":{...}} with the fields of ModelSummary and asked,
// hit_rate, demotion_rate, failure_rate.
nlohmann::json to_json(const StatsReport& report);

} // namespace ask::telemetry
