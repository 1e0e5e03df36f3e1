#include "telemetry/stats.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <istream>
#include <sstream>
#include <streambuf>
#include <utility>

#include <sys/stat.h>

#include "core/excerpt.h"
#include "core/json_text.h"

namespace ask::telemetry {
namespace {

using nlohmann::json;

// Lines longer than this are counted as malformed without being parsed (or kept whole).
constexpr std::size_t k_max_line_bytes = std::size_t{1} << 20;
// Deeper nesting is malformed: no line ask writes nests at all, and the limit keeps a hostile
// line away from the recursive parts of nlohmann::json.
constexpr int k_max_line_depth = 64;
// Model names in the table are cut to this many bytes.
constexpr std::size_t k_max_name_bytes = 48;

// One model's counters plus the latencies its percentiles come from.
struct Accumulator {
  ModelSummary summary;
  std::vector<double> latencies;      // every call with a latency
  std::vector<double> miss_latencies; // calls with cache_hit false
};

// How a call ended, for the counters: see ModelSummary.
enum class StatsOutcome { ok, usage_error, interrupted, failure };

// From error_kind when it is one ask writes, else from the exit code (older lines, edits).
StatsOutcome stats_outcome_of(long long exit_code, const std::optional<std::string>& kind) {
  if (exit_code == 0) {
    return StatsOutcome::ok;
  }
  if (kind) {
    if (*kind == "usage" || *kind == "rejected" || *kind == "context") {
      return StatsOutcome::usage_error;
    }
    if (*kind == "interrupted") {
      return StatsOutcome::interrupted;
    }
    if (*kind == "unreachable" || *kind == "all_failed" || *kind == "timeout" || *kind == "other") {
      return StatsOutcome::failure;
    }
  }
  constexpr long long k_usage_exit = 2;
  constexpr long long k_interrupted_exit = 130;
  return exit_code == k_usage_exit         ? StatsOutcome::usage_error
         : exit_code == k_interrupted_exit ? StatsOutcome::interrupted
                                           : StatsOutcome::failure;
}

// The fields of one line that the report uses; optional ones are empty when absent or of the
// wrong type.
struct Call {
  double ts = 0;
  std::string model;
  std::optional<std::string> served_by;
  std::optional<double> latency_s;
  std::optional<bool> cache_hit;
  bool demoted = false;
  StatsOutcome outcome = StatsOutcome::ok;
};

// Reads the next line into `line`, without its '\n'. A line longer than k_max_line_bytes is
// consumed whole but only its first k_max_line_bytes + 1 bytes are kept, so one endless line
// cannot take all memory. False at the end of the input (a last line without '\n' counts).
bool read_line(std::istream& in, std::string& line) {
  line.clear();
  std::streambuf* buf = in.rdbuf();
  if (buf == nullptr || !in.good()) {
    return false;
  }
  bool any = false;
  for (;;) {
    const int c = buf->sbumpc();
    if (c == std::char_traits<char>::eof()) {
      in.setstate(std::ios::eofbit);
      return any;
    }
    any = true;
    if (c == '\n') {
      return true;
    }
    if (line.size() <= k_max_line_bytes) {
      line.push_back(static_cast<char>(c));
    }
  }
}

bool is_blank(const std::string& line) {
  return line.find_first_not_of(" \t\r") == std::string::npos;
}

// The call a line records, or nullopt when the line is malformed: too long, too deep, not
// JSON, not an object, or without a number "ts" and a string "model".
std::optional<Call> parse_call(const std::string& line) {
  if (line.size() > k_max_line_bytes || core::detail::nesting_depth(line) > k_max_line_depth) {
    return std::nullopt;
  }
  const json value = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded() || !value.is_object()) {
    return std::nullopt;
  }
  const auto ts = value.find("ts");
  const auto model = value.find("model");
  if (ts == value.end() || !ts->is_number() || model == value.end() || !model->is_string()) {
    return std::nullopt;
  }
  Call call;
  call.ts = ts->get<double>();
  call.model = model->get<std::string>();
  if (const auto it = value.find("served_by"); it != value.end() && it->is_string()) {
    call.served_by = it->get<std::string>();
  }
  // A negative latency is as meaningless as a missing one; NaN cannot occur in JSON text.
  if (const auto it = value.find("latency_s");
      it != value.end() && it->is_number() && it->get<double>() >= 0) {
    call.latency_s = it->get<double>();
  }
  if (const auto it = value.find("cache_hit"); it != value.end() && it->is_boolean()) {
    call.cache_hit = it->get<bool>();
  }
  if (const auto it = value.find("demoted"); it != value.end() && it->is_boolean()) {
    call.demoted = it->get<bool>();
  }
  if (const auto it = value.find("exit_code"); it != value.end() && it->is_number_integer()) {
    std::optional<std::string> kind;
    if (const auto k = value.find("error_kind"); k != value.end() && k->is_string()) {
      kind = k->get<std::string>();
    }
    call.outcome = stats_outcome_of(it->get<long long>(), kind);
  }
  return call;
}

void add(Accumulator& acc, const Call& call) {
  ModelSummary& s = acc.summary;
  ++s.calls;
  // A line without a string served_by says nothing about who answered: it is left out of
  // the breakdown rather than counted as "" (nobody answered).
  if (call.served_by) {
    ++s.served_by[*call.served_by];
  }
  s.cache_hits += call.cache_hit.value_or(false) ? 1 : 0;
  s.demoted += call.demoted ? 1 : 0;
  s.usage_errors += call.outcome == StatsOutcome::usage_error ? 1 : 0;
  s.interrupted += call.outcome == StatsOutcome::interrupted ? 1 : 0;
  s.failures += call.outcome == StatsOutcome::failure ? 1 : 0;
  s.errors += call.outcome != StatsOutcome::ok ? 1 : 0;
  if (call.latency_s && call.outcome != StatsOutcome::usage_error) {
    acc.latencies.push_back(*call.latency_s);
    if (call.cache_hit == false) {
      acc.miss_latencies.push_back(*call.latency_s);
    }
  }
}

// The nearest-rank percentile: the ceil(pct/100 * n)-th smallest value (1-based), so every
// result is a value that occurred. For 1..100 that makes p50 = 50 and p95 = 95; for one value
// every percentile is that value; for {a, b} p50 = a and p95 = b. The rank is computed in
// integers so that 0.95 * 100 cannot round up to 96. 0 when there are no values. Sorts.
double percentile(std::vector<double>& values, int pct) {
  if (values.empty()) {
    return 0;
  }
  std::sort(values.begin(), values.end());
  const auto n = static_cast<long long>(values.size());
  const long long rank = std::clamp((pct * n + 99) / 100, 1LL, n);
  return values[static_cast<std::size_t>(rank - 1)];
}

ModelSummary finish(Accumulator& acc) {
  ModelSummary s = std::move(acc.summary);
  s.latency_p50_s = percentile(acc.latencies, 50);
  s.latency_p95_s = percentile(acc.latencies, 95);
  s.miss_latency_p50_s = percentile(acc.miss_latencies, 50);
  s.miss_latency_p95_s = percentile(acc.miss_latencies, 95);
  return s;
}

} // namespace

StatsReport summarize(std::istream& in, const StatsOptions& options) {
  StatsReport report;
  std::map<std::string, Accumulator> per_model;
  Accumulator total;
  total.summary.model = "all";
  std::string line;
  while (read_line(in, line)) {
    if (is_blank(line)) {
      continue;
    }
    ++report.lines;
    const std::optional<Call> call = parse_call(line);
    if (!call) {
      ++report.skipped_malformed;
      continue;
    }
    if ((options.since && call->ts < *options.since) ||
        (options.until && call->ts > *options.until)) {
      ++report.skipped_by_time;
      continue;
    }
    const bool first = total.summary.calls == 0;
    report.first_ts = first ? call->ts : std::min(report.first_ts, call->ts);
    report.last_ts = first ? call->ts : std::max(report.last_ts, call->ts);
    add(total, *call);
    if (call->model.empty()) {
      ++report.without_model; // failed before a model was chosen: no row of its own
      continue;
    }
    Accumulator& acc = per_model[call->model];
    acc.summary.model = call->model;
    add(acc, *call);
  }
  report.models.reserve(per_model.size());
  for (auto& [name, acc] : per_model) {
    report.models.push_back(finish(acc));
  }
  // per_model is ordered by name, so a stable sort by calls keeps names ascending on ties.
  std::stable_sort(report.models.begin(), report.models.end(),
                   [](const ModelSummary& a, const ModelSummary& b) { return a.calls > b.calls; });
  report.total = finish(total);
  return report;
}

core::Result<StatsReport> summarize_file(const std::filesystem::path& log,
                                         const StatsOptions& options) {
  const auto failure = [&log](int err) {
    return core::fail(core::Error::internal("telemetry: cannot read " + log.string() + ": " +
                                            std::strerror(err)));
  };
  struct stat st {};
  if (::stat(log.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT) {
      return StatsReport{}; // no call logged yet
    }
    return failure(err);
  }
  if (S_ISDIR(st.st_mode)) {
    return failure(EISDIR);
  }
  std::ifstream in(log, std::ios::binary);
  if (!in.is_open()) {
    const int err = errno;
    if (err == ENOENT) {
      return StatsReport{}; // removed between stat and open
    }
    return failure(err != 0 ? err : EIO);
  }
  StatsReport report = summarize(in, options);
  if (in.bad()) {
    return failure(EIO);
  }
  return report;
}

namespace {

// "1,234,567".
std::string with_thousands(long long n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) {
      out.push_back(',');
    }
    out.push_back(digits[i]);
  }
  return n < 0 ? "-" + out : out;
}

// "2026-11-15 08:00", in UTC.
std::string utc_minute(double ts) {
  const auto t = static_cast<std::time_t>(std::floor(ts));
  std::tm tm{};
  if (::gmtime_r(&t, &tm) == nullptr) {
    return "?";
  }
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", &tm);
  return buf;
}

// "61.2%".
std::string percent(double rate) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", rate * 100);
  return buf;
}

// "4 ms" below a second, "2.31 s" from there on.
std::string latency(double seconds) {
  char buf[32];
  const double ms = std::round(seconds * 1000);
  if (ms < 1000) {
    std::snprintf(buf, sizeof buf, "%.0f ms", ms);
  } else {
    std::snprintf(buf, sizeof buf, "%.2f s", seconds);
  }
  return buf;
}

// Names come from an untrusted file: control bytes and broken UTF-8 are escaped so they
// cannot drive the terminal, and long names are cut.
std::string printable_name(const std::string& name) {
  return core::printable_excerpt(name, k_max_name_bytes);
}

// Columns on a terminal: code points, which is right for the names ask's configs use.
std::size_t display_width(const std::string& text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

std::string pad_right(const std::string& text, std::size_t width) {
  const std::size_t w = display_width(text);
  return w >= width ? text : text + std::string(width - w, ' ');
}

std::string pad_left(const std::string& text, std::size_t width) {
  const std::size_t w = display_width(text);
  return w >= width ? text : std::string(width - w, ' ') + text;
}

// "fast-9b 803, fast-1b 9": by calls, descending, then name; "(none)" for "".
std::string served_by_text(const ModelSummary& s) {
  std::vector<std::pair<std::string, long long>> rows(s.served_by.begin(), s.served_by.end());
  std::stable_sort(rows.begin(), rows.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  std::string out;
  for (const auto& [name, count] : rows) {
    out += out.empty() ? "" : ", ";
    out +=
        (name.empty() ? std::string("(none)") : printable_name(name)) + " " + std::to_string(count);
  }
  return out;
}

// The cells of one row, in column order.
std::vector<std::string> row_cells(const ModelSummary& s) {
  // Both percentiles 0 means no call had a latency (a real call never takes 0.000 s).
  const bool no_latency = s.latency_p50_s == 0 && s.latency_p95_s == 0;
  return {printable_name(s.model),
          std::to_string(s.calls),
          percent(s.hit_rate()),
          percent(s.demotion_rate()),
          std::to_string(s.usage_errors),
          std::to_string(s.failures),
          no_latency ? "-" : latency(s.latency_p50_s),
          no_latency ? "-" : latency(s.latency_p95_s),
          served_by_text(s)};
}

} // namespace

std::string render_table(const StatsReport& report) {
  std::ostringstream out;
  const std::string skipped = report.skipped_malformed == 0
                                  ? ""
                                  : "skipped " + with_thousands(report.skipped_malformed) +
                                        " malformed line" +
                                        (report.skipped_malformed == 1 ? "" : "s") + "\n";
  if (report.total.calls == 0) {
    out << "ask stats: no calls recorded\n" << skipped;
    return out.str();
  }
  out << "ask stats: " << utc_minute(report.first_ts) << " \u2192 " << utc_minute(report.last_ts)
      << " (UTC), " << with_thousands(report.total.calls)
      << (report.total.calls == 1 ? " call\n" : " calls\n");

  std::vector<std::vector<std::string>> rows;
  rows.push_back(
      {"model", "calls", "cache hit", "demoted", "usage", "failed", "p50", "p95", "served by"});
  for (const ModelSummary& s : report.models) {
    rows.push_back(row_cells(s));
  }
  rows.push_back(row_cells(report.total));

  const std::size_t columns = rows.front().size();
  std::vector<std::size_t> widths(columns, 0);
  for (const auto& row : rows) {
    for (std::size_t c = 0; c < columns; ++c) {
      widths[c] = std::max(widths[c], display_width(row[c]));
    }
  }
  for (const auto& row : rows) {
    std::string text = pad_right(row[0], widths[0]);
    for (std::size_t c = 1; c + 1 < columns; ++c) { // numbers: right-aligned
      text += "  " + pad_left(row[c], widths[c]);
    }
    text += "  " + row[columns - 1];
    text.erase(text.find_last_not_of(' ') + 1);
    out << text << '\n';
  }
  if (report.without_model > 0) {
    out << with_thousands(report.without_model) << (report.without_model == 1 ? " call" : " calls")
        << " failed before a model was chosen (counted in all only)\n";
  }
  out << skipped;
  return out.str();
}

namespace {

json summary_json(const ModelSummary& s) {
  json served = json::object();
  for (const auto& [name, count] : s.served_by) {
    served[name] = count;
  }
  return {{"model", s.model},
          {"calls", s.calls},
          {"served_by", std::move(served)},
          {"cache_hits", s.cache_hits},
          {"demoted", s.demoted},
          {"errors", s.errors},
          {"usage_errors", s.usage_errors},
          {"interrupted", s.interrupted},
          {"failures", s.failures},
          {"asked", s.asked()},
          {"hit_rate", s.hit_rate()},
          {"demotion_rate", s.demotion_rate()},
          {"failure_rate", s.failure_rate()},
          {"latency_p50_s", s.latency_p50_s},
          {"latency_p95_s", s.latency_p95_s},
          {"miss_latency_p50_s", s.miss_latency_p50_s},
          {"miss_latency_p95_s", s.miss_latency_p95_s}};
}

} // namespace

nlohmann::json to_json(const StatsReport& report) {
  json models = json::array();
  for (const ModelSummary& s : report.models) {
    models.push_back(summary_json(s));
  }
  const bool any = report.total.calls > 0;
  return {
      {"period",
       {{"first_ts", any ? json(report.first_ts) : json(nullptr)},
        {"last_ts", any ? json(report.last_ts) : json(nullptr)}}},
      {"lines", report.lines},
      {"skipped", {{"malformed", report.skipped_malformed}, {"by_time", report.skipped_by_time}}},
      {"without_model", report.without_model},
      {"models", std::move(models)},
      {"total", summary_json(report.total)}};
}

} // namespace ask::telemetry
