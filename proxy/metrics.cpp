#include "proxy/metrics.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>

#ifndef ASK_VERSION
#define ASK_VERSION "unknown"
#endif

namespace ask::proxy {

namespace {

bool valid_name(std::string_view name, bool allow_colon) {
  if (name.empty()) {
    return false;
  }
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (allow_colon && c == ':');
    const bool digit = c >= '0' && c <= '9';
    if (!letter && !(digit && i > 0)) {
      return false;
    }
  }
  return true;
}

// HELP text escapes backslash and newline (not the double quote).
std::string escape_help(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (const char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// One thread's buffer for series keys, reused so a lookup allocates nothing once warm.
thread_local std::string t_key;

// Snapshots of series taken under a family's lock, formatted after it is released. Series
// are never erased and their labels never change once inserted (unordered_map nodes are
// stable), so pointing at them outside the lock is safe.
template <class Entry> void sort_by_labels(std::vector<Entry>& entries) {
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return *a.labels < *b.labels; });
}

} // namespace

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string format_value(double value) {
  if (std::isnan(value)) {
    return "NaN";
  }
  if (std::isinf(value)) {
    return value > 0 ? "+Inf" : "-Inf";
  }
  std::array<char, 32> buf{};
  const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), value);
  if (ec != std::errc()) {
    return "NaN"; // cannot happen: 32 characters hold any shortest double
  }
  return {buf.data(), end};
}

// ---- Family -------------------------------------------------------------------------------

Family::Family(std::string name, std::string help, std::vector<std::string> label_names,
               std::string_view type)
    : m_name(std::move(name)), m_help(std::move(help)), m_label_names(std::move(label_names)),
      m_type(type) {
  if (!valid_name(m_name, /*allow_colon=*/true)) {
    throw std::invalid_argument("invalid metric name \"" + m_name + "\"");
  }
  for (size_t i = 0; i < m_label_names.size(); ++i) {
    const std::string& label = m_label_names[i];
    if (!valid_name(label, /*allow_colon=*/false) || label.starts_with("__")) {
      throw std::invalid_argument("invalid label name \"" + label + "\" in " + m_name);
    }
    if (std::find(m_label_names.begin(), m_label_names.begin() + static_cast<long>(i), label) !=
        m_label_names.begin() + static_cast<long>(i)) {
      throw std::invalid_argument("duplicate label name \"" + label + "\" in " + m_name);
    }
  }
}

std::string_view Family::key_for(LabelValues values) const {
  if (values.size() != m_label_names.size()) {
    throw std::invalid_argument(m_name + " takes " + std::to_string(m_label_names.size()) +
                                " label values, got " + std::to_string(values.size()));
  }
  // Each value is length-prefixed so that no two label sets share a key.
  t_key.clear();
  for (const std::string_view value : values) {
    const auto size = static_cast<std::uint32_t>(value.size());
    t_key.append(reinterpret_cast<const char*>(&size), sizeof size);
    t_key.append(value);
  }
  return t_key;
}

void Family::render(std::string& out) const {
  out += "# HELP ";
  out += m_name;
  out += ' ';
  out += escape_help(m_help);
  out += "\n# TYPE ";
  out += m_name;
  out += ' ';
  out += m_type;
  out += '\n';
  render_samples(out);
}

void Family::write_sample(std::string& out, std::string_view suffix,
                          const std::vector<std::string>& labels, std::string_view extra,
                          double value) const {
  out += m_name;
  out += suffix;
  if (!labels.empty() || !extra.empty()) {
    out += '{';
    for (size_t i = 0; i < labels.size(); ++i) {
      if (i > 0) {
        out += ',';
      }
      out += m_label_names[i];
      out += "=\"";
      out += escape_label_value(labels[i]);
      out += '"';
    }
    if (!extra.empty()) {
      if (!labels.empty()) {
        out += ',';
      }
      out += extra;
    }
    out += '}';
  }
  out += ' ';
  out += format_value(value);
  out += '\n';
}

// ---- ScalarFamily, CounterFamily, GaugeFamily ---------------------------------------------

ScalarFamily::Series& ScalarFamily::series_locked(LabelValues labels) {
  const std::string_view key = key_for(labels);
  auto it = m_series.find(key);
  if (it == m_series.end()) {
    it = m_series.emplace(std::string(key), Series{{labels.begin(), labels.end()}, 0}).first;
  }
  return it->second;
}

void ScalarFamily::add(LabelValues labels, double delta) {
  std::lock_guard lock(m_mutex);
  series_locked(labels).value += delta;
}

void ScalarFamily::set(LabelValues labels, double value) {
  std::lock_guard lock(m_mutex);
  series_locked(labels).value = value;
}

double ScalarFamily::value(LabelValues labels) const {
  std::lock_guard lock(m_mutex);
  const auto it = m_series.find(key_for(labels));
  return it == m_series.end() ? 0 : it->second.value;
}

void ScalarFamily::render_samples(std::string& out) const {
  struct Entry {
    const std::vector<std::string>* labels;
    double value;
  };
  std::vector<Entry> entries;
  {
    std::lock_guard lock(m_mutex);
    entries.reserve(m_series.size());
    for (const auto& [key, series] : m_series) {
      entries.push_back({&series.labels, series.value});
    }
  }
  sort_by_labels(entries);
  for (const Entry& entry : entries) {
    write_sample(out, "", *entry.labels, "", entry.value);
  }
}

CounterFamily::CounterFamily(std::string name, std::string help,
                             std::vector<std::string> label_names)
    : ScalarFamily(std::move(name), std::move(help), std::move(label_names), "counter") {
  if (!this->name().ends_with("_total")) {
    throw std::invalid_argument("counter name \"" + this->name() + "\" must end in _total");
  }
}

void CounterFamily::inc(LabelValues labels, double by) {
  if (!(by >= 0)) {
    return; // negative or NaN: a counter never goes down
  }
  add(labels, by);
}

GaugeFamily::GaugeFamily(std::string name, std::string help, std::vector<std::string> label_names)
    : ScalarFamily(std::move(name), std::move(help), std::move(label_names), "gauge") {}

// ---- HistogramFamily ----------------------------------------------------------------------

HistogramFamily::HistogramFamily(std::string name, std::string help,
                                 std::vector<std::string> label_names, std::vector<double> buckets)
    : Family(std::move(name), std::move(help), std::move(label_names), "histogram"),
      m_buckets(std::move(buckets)) {
  const auto& labels = this->label_names();
  if (std::find(labels.begin(), labels.end(), "le") != labels.end()) {
    throw std::invalid_argument("histogram " + this->name() + " may not have a label \"le\"");
  }
  for (size_t i = 0; i < m_buckets.size(); ++i) {
    if (!std::isfinite(m_buckets[i]) || (i > 0 && !(m_buckets[i - 1] < m_buckets[i]))) {
      throw std::invalid_argument("histogram " + this->name() +
                                  ": buckets must be finite and strictly increasing");
    }
  }
  for (const double bound : m_buckets) {
    m_le.push_back("le=\"" + format_value(bound) + "\"");
  }
  m_le.emplace_back("le=\"+Inf\"");
}

void HistogramFamily::observe(LabelValues labels, double value) {
  if (std::isnan(value)) {
    return;
  }
  // le is inclusive: the first bound >= value; past the last bound is +Inf.
  const auto bucket = static_cast<size_t>(
      std::lower_bound(m_buckets.begin(), m_buckets.end(), value) - m_buckets.begin());
  std::lock_guard lock(m_mutex);
  const std::string_view key = key_for(labels);
  auto it = m_series.find(key);
  if (it == m_series.end()) {
    Series fresh{{labels.begin(), labels.end()},
                 std::vector<unsigned long long>(m_buckets.size() + 1, 0),
                 0,
                 0};
    it = m_series.emplace(std::string(key), std::move(fresh)).first;
  }
  Series& series = it->second;
  ++series.counts[bucket];
  series.sum += value;
  ++series.count;
}

HistogramFamily::Snapshot HistogramFamily::snapshot(LabelValues labels) const {
  Snapshot snap;
  snap.cumulative.assign(m_buckets.size() + 1, 0);
  std::lock_guard lock(m_mutex);
  const auto it = m_series.find(key_for(labels));
  if (it == m_series.end()) {
    return snap;
  }
  unsigned long long running = 0;
  for (size_t i = 0; i < it->second.counts.size(); ++i) {
    running += it->second.counts[i];
    snap.cumulative[i] = running;
  }
  snap.sum = it->second.sum;
  snap.count = it->second.count;
  return snap;
}

void HistogramFamily::render_samples(std::string& out) const {
  struct Entry {
    const std::vector<std::string>* labels;
    std::vector<unsigned long long> counts;
    double sum;
    unsigned long long count;
  };
  std::vector<Entry> entries;
  {
    std::lock_guard lock(m_mutex);
    entries.reserve(m_series.size());
    for (const auto& [key, series] : m_series) {
      entries.push_back({&series.labels, series.counts, series.sum, series.count});
    }
  }
  sort_by_labels(entries);
  for (const Entry& entry : entries) {
    unsigned long long running = 0;
    for (size_t i = 0; i < entry.counts.size(); ++i) {
      running += entry.counts[i];
      write_sample(out, "_bucket", *entry.labels, m_le[i], static_cast<double>(running));
    }
    write_sample(out, "_sum", *entry.labels, "", entry.sum);
    write_sample(out, "_count", *entry.labels, "", static_cast<double>(entry.count));
  }
}

// ---- Registry -----------------------------------------------------------------------------

template <class F> F& Registry::add(std::unique_ptr<F> family) {
  std::lock_guard lock(m_mutex);
  const auto at = std::lower_bound(
      m_families.begin(), m_families.end(), family->name(),
      [](const std::unique_ptr<Family>& f, const std::string& name) { return f->name() < name; });
  if (at != m_families.end() && (*at)->name() == family->name()) {
    throw std::invalid_argument("metric " + family->name() + " is registered twice");
  }
  F& ref = *family;
  m_families.insert(at, std::move(family));
  return ref;
}

CounterFamily& Registry::add_counter(std::string name, std::string help,
                                     std::vector<std::string> label_names) {
  return add(
      std::make_unique<CounterFamily>(std::move(name), std::move(help), std::move(label_names)));
}

GaugeFamily& Registry::add_gauge(std::string name, std::string help,
                                 std::vector<std::string> label_names) {
  return add(
      std::make_unique<GaugeFamily>(std::move(name), std::move(help), std::move(label_names)));
}

HistogramFamily& Registry::add_histogram(std::string name, std::string help,
                                         std::vector<std::string> label_names,
                                         std::vector<double> buckets) {
  return add(std::make_unique<HistogramFamily>(std::move(name), std::move(help),
                                               std::move(label_names), std::move(buckets)));
}

std::string Registry::render() const {
  std::string out;
  std::lock_guard lock(m_mutex);
  for (const auto& family : m_families) {
    family->render(out);
  }
  return out;
}

// ---- ProxyMetrics -------------------------------------------------------------------------

const std::vector<double>& latency_buckets() {
  static const std::vector<double> k_buckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                                2.5,   5,    10,    30,   60,  120,  300, 600};
  return k_buckets;
}

ProxyMetrics::ProxyMetrics()
    : m_requests(m_registry.add_counter(
          "askd_requests_total",
          "Client requests answered, by resolved logical model, the model that served and the "
          "HTTP status sent.",
          {"requested", "served", "status"})),
      m_request_duration(m_registry.add_histogram(
          "askd_request_duration_seconds",
          "Time from a request's arrival to its last byte, by resolved logical model.",
          {"requested"}, latency_buckets())),
      m_ttft(m_registry.add_histogram(
          "askd_time_to_first_token_seconds",
          "Time from a request's arrival to the first content byte, by the model that served.",
          {"served"}, latency_buckets())),
      m_requests_in_flight(m_registry.add_gauge(
          "askd_requests_in_flight", "Client requests being handled now.", {"requested"})),
      m_fallbacks(m_registry.add_counter("askd_fallbacks_total",
                                         "Moves along a fallback chain, by from, to and reason.",
                                         {"from", "to", "reason"})),
      m_upstream_errors(m_registry.add_counter("askd_upstream_errors_total",
                                               "Failed attempts at a backend, by error kind.",
                                               {"backend", "model", "kind"})),
      m_upstream_in_flight(m_registry.add_gauge("askd_upstream_in_flight",
                                                "Requests in flight towards a backend and model.",
                                                {"backend", "model"})),
      m_stream_aborts(m_registry.add_counter(
          "askd_stream_aborts_total",
          "Streams that failed after their headers were sent (no fallback possible).",
          {"model", "kind"})),
      m_tokens(m_registry.add_counter("askd_tokens_total",
                                      "Tokens reported by backends, by model and type "
                                      "(prompt or completion).",
                                      {"model", "type"})),
      m_rejected(m_registry.add_counter(
          "askd_rejected_total", "Requests rejected before reaching any backend.", {"reason"})),
      m_queued(m_registry.add_gauge("askd_queued_requests",
                                    "Requests waiting in a concurrency queue, by scope "
                                    "(backend or model) and name.",
                                    {"scope", "name"})),
      m_client_disconnects(m_registry.add_counter(
          "askd_client_disconnects_total",
          "Requests whose client went away before the answer was complete.", {"model"})) {
  m_registry.add_gauge("askd_build_info", "askd's version; the value is always 1.", {"version"})
      .set({ASK_VERSION}, 1);
}

void ProxyMetrics::request_started(std::string_view requested) {
  m_requests_in_flight.inc({requested});
}

void ProxyMetrics::request_finished(std::string_view requested, std::string_view served, int status,
                                    bool /*stream*/, double latency_s,
                                    std::optional<double> ttft_s) {
  std::array<char, 16> buf{};
  const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), status);
  const std::string_view status_text(buf.data(),
                                     ec == std::errc() ? static_cast<size_t>(end - buf.data()) : 0);
  m_requests.inc({requested, served, status_text});
  m_request_duration.observe({requested}, latency_s);
  if (ttft_s) {
    m_ttft.observe({served}, *ttft_s);
  }
  m_requests_in_flight.dec({requested});
}

void ProxyMetrics::fallback(std::string_view from, std::string_view to, std::string_view reason) {
  m_fallbacks.inc({from, to, reason});
}

void ProxyMetrics::upstream_error(std::string_view backend, std::string_view model,
                                  std::string_view kind) {
  m_upstream_errors.inc({backend, model, kind});
}

void ProxyMetrics::upstream_started(std::string_view backend, std::string_view model) {
  m_upstream_in_flight.inc({backend, model});
}

void ProxyMetrics::upstream_finished(std::string_view backend, std::string_view model) {
  m_upstream_in_flight.dec({backend, model});
}

void ProxyMetrics::stream_aborted(std::string_view model, std::string_view kind) {
  m_stream_aborts.inc({model, kind});
}

void ProxyMetrics::tokens(std::string_view model, long long prompt_tokens,
                          long long completion_tokens) {
  if (prompt_tokens >= 0) {
    m_tokens.inc({model, "prompt"}, static_cast<double>(prompt_tokens));
  }
  if (completion_tokens >= 0) {
    m_tokens.inc({model, "completion"}, static_cast<double>(completion_tokens));
  }
}

void ProxyMetrics::rejected(std::string_view reason) {
  m_rejected.inc({reason});
}

void ProxyMetrics::set_queued(std::string_view scope, std::string_view name, long long waiting) {
  m_queued.set({scope, name}, static_cast<double>(waiting));
}

void ProxyMetrics::client_disconnected(std::string_view model) {
  m_client_disconnects.inc({model});
}

std::string ProxyMetrics::render() const {
  return m_registry.render();
}

void render_connection_metrics(const net::ServerStats& stats, std::string& out) {
  auto family = [&](std::string_view name, std::string_view type, std::string_view help) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  };
  auto sample = [&](std::string_view name, std::string_view labels, std::uint64_t value) {
    out += fmt::format("{}{} {}\n", name, labels, value);
  };
  family("askd_connections_open", "gauge", "Client connections open now.");
  sample("askd_connections_open", "", stats.open_connections);
  family("askd_connections_total", "counter", "Client connections accepted.");
  sample("askd_connections_total", "", stats.accepted);
  family("askd_connections_refused_total", "counter",
         "Connections answered 503 at once: max_connections reached (busy), or the client "
         "address's max_connections_per_client (per_client).");
  sample("askd_connections_refused_total", "{reason=\"busy\"}", stats.rejected_busy);
  sample("askd_connections_refused_total", "{reason=\"per_client\"}", stats.rejected_peer);
  family("askd_request_body_bytes_buffered", "gauge",
         "Memory granted to request bodies being read now.");
  sample("askd_request_body_bytes_buffered", "", stats.body_bytes_buffered);
  family("askd_requests_refused_before_body_total", "counter",
         "Requests answered after their head, before their body was read: a missing or wrong "
         "API key (head_check), or no room left in max_body_buffer_per_client or "
         "max_body_buffer (body_buffer).");
  sample("askd_requests_refused_before_body_total", "{reason=\"head_check\"}",
         stats.rejected_head);
  sample("askd_requests_refused_before_body_total", "{reason=\"body_buffer\"}",
         stats.rejected_body_buffer);
  family("askd_request_timeouts_total", "counter",
         "Connections closed at a deadline: a head slower than head_timeout, a body slower "
         "than body_timeout and body_min_rate (both answered 408), or idle past idle_timeout.");
  sample("askd_request_timeouts_total", "{phase=\"head\"}", stats.head_timeouts);
  sample("askd_request_timeouts_total", "{phase=\"body\"}", stats.body_timeouts);
  sample("askd_request_timeouts_total", "{phase=\"idle\"}", stats.idle_timeouts);
  family("askd_expect_continue_total", "counter",
         "100 Continue answers to requests that sent Expect: 100-continue.");
  sample("askd_expect_continue_total", "", stats.continues);
}

} // namespace ask::proxy
