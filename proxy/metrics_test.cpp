#include "proxy/metrics.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

using namespace ask::proxy;

namespace {

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    if (end == std::string_view::npos) {
      lines.push_back(text);
      break;
    }
    lines.push_back(text.substr(0, end));
    text.remove_prefix(end + 1);
  }
  return lines;
}

bool is_name(std::string_view name, bool allow_colon) {
  if (name.empty()) {
    return false;
  }
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (allow_colon && c == ':');
    if (!letter && !(c >= '0' && c <= '9' && i > 0)) {
      return false;
    }
  }
  return true;
}

bool is_value(std::string_view text) {
  if (text == "+Inf" || text == "-Inf" || text == "NaN") {
    return true;
  }
  if (text.empty()) {
    return false;
  }
  const std::string copy(text);
  char* end = nullptr;
  std::strtod(copy.c_str(), &end);
  return end == copy.c_str() + copy.size() && copy.find_first_of("iInN") == std::string::npos;
}

std::string_view take_name(std::string_view& rest, bool allow_colon) {
  size_t n = 0;
  while (n < rest.size() && is_name(rest.substr(0, n + 1), allow_colon)) {
    ++n;
  }
  const std::string_view name = rest.substr(0, n);
  rest.remove_prefix(n);
  return name;
}

// A tiny checker for the text exposition format 0.0.4: every line is a HELP, a TYPE or a
// sample with valid names, quoted and escaped label values and a float value; a sample's
// family was typed before it, families are contiguous, histogram samples use _bucket (with
// le), _sum and _count. check() returns the first problem, or "" when the text is valid.
class ExpositionChecker {
public:
  std::string check(std::string_view text) {
    if (!text.empty() && text.back() != '\n') {
      return "text does not end with a newline";
    }
    for (const std::string_view line : split_lines(text)) {
      std::string problem;
      if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
        problem = comment(line);
      } else if (!line.starts_with("#")) { // other comments are allowed
        problem = sample(line);
      }
      if (!problem.empty()) {
        return problem + " in line: " + std::string(line);
      }
    }
    return "";
  }

private:
  std::string comment(std::string_view line) {
    std::string_view rest = line.substr(7);
    const std::string name(take_name(rest, true));
    if (name.empty() || (!rest.empty() && rest.front() != ' ')) {
      return "bad metric name";
    }
    if (line[2] == 'H') {
      if (!m_helps.insert(name).second) {
        return "second HELP";
      }
      for (size_t i = 0; i < rest.size(); ++i) {
        if (rest[i] == '\\') {
          if (i + 1 == rest.size() || (rest[i + 1] != '\\' && rest[i + 1] != 'n')) {
            return "bad escape in HELP";
          }
          ++i;
        }
      }
      return "";
    }
    static const std::set<std::string_view> k_types = {"counter", "gauge", "histogram", "summary",
                                                       "untyped"};
    if (rest.size() < 2 || !k_types.contains(rest.substr(1))) {
      return "bad type";
    }
    if (m_types.contains(name)) {
      return "second TYPE";
    }
    if (m_finished.contains(name) || m_current == name) {
      return "TYPE after samples";
    }
    m_types.emplace(name, std::string(rest.substr(1)));
    return "";
  }

  // Reads `{name="value",...}` into `labels`.
  static std::string label_set(std::string_view& rest, std::set<std::string, std::less<>>& labels) {
    rest.remove_prefix(1);
    while (!rest.empty() && rest.front() != '}') {
      const std::string label(take_name(rest, false));
      if (label.empty() || !rest.starts_with("=\"")) {
        return "bad label";
      }
      if (!labels.insert(label).second) {
        return "duplicate label";
      }
      rest.remove_prefix(2);
      bool closed = false;
      while (!rest.empty() && !closed) {
        const char c = rest.front();
        rest.remove_prefix(1);
        closed = c == '"';
        if (c == '\\') {
          if (rest.empty() ||
              (rest.front() != '\\' && rest.front() != '"' && rest.front() != 'n')) {
            return "bad escape in label value";
          }
          rest.remove_prefix(1);
        }
      }
      if (!closed) {
        return "unterminated label value";
      }
      if (rest.starts_with(",")) {
        rest.remove_prefix(1);
      } else if (!rest.starts_with("}")) {
        return "expected , or }";
      }
    }
    if (rest.empty()) {
      return "unterminated label set";
    }
    rest.remove_prefix(1);
    return "";
  }

  std::string sample(std::string_view line) {
    std::string_view rest = line;
    const std::string_view name = take_name(rest, true);
    if (name.empty()) {
      return "bad sample name";
    }
    std::set<std::string, std::less<>> labels;
    if (rest.starts_with("{")) {
      if (auto problem = label_set(rest, labels); !problem.empty()) {
        return problem;
      }
    }
    if (!rest.starts_with(" ")) {
      return "expected a space before the value";
    }
    rest.remove_prefix(1);
    const size_t space = rest.find(' ');
    if (!is_value(rest.substr(0, space))) {
      return "bad value";
    }
    if (space != std::string_view::npos) {
      const std::string_view stamp = rest.substr(space + 1);
      if (stamp.empty() || stamp.find_first_not_of("-0123456789") != std::string_view::npos) {
        return "bad timestamp";
      }
    }
    return belongs(name, labels.contains("le"));
  }

  // Checks the sample's family was typed, fits its type, and is not split by another family.
  std::string belongs(std::string_view name, bool has_le) {
    std::string family(name);
    std::string suffix;
    for (const std::string_view s : {"_bucket", "_sum", "_count"}) {
      if (name.ends_with(s)) {
        const std::string base(name.substr(0, name.size() - s.size()));
        const auto it = m_types.find(base);
        if (it != m_types.end() && (it->second == "histogram" || it->second == "summary")) {
          family = base;
          suffix = s;
        }
      }
    }
    const auto type = m_types.find(family);
    if (type == m_types.end()) {
      return "sample without a TYPE";
    }
    if (type->second == "histogram" && suffix.empty()) {
      return "histogram sample without _bucket, _sum or _count";
    }
    if (type->second == "histogram" && (suffix == "_bucket") != has_le) {
      return "le belongs on _bucket samples only";
    }
    if (family != m_current) {
      if (m_finished.contains(family)) {
        return "family's samples are not contiguous";
      }
      if (!m_current.empty()) {
        m_finished.insert(m_current);
      }
      m_current = family;
    }
    return "";
  }

  std::map<std::string, std::string, std::less<>> m_types;
  std::set<std::string, std::less<>> m_helps;
  std::set<std::string, std::less<>> m_finished; // families whose samples are over
  std::string m_current;                         // the family whose samples come now
};

std::string check_exposition(std::string_view text) {
  return ExpositionChecker().check(text);
}

// The value of the sample whose name and labels are exactly `series`; NaN when absent.
double sample(const std::string& text, std::string_view series) {
  for (const std::string_view line : split_lines(text)) {
    if (line.size() > series.size() && line.starts_with(series) && line[series.size()] == ' ') {
      return std::strtod(std::string(line.substr(series.size() + 1)).c_str(), nullptr);
    }
  }
  return std::nan("");
}

bool has_line(const std::string& text, std::string_view wanted) {
  const auto lines = split_lines(text);
  return std::find(lines.begin(), lines.end(), wanted) != lines.end();
}

} // namespace

TEST_CASE("Metrics: a small registry renders exactly, families and series sorted") {
  Registry registry;
  // Added out of order, so the sorting shows.
  auto& latency =
      registry.add_histogram("app_latency_seconds", "Request latency.", {"route"}, {0.1, 1, 10});
  auto& hits = registry.add_counter("app_hits_total", "Hits by path and code.", {"path", "code"});
  auto& queue = registry.add_gauge("app_queue", "Waiting.", {"name"});
  auto& plain = registry.add_counter("app_boots_total", "Boots.", {});
  registry.add_gauge("app_empty", "Never set.", {"x"});

  hits.inc({"/b", "200"});
  hits.inc({"/a", "500"}, 2);
  hits.inc({"/a", "200"});
  hits.inc({"/a", "200"});
  queue.set({"z"}, 3);
  queue.inc({"a"});
  queue.dec({"a"});
  plain.inc({});
  latency.observe({"/x"}, 0.0625);
  latency.observe({"/x"}, 1);    // on a bound: le is inclusive
  latency.observe({"/x"}, 42.5); // past the last bound: +Inf only

  const std::string expected = "# HELP app_boots_total Boots.\n"
                               "# TYPE app_boots_total counter\n"
                               "app_boots_total 1\n"
                               "# HELP app_empty Never set.\n"
                               "# TYPE app_empty gauge\n"
                               "# HELP app_hits_total Hits by path and code.\n"
                               "# TYPE app_hits_total counter\n"
                               "app_hits_total{path=\"/a\",code=\"200\"} 2\n"
                               "app_hits_total{path=\"/a\",code=\"500\"} 2\n"
                               "app_hits_total{path=\"/b\",code=\"200\"} 1\n"
                               "# HELP app_latency_seconds Request latency.\n"
                               "# TYPE app_latency_seconds histogram\n"
                               "app_latency_seconds_bucket{route=\"/x\",le=\"0.1\"} 1\n"
                               "app_latency_seconds_bucket{route=\"/x\",le=\"1\"} 2\n"
                               "app_latency_seconds_bucket{route=\"/x\",le=\"10\"} 2\n"
                               "app_latency_seconds_bucket{route=\"/x\",le=\"+Inf\"} 3\n"
                               "app_latency_seconds_sum{route=\"/x\"} 43.5625\n"
                               "app_latency_seconds_count{route=\"/x\"} 3\n"
                               "# HELP app_queue Waiting.\n"
                               "# TYPE app_queue gauge\n"
                               "app_queue{name=\"a\"} 0\n"
                               "app_queue{name=\"z\"} 3\n";
  const std::string rendered = registry.render();
  CHECK(rendered == expected);
  CHECK(check_exposition(rendered) == "");
}

TEST_CASE("Metrics: label values escape backslash, double quote and newline - HELP too") {
  Registry registry;
  auto& counter = registry.add_counter("x_total", "Line one\nback\\slash \"quoted\".", {"v"});
  counter.inc({"a\\b\"c\nd"});
  counter.inc({"plain"});
  const std::string rendered = registry.render();
  CHECK(rendered == "# HELP x_total Line one\\nback\\\\slash \"quoted\".\n"
                    "# TYPE x_total counter\n"
                    "x_total{v=\"a\\\\b\\\"c\\nd\"} 1\n"
                    "x_total{v=\"plain\"} 1\n");
  CHECK(check_exposition(rendered) == "");
  CHECK(escape_label_value("") == "");
  CHECK(escape_label_value("caf\xc3\xa9 {}=,") == "caf\xc3\xa9 {}=,");
  // Escaped values stay distinct series: the key is not confused by separators.
  counter.inc({"a\\b\"c\nd"});
  CHECK(counter.value({"a\\b\"c\nd"}) == 2);
  CHECK(counter.value({"plain"}) == 1);
}

TEST_CASE("Metrics: label sets that would collide when joined stay apart") {
  Registry registry;
  auto& counter = registry.add_counter("pair_total", "Pairs.", {"a", "b"});
  counter.inc({"ab", "c"});
  counter.inc({"a", "bc"});
  counter.inc({std::string_view("a\0b", 3), ""});
  CHECK(counter.value({"ab", "c"}) == 1);
  CHECK(counter.value({"a", "bc"}) == 1);
  CHECK(counter.value({"a", "b"}) == 0);
}

TEST_CASE("Metrics: histogram buckets are cumulative, with sum and count") {
  HistogramFamily histogram("h_seconds", "H.", {"m"}, {0.5, 1, 2});
  for (const double v : {0.1, 0.5, 0.7, 1.0, 1.5, 3.0, 100.0, -1.0}) {
    histogram.observe({"a"}, v);
  }
  histogram.observe({"a"}, std::nan("")); // ignored
  histogram.observe({"b"}, 1.5);

  const auto a = histogram.snapshot({"a"});
  CHECK(a.cumulative == std::vector<unsigned long long>{3, 5, 6, 8});
  CHECK(a.count == 8);
  CHECK(a.sum == doctest::Approx(105.8));
  const auto b = histogram.snapshot({"b"});
  CHECK(b.cumulative == std::vector<unsigned long long>{0, 0, 1, 1});
  CHECK(b.sum == 1.5);
  const auto none = histogram.snapshot({"never"});
  CHECK(none.cumulative == std::vector<unsigned long long>{0, 0, 0, 0});
  CHECK(none.count == 0);

  std::string rendered;
  histogram.render(rendered);
  CHECK(has_line(rendered, "h_seconds_bucket{m=\"a\",le=\"0.5\"} 3"));
  CHECK(has_line(rendered, "h_seconds_bucket{m=\"a\",le=\"1\"} 5"));
  CHECK(has_line(rendered, "h_seconds_bucket{m=\"a\",le=\"2\"} 6"));
  CHECK(has_line(rendered, "h_seconds_bucket{m=\"a\",le=\"+Inf\"} 8"));
  CHECK(has_line(rendered, "h_seconds_count{m=\"a\"} 8"));
  CHECK(sample(rendered, "h_seconds_sum{m=\"a\"}") == doctest::Approx(105.8));
  CHECK(has_line(rendered, "h_seconds_bucket{m=\"b\",le=\"2\"} 1"));
  CHECK(check_exposition(rendered) == "");
}

TEST_CASE("Metrics: values format the way Prometheus reads them") {
  CHECK(format_value(3) == "3");
  CHECK(format_value(0) == "0");
  CHECK(format_value(0.25) == "0.25");
  CHECK(format_value(0.005) == "0.005");
  CHECK(format_value(1e-05) == "1e-05");
  CHECK(format_value(123456789012.0) == "123456789012");
  CHECK(format_value(-2.5) == "-2.5");
  CHECK(format_value(INFINITY) == "+Inf");
  CHECK(format_value(-INFINITY) == "-Inf");
  CHECK(format_value(std::nan("")) == "NaN");
}

TEST_CASE("Metrics: bad names, labels, buckets and label counts are refused") {
  CHECK_THROWS_AS(CounterFamily("no_suffix", "h", {}), std::invalid_argument);
  CHECK_THROWS_AS(CounterFamily("9bad_total", "h", {}), std::invalid_argument);
  CHECK_THROWS_AS(CounterFamily("bad-name_total", "h", {}), std::invalid_argument);
  CHECK_THROWS_AS(GaugeFamily("g", "h", {"ok", "bad-label"}), std::invalid_argument);
  CHECK_THROWS_AS(GaugeFamily("g", "h", {"__reserved"}), std::invalid_argument);
  CHECK_THROWS_AS(GaugeFamily("g", "h", {"a", "a"}), std::invalid_argument);
  CHECK_THROWS_AS(HistogramFamily("h", "h", {"le"}, {1}), std::invalid_argument);
  CHECK_THROWS_AS(HistogramFamily("h", "h", {}, {1, 1}), std::invalid_argument);
  CHECK_THROWS_AS(HistogramFamily("h", "h", {}, {2, 1}), std::invalid_argument);
  CHECK_THROWS_AS(HistogramFamily("h", "h", {}, {1, INFINITY}), std::invalid_argument);
  CHECK_NOTHROW(GaugeFamily("ns:g", "h", {"a_1"}));

  Registry registry;
  auto& counter = registry.add_counter("c_total", "h", {"a", "b"});
  CHECK_THROWS_AS(registry.add_gauge("c_total", "h", {}), std::invalid_argument);
  CHECK_THROWS_AS(counter.inc({"only-one"}), std::invalid_argument);
  CHECK_THROWS_AS(counter.inc({"a", "b", "c"}), std::invalid_argument);
}

TEST_CASE("Metrics: a counter ignores negative and NaN increments") {
  CounterFamily counter("c_total", "h", {});
  counter.inc({}, 5);
  counter.inc({}, -3);
  counter.inc({}, std::nan(""));
  CHECK(counter.value({}) == 5);
}

TEST_CASE("Metrics: the line checker rejects what is not exposition syntax") {
  const std::string typed = "# TYPE m counter\n";
  CHECK(check_exposition(typed + "m 1\n") == "");
  CHECK(check_exposition(typed + "m{a=\"x\",b=\"y\\\"z\"} 1.5e3\n") == "");
  CHECK(check_exposition(typed + "m 1") != "");                             // no final newline
  CHECK(check_exposition(typed + "m one\n") != "");                         // value
  CHECK(check_exposition(typed + "m{a=\"x} 1\n") != "");                    // unterminated value
  CHECK(check_exposition(typed + "m{a=\"x\\q\"} 1\n") != "");               // bad escape
  CHECK(check_exposition(typed + "m{a=x} 1\n") != "");                      // unquoted value
  CHECK(check_exposition(typed + "m{a=\"1\",a=\"2\"} 1\n") != "");          // duplicate label
  CHECK(check_exposition(typed + "m{9a=\"x\"} 1\n") != "");                 // label name
  CHECK(check_exposition(typed + "m  1\n") != "");                          // two spaces
  CHECK(check_exposition("n 1\n") != "");                                   // untyped sample
  CHECK(check_exposition(typed + typed) != "");                             // TYPE twice
  CHECK(check_exposition("# TYPE m kounter\n") != "");                      // unknown type
  CHECK(check_exposition(typed + "m 1\n# TYPE n gauge\nn 1\nm 2\n") != ""); // not contiguous
  CHECK(check_exposition("# TYPE h histogram\nh 1\n") != "");               // bare histogram
  CHECK(check_exposition("# TYPE h histogram\nh_bucket 1\n") != "");        // bucket, no le
  CHECK(check_exposition("# TYPE h histogram\nh_sum{le=\"1\"} 1\n") != ""); // le on _sum
}

TEST_CASE("ProxyMetrics: each call lands under its documented name and labels") {
  ProxyMetrics metrics;
  metrics.request_started("fast-9b");
  metrics.request_finished("fast-9b", "fast-3b", 200, true, 1.5, 0.2);
  metrics.request_started("unknown");
  metrics.request_finished("unknown", "", 404, false, 0.001, std::nullopt);
  metrics.fallback("fast-9b", "fast-3b", "connect");
  metrics.upstream_error("ollama-local", "fast-9b", "connect");
  metrics.upstream_started("ollama-local", "fast-3b");
  metrics.stream_aborted("fast-3b", "timeout");
  metrics.tokens("fast-3b", 12, 34);
  metrics.rejected("invalid_json");
  metrics.set_queued("backend", "ollama-local", 4);
  metrics.client_disconnected("fast-3b");

  const std::string text = metrics.render();
  INFO(text);
  CHECK(check_exposition(text) == "");
  CHECK(has_line(text,
                 "askd_requests_total{requested=\"fast-9b\",served=\"fast-3b\",status=\"200\"} 1"));
  CHECK(has_line(text, "askd_requests_total{requested=\"unknown\",served=\"\",status=\"404\"} 1"));
  CHECK(has_line(text, "askd_requests_in_flight{requested=\"fast-9b\"} 0"));
  CHECK(has_line(text, "askd_request_duration_seconds_bucket{requested=\"fast-9b\",le=\"1\"} 0"));
  CHECK(has_line(text, "askd_request_duration_seconds_bucket{requested=\"fast-9b\",le=\"2.5\"} 1"));
  CHECK(
      has_line(text, "askd_request_duration_seconds_bucket{requested=\"unknown\",le=\"0.005\"} 1"));
  CHECK(has_line(text, "askd_request_duration_seconds_bucket{requested=\"fast-9b\",le=\"600\"} 1"));
  CHECK(has_line(text, "askd_request_duration_seconds_sum{requested=\"fast-9b\"} 1.5"));
  CHECK(
      has_line(text, "askd_time_to_first_token_seconds_bucket{served=\"fast-3b\",le=\"0.25\"} 1"));
  CHECK(has_line(text, "askd_time_to_first_token_seconds_count{served=\"fast-3b\"} 1"));
  CHECK(text.find("askd_time_to_first_token_seconds_count{served=\"\"}") == std::string::npos);
  CHECK(
      has_line(text, "askd_fallbacks_total{from=\"fast-9b\",to=\"fast-3b\",reason=\"connect\"} 1"));
  CHECK(has_line(
      text,
      "askd_upstream_errors_total{backend=\"ollama-local\",model=\"fast-9b\",kind=\"connect\"} 1"));
  CHECK(has_line(text, "askd_upstream_in_flight{backend=\"ollama-local\",model=\"fast-3b\"} 1"));
  CHECK(has_line(text, "askd_stream_aborts_total{model=\"fast-3b\",kind=\"timeout\"} 1"));
  CHECK(has_line(text, "askd_tokens_total{model=\"fast-3b\",type=\"completion\"} 34"));
  CHECK(has_line(text, "askd_tokens_total{model=\"fast-3b\",type=\"prompt\"} 12"));
  CHECK(has_line(text, "askd_rejected_total{reason=\"invalid_json\"} 1"));
  CHECK(has_line(text, "askd_queued_requests{scope=\"backend\",name=\"ollama-local\"} 4"));
  CHECK(has_line(text, "askd_client_disconnects_total{model=\"fast-3b\"} 1"));
  const auto build_info = text.find("\naskd_build_info{version=\"");
  REQUIRE(build_info != std::string::npos);
  const std::string_view info_line =
      split_lines(std::string_view(text).substr(build_info + 1)).front();
  CHECK(info_line.ends_with("\"} 1"));
  CHECK(info_line.size() > std::string_view("askd_build_info{version=\"\"} 1").size());
  CHECK(has_line(text, "# TYPE askd_request_duration_seconds histogram"));
  CHECK(has_line(text, "# TYPE askd_requests_in_flight gauge"));

  // Families come in name order.
  std::vector<std::string_view> typed;
  for (const std::string_view line : split_lines(text)) {
    if (line.starts_with("# TYPE ")) {
      typed.push_back(line.substr(7, line.find(' ', 7) - 7));
    }
  }
  CHECK(typed.size() == 13);
  CHECK(std::is_sorted(typed.begin(), typed.end()));
}

TEST_CASE("ProxyMetrics: latency buckets span 5 ms to 10 minutes") {
  const auto& buckets = latency_buckets();
  REQUIRE(buckets.size() == 16);
  CHECK(buckets.front() == 0.005);
  CHECK(buckets.back() == 600);
  CHECK(std::is_sorted(buckets.begin(), buckets.end()));
}

TEST_CASE("ProxyMetrics: gauges return to 0 once everything has finished") {
  ProxyMetrics metrics;
  for (int i = 0; i < 3; ++i) {
    metrics.request_started("coder-30b");
    metrics.upstream_started("llama-1", "coder-30b");
  }
  metrics.set_queued("model", "coder-30b", 2);
  std::string text = metrics.render();
  CHECK(sample(text, "askd_requests_in_flight{requested=\"coder-30b\"}") == 3);
  CHECK(sample(text, "askd_upstream_in_flight{backend=\"llama-1\",model=\"coder-30b\"}") == 3);
  for (int i = 0; i < 3; ++i) {
    metrics.upstream_finished("llama-1", "coder-30b");
    metrics.request_finished("coder-30b", "coder-30b", 200, false, 0.5, std::nullopt);
  }
  metrics.set_queued("model", "coder-30b", 0);
  text = metrics.render();
  // The series stay, at 0, so a dashboard sees the drop rather than a gap.
  CHECK(has_line(text, "askd_requests_in_flight{requested=\"coder-30b\"} 0"));
  CHECK(has_line(text, "askd_upstream_in_flight{backend=\"llama-1\",model=\"coder-30b\"} 0"));
  CHECK(has_line(text, "askd_queued_requests{scope=\"model\",name=\"coder-30b\"} 0"));
}

TEST_CASE("Metrics: tight concurrent updates of one series are exact") {
  CounterFamily counter("c_total", "h", {"k"});
  GaugeFamily gauge("g", "h", {"k"});
  HistogramFamily histogram("h_seconds", "h", {"k"}, {1});
  constexpr int k_threads = 8;
  constexpr int k_iterations = 100000;
  std::vector<std::thread> threads;
  for (int t = 0; t < k_threads; ++t) {
    threads.emplace_back([&, t] {
      const std::string own = "t" + std::to_string(t);
      for (int i = 0; i < k_iterations; ++i) {
        counter.inc({"shared"});
        gauge.inc({"shared"});
        histogram.observe({"shared"}, i % 2 == 0 ? 0.5 : 2.0);
        gauge.dec({"shared"});
        if (i % 1000 == 0) {
          counter.inc({own}); // new series appear while others are updated
        }
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  CHECK(counter.value({"shared"}) == k_threads * k_iterations);
  CHECK(gauge.value({"shared"}) == 0);
  const auto snap = histogram.snapshot({"shared"});
  CHECK(snap.count == k_threads * k_iterations);
  CHECK(snap.cumulative.front() == k_threads * k_iterations / 2);
  CHECK(snap.sum == 1.25 * k_threads * k_iterations);
  for (int t = 0; t < k_threads; ++t) {
    CHECK(counter.value({"t" + std::to_string(t)}) == k_iterations / 1000);
  }
}

TEST_CASE("ProxyMetrics: many threads at once give exact totals and valid text") {
  ProxyMetrics metrics;
  constexpr int k_threads = 16;
  constexpr int k_iterations = 4000;
  const std::vector<std::string> models = {"fast-9b", "fast-3b", "think-9b", "council"};
  std::atomic<bool> done{false};
  std::string last_render_problem;
  // A reader renders while the writers run; every snapshot must be valid text.
  std::thread reader([&] {
    while (!done.load()) {
      const std::string problem = check_exposition(metrics.render());
      if (!problem.empty()) {
        last_render_problem = problem;
      }
    }
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < k_threads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < k_iterations; ++i) {
        const std::string& model = models[static_cast<size_t>(i + t) % models.size()];
        metrics.request_started(model);
        metrics.upstream_started("b", model);
        metrics.tokens(model, 3, 5);
        metrics.fallback(model, "fast-1b", "timeout");
        metrics.upstream_finished("b", model);
        metrics.request_finished(model, model, 200, i % 2 == 0, 0.3, 0.1);
      }
    });
  }
  for (auto& writer : writers) {
    writer.join();
  }
  done = true;
  reader.join();
  CHECK(last_render_problem == "");

  const std::string text = metrics.render();
  CHECK(check_exposition(text) == "");
  const double per_model = k_threads * k_iterations / static_cast<double>(models.size());
  double requests = 0;
  for (const auto& model : models) {
    const std::string m = "\"" + model + "\"";
    CAPTURE(model);
    CHECK(sample(text, "askd_requests_total{requested=" + m + ",served=" + m +
                           ",status=\"200\"}") == per_model);
    CHECK(sample(text, "askd_requests_in_flight{requested=" + m + "}") == 0);
    CHECK(sample(text, "askd_upstream_in_flight{backend=\"b\",model=" + m + "}") == 0);
    CHECK(sample(text, "askd_tokens_total{model=" + m + ",type=\"prompt\"}") == 3 * per_model);
    CHECK(sample(text, "askd_tokens_total{model=" + m + ",type=\"completion\"}") == 5 * per_model);
    CHECK(sample(text, "askd_fallbacks_total{from=" + m + ",to=\"fast-1b\",reason=\"timeout\"}") ==
          per_model);
    CHECK(sample(text, "askd_request_duration_seconds_count{requested=" + m + "}") == per_model);
    CHECK(sample(text, "askd_request_duration_seconds_bucket{requested=" + m + ",le=\"0.25\"}") ==
          0);
    CHECK(sample(text, "askd_request_duration_seconds_bucket{requested=" + m + ",le=\"0.5\"}") ==
          per_model);
    CHECK(sample(text, "askd_time_to_first_token_seconds_bucket{served=" + m + ",le=\"0.1\"}") ==
          per_model);
    requests +=
        sample(text, "askd_requests_total{requested=" + m + ",served=" + m + ",status=\"200\"}");
  }
  CHECK(requests == k_threads * k_iterations);
}
