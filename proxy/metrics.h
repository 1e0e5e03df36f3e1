#pragma once
// Metrics: a small thread-safe Prometheus registry (text exposition format 0.0.4) and
// ProxyMetrics, the facade askd's request path calls and GET /metrics renders. Families have
// their label names fixed at construction; each keeps its series in a hash map behind one
// short mutex, so an update costs a lock, a label-key build and a lookup.

#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "net/http_server.h"

namespace ask::proxy {

// Escapes a label value for the exposition format: backslash, double quote and newline.
std::string escape_label_value(std::string_view value);
// Formats a sample value the way Prometheus reads it: "3", "0.25", "1e-05", "+Inf", "NaN".
std::string format_value(double value);

// The label values of one series, in the family's label-name order.
using LabelValues = std::initializer_list<std::string_view>;

namespace detail {
// Heterogeneous hashing so a lookup by string_view allocates nothing.
struct KeyHash {
  using is_transparent = void;
  size_t operator()(std::string_view key) const noexcept {
    return std::hash<std::string_view>{}(key);
  }
};
} // namespace detail

// What every family shares: a name, a help text, label names, and rendering.
class Family {
public:
  virtual ~Family() = default;
  Family(const Family&) = delete;
  Family& operator=(const Family&) = delete;

  const std::string& name() const { return m_name; }
  const std::vector<std::string>& label_names() const { return m_label_names; }
  // Appends "# HELP", "# TYPE" and every series, sorted by label values.
  void render(std::string& out) const;

protected:
  // Throws std::invalid_argument on a name or label name Prometheus would reject.
  Family(std::string name, std::string help, std::vector<std::string> label_names,
         std::string_view type);
  // The series key for `values`, built in a per-thread buffer (valid until the next call on
  // this thread). Throws std::invalid_argument when the count differs from the label names.
  std::string_view key_for(LabelValues values) const;
  // Appends this family's samples, sorted by label values.
  virtual void render_samples(std::string& out) const = 0;
  // Appends `name{labels,extra} value\n`; `extra` is an already formatted `le="..."` or empty.
  void write_sample(std::string& out, std::string_view suffix,
                    const std::vector<std::string>& labels, std::string_view extra,
                    double value) const;

private:
  std::string m_name;
  std::string m_help;
  std::vector<std::string> m_label_names;
  std::string m_type;
};

// A value per label set; counters only go up, gauges go both ways.
class ScalarFamily : public Family {
public:
  // The value of one series; 0 when it was never touched.
  double value(LabelValues labels) const;

protected:
  using Family::Family;
  void add(LabelValues labels, double delta);
  void set(LabelValues labels, double value);
  void render_samples(std::string& out) const override;

private:
  struct Series {
    std::vector<std::string> labels;
    double value = 0;
  };
  Series& series_locked(LabelValues labels);

  mutable std::mutex m_mutex;
  std::unordered_map<std::string, Series, detail::KeyHash, std::equal_to<>> m_series;
};

// A monotonic counter; its name must end in "_total".
class CounterFamily : public ScalarFamily {
public:
  CounterFamily(std::string name, std::string help, std::vector<std::string> label_names);
  // Adds `by`; a negative or NaN amount is ignored (a counter never goes down).
  void inc(LabelValues labels, double by = 1);
};

class GaugeFamily : public ScalarFamily {
public:
  GaugeFamily(std::string name, std::string help, std::vector<std::string> label_names);
  void inc(LabelValues labels, double by = 1) { add(labels, by); }
  void dec(LabelValues labels, double by = 1) { add(labels, -by); }
  void set(LabelValues labels, double value) { ScalarFamily::set(labels, value); }
};

// Observations counted into fixed buckets (upper bounds, "le"), with their sum and count.
class HistogramFamily : public Family {
public:
  // `buckets` must be finite and strictly increasing (std::invalid_argument otherwise); the
  // "+Inf" bucket is implied. "le" may not be a label name.
  HistogramFamily(std::string name, std::string help, std::vector<std::string> label_names,
                  std::vector<double> buckets);
  // Records `value`; NaN is ignored.
  void observe(LabelValues labels, double value);

  struct Snapshot {
    std::vector<unsigned long long> cumulative; // one per bucket, then +Inf
    double sum = 0;
    unsigned long long count = 0;
  };
  // The current state of one series (all zero when never observed).
  Snapshot snapshot(LabelValues labels) const;
  const std::vector<double>& buckets() const { return m_buckets; }

protected:
  void render_samples(std::string& out) const override;

private:
  struct Series {
    std::vector<std::string> labels;
    std::vector<unsigned long long> counts; // per bucket, not cumulative; last is +Inf
    double sum = 0;
    unsigned long long count = 0;
  };

  std::vector<double> m_buckets;
  std::vector<std::string> m_le; // formatted `le="..."` per bucket, then +Inf
  mutable std::mutex m_mutex;
  std::unordered_map<std::string, Series, detail::KeyHash, std::equal_to<>> m_series;
};

// Owns families and renders them in name order. Add families at start-up; updates and
// render() are thread-safe.
class Registry {
public:
  // Each throws std::invalid_argument when the name is taken or invalid.
  CounterFamily& add_counter(std::string name, std::string help,
                             std::vector<std::string> label_names);
  GaugeFamily& add_gauge(std::string name, std::string help, std::vector<std::string> label_names);
  HistogramFamily& add_histogram(std::string name, std::string help,
                                 std::vector<std::string> label_names, std::vector<double> buckets);
  // The whole exposition, families sorted by name.
  std::string render() const;

private:
  template <class F> F& add(std::unique_ptr<F> family);

  mutable std::mutex m_mutex;
  std::vector<std::unique_ptr<Family>> m_families; // sorted by name
};

// Latency buckets (seconds) suited to LLM calls: 5 ms to 10 minutes.
const std::vector<double>& latency_buckets();

// The metrics askd exports on /metrics (documented in docs/metrics.md). Every method is
// thread-safe and cheap enough for the request path.
class ProxyMetrics {
public:
  ProxyMetrics();
  ProxyMetrics(const ProxyMetrics&) = delete;
  ProxyMetrics& operator=(const ProxyMetrics&) = delete;

  // A client request began / ended. `requested` is the resolved logical model (or council)
  // name, or "unknown" when the name did not resolve (never the raw client string: label
  // cardinality must stay bounded).
  void request_started(std::string_view requested);
  // served: the logical model that answered ("" when none did); status: the HTTP status
  // sent; ttft_s: seconds to the first content byte, when there was one.
  void request_finished(std::string_view requested, std::string_view served, int status,
                        bool stream, double latency_s, std::optional<double> ttft_s);
  // The chain moved from `from` to `to` because of `reason` ("connect", "timeout",
  // "status_503", "queue_full", "empty_stream", "overloaded", ...).
  void fallback(std::string_view from, std::string_view to, std::string_view reason);
  // An attempt at `model` on `backend` failed with error kind `kind`.
  void upstream_error(std::string_view backend, std::string_view model, std::string_view kind);
  // Requests in flight towards a backend/model (gauge up/down).
  void upstream_started(std::string_view backend, std::string_view model);
  void upstream_finished(std::string_view backend, std::string_view model);
  // A stream failed after its headers were sent (no fallback possible).
  void stream_aborted(std::string_view model, std::string_view kind);
  // Negative counts are ignored.
  void tokens(std::string_view model, long long prompt_tokens, long long completion_tokens);
  // A request rejected before reaching any backend: "invalid_json", "bad_request",
  // "unknown_model", "too_large", "unauthorized", "queue_full", "not_found_route",
  // "internal".
  void rejected(std::string_view reason);
  // Requests waiting in a concurrency queue, per scope ("backend" or "model") and name.
  void set_queued(std::string_view scope, std::string_view name, long long waiting);
  void client_disconnected(std::string_view model);
  // The whole exposition (Content-Type: text/plain; version=0.0.4; charset=utf-8).
  std::string render() const;

private:
  Registry m_registry;
  CounterFamily& m_requests;
  HistogramFamily& m_request_duration;
  HistogramFamily& m_ttft;
  GaugeFamily& m_requests_in_flight;
  CounterFamily& m_fallbacks;
  CounterFamily& m_upstream_errors;
  GaugeFamily& m_upstream_in_flight;
  CounterFamily& m_stream_aborts;
  CounterFamily& m_tokens;
  CounterFamily& m_rejected;
  GaugeFamily& m_queued;
  CounterFamily& m_client_disconnects;
};

// The HTTP server's own figures (connections, request deadlines, limits per client; from
// net::HttpServer::stats()) in the exposition format, appended to `out`.
void render_connection_metrics(const net::ServerStats& stats, std::string& out);

} // namespace ask::proxy
