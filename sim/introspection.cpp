#include "sim/introspection.h"

#include "sim/http.h"

namespace ask::sim {

namespace {

bool is_secret_header(const std::string& name) {
  return iequals(name, "Authorization") || iequals(name, "Proxy-Authorization") ||
         iequals(name, "X-Api-Key") || iequals(name, "Api-Key");
}

std::string mask(const std::string& value) {
  // Keep the scheme ("Bearer") so tests can see a key was sent, hide the rest.
  std::size_t space = value.find(' ');
  std::string kept = space == std::string::npos ? "" : value.substr(0, space + 1);
  return kept + "***";
}

} // namespace

RequestLog::RequestLog(const core::Clock& clock, std::size_t capacity)
    : m_clock(clock), m_capacity(capacity) {}

void RequestLog::record(const HttpRequest& request) {
  nlohmann::ordered_json headers = nlohmann::ordered_json::object();
  for (const auto& [name, value] : request.headers) {
    headers[name] = is_secret_header(name) ? mask(value) : value;
  }
  const bool truncated = request.body.size() > k_max_body;
  nlohmann::ordered_json parsed = truncated
                                      ? nlohmann::ordered_json()
                                      : nlohmann::ordered_json::parse(request.body, nullptr, false);
  nlohmann::ordered_json entry = {
      {"seq", 0},
      {"method", request.method},
      {"path", request.path},
      {"query", request.query},
      {"headers", std::move(headers)},
      {"body", truncated ? request.body.substr(0, k_max_body) : request.body},
      {"body_truncated", truncated},
      {"json", parsed.is_discarded() ? nlohmann::ordered_json() : std::move(parsed)},
      {"received_at", core::unix_seconds(m_clock.wall_now())},
  };
  std::lock_guard lock(m_mutex);
  entry["seq"] = ++m_seq;
  m_entries.push_back(std::move(entry));
  while (m_entries.size() > m_capacity) {
    m_entries.pop_front();
  }
}

nlohmann::ordered_json RequestLog::to_json() const {
  std::lock_guard lock(m_mutex);
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const auto& e : m_entries) {
    list.push_back(e);
  }
  return {{"requests", std::move(list)}};
}

void RequestLog::clear() {
  std::lock_guard lock(m_mutex);
  m_entries.clear();
}

void SimStats::request_started(const std::string& model) {
  std::lock_guard lock(m_mutex);
  ++m_requests;
  ++m_in_flight;
  PerModel& m = m_models[model];
  ++m.requests;
  ++m.in_flight;
  changed();
}

void SimStats::request_finished(const std::string& model, RequestEnd end) {
  std::lock_guard lock(m_mutex);
  --m_in_flight;
  PerModel& m = m_models[model];
  --m.in_flight;
  if (end == RequestEnd::completed) {
    ++m_completed;
    ++m.completed;
  } else if (end == RequestEnd::client_gone) {
    ++m_disconnects;
  }
  changed();
}

void SimStats::deferred_changed(int delta) {
  std::lock_guard lock(m_mutex);
  m_deferred += delta;
  m_deferred_total += delta > 0 ? delta : 0;
  changed();
}

void SimStats::fault_injected(const std::string& name) {
  std::lock_guard lock(m_mutex);
  ++m_faults[name];
}

const long long* SimStats::counter(const std::string& name) const {
  if (name == "requests_total") {
    return &m_requests;
  }
  if (name == "in_flight") {
    return &m_in_flight;
  }
  if (name == "completed") {
    return &m_completed;
  }
  if (name == "client_disconnects") {
    return &m_disconnects;
  }
  if (name == "deferred") {
    return &m_deferred;
  }
  if (name == "deferred_total") {
    return &m_deferred_total;
  }
  return nullptr;
}

bool SimStats::wait_until(const std::string& name, long long at_least,
                          std::chrono::milliseconds timeout) {
  std::unique_lock lock(m_mutex);
  const long long* value = counter(name);
  if (value == nullptr) {
    return false;
  }
  m_changed.wait_for(lock, timeout, [&] { return m_stopping || *value >= at_least; });
  return true;
}

void SimStats::stop() {
  {
    std::lock_guard lock(m_mutex);
    m_stopping = true;
  }
  m_changed.notify_all();
}

long long SimStats::in_flight() const {
  std::lock_guard lock(m_mutex);
  return m_in_flight;
}

nlohmann::ordered_json SimStats::to_json() const {
  std::lock_guard lock(m_mutex);
  nlohmann::ordered_json faults = nlohmann::ordered_json::object();
  for (const auto& [name, n] : m_faults) {
    faults[name] = n;
  }
  nlohmann::ordered_json models = nlohmann::ordered_json::object();
  for (const auto& [name, m] : m_models) {
    models[name] = {
        {"requests", m.requests}, {"in_flight", m.in_flight}, {"completed", m.completed}};
  }
  return {{"requests_total", m_requests}, {"in_flight", m_in_flight},
          {"completed", m_completed},     {"client_disconnects", m_disconnects},
          {"deferred", m_deferred},       {"deferred_total", m_deferred_total},
          {"faults", std::move(faults)},  {"models", std::move(models)}};
}

void SimStats::reset() {
  std::lock_guard lock(m_mutex);
  m_requests = m_completed = m_disconnects = m_deferred_total = 0;
  m_faults.clear();
  for (auto it = m_models.begin(); it != m_models.end();) {
    it->second.requests = it->second.completed = 0;
    it = it->second.in_flight == 0 ? m_models.erase(it) : std::next(it);
  }
}

InFlight::InFlight(SimStats& stats, std::string model) : m_stats(stats), m_model(std::move(model)) {
  m_stats.request_started(m_model);
}

InFlight::~InFlight() {
  m_stats.request_finished(m_model, m_end);
}

} // namespace ask::sim
