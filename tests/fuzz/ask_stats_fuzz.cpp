// libFuzzer target: `ask stats` reads a telemetry log that anything may have written to (a
// full disk, an editor, another program). summarize() must never crash, must account for
// every non-blank line (counted, skipped as malformed, or outside the period), and its
// table and JSON must render whatever it found.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>

#include "telemetry/stats.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  std::istringstream in(text);
  ask::telemetry::StatsOptions options;
  if (size > 0 && (data[0] & 1)) {
    options.since = 1.7e9; // exercise the period filter too
  }
  const ask::telemetry::StatsReport report = ask::telemetry::summarize(in, options);
  long long per_model = 0;
  for (const auto& m : report.models) {
    per_model += m.calls;
  }
  if (per_model != report.total.calls ||
      report.total.calls + report.skipped_malformed + report.skipped_by_time != report.lines) {
    std::fprintf(stderr, "lines not accounted for: %lld lines, %lld counted, %lld malformed, "
                         "%lld out of period, %lld per model\n",
                 report.lines, report.total.calls, report.skipped_malformed,
                 report.skipped_by_time, per_model);
    std::abort();
  }
  (void)ask::telemetry::render_table(report);
  (void)ask::telemetry::to_json(report).dump();
  return 0;
}
