#pragma once
// What llm-sim saw, for tests to assert on through the sim-only /sim/ endpoints: the last
// requests as received (GET /sim/requests) and counters (GET /sim/stats). Thread-safe.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <map>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "sim/http.h"

namespace ask::sim {

class RequestLog {
public:
  RequestLog(const core::Clock& clock, std::size_t capacity);

  // Records a request; Authorization and other credential headers are masked.
  void record(const HttpRequest& request);
  // Bodies longer than k_max_body are cut to that size and marked "body_truncated": true
  // (their "json" is then null), so the log stays small whatever clients send.
  static constexpr std::size_t k_max_body = 64 * 1024;

  // {"requests":[{"seq","method","path","query","headers":{...},"body","body_truncated",
  //  "json","received_at"}]}
  nlohmann::ordered_json to_json() const;
  void clear();

private:
  const core::Clock& m_clock;
  std::size_t m_capacity;
  mutable std::mutex m_mutex;
  std::deque<nlohmann::ordered_json> m_entries;
  long long m_seq = 0;
};

// How a request ended, for the counters.
enum class RequestEnd {
  other,       // an error answer, a fault that replaced the answer, a cut stream
  completed,   // the whole answer went out
  client_gone, // the client went away first (a cancelled stream, a hang given up)
};

class SimStats {
public:
  // A request the API handles (not /sim/ ones).
  void request_started(const std::string& model);
  // It ended; every counter changes at once, so a reader never sees half of it.
  void request_finished(const std::string& model, RequestEnd end);
  void fault_injected(const std::string& name);
  // A request started (+1) or stopped (-1) waiting for a free slot.
  void deferred_changed(int delta);

  // {"requests_total","in_flight","completed","client_disconnects","deferred",
  //  "deferred_total","faults":{..},
  //  "models":{"name":{"requests","in_flight","completed"}}}
  nlohmann::ordered_json to_json() const;
  long long in_flight() const;
  void reset();
  // Shutting down: wakes every wait_until() and makes later ones return at once.
  void stop();
  // Waits until the top-level counter `name` (requests_total, in_flight, completed,
  // client_disconnects, deferred, deferred_total) is at least `at_least`, or `timeout` passes.
  // Returns false for an unknown name. Returns at once (true) after stop().
  bool wait_until(const std::string& name, long long at_least, std::chrono::milliseconds timeout);

private:
  const long long* counter(const std::string& name) const;
  void changed() { m_changed.notify_all(); }

  struct PerModel {
    long long requests = 0;
    long long in_flight = 0;
    long long completed = 0;
  };
  mutable std::mutex m_mutex;
  std::condition_variable m_changed;
  long long m_requests = 0;
  long long m_in_flight = 0;
  long long m_completed = 0;
  long long m_disconnects = 0;
  long long m_deferred = 0;
  long long m_deferred_total = 0;
  bool m_stopping = false;
  std::map<std::string, long long> m_faults;
  std::map<std::string, PerModel> m_models;
};

// Counts a request from construction to destruction (in flight, then finished).
class InFlight {
public:
  InFlight(SimStats& stats, std::string model);
  ~InFlight();
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;
  void end(RequestEnd how) { m_end = how; }

private:
  SimStats& m_stats;
  std::string m_model;
  RequestEnd m_end = RequestEnd::other;
};

} // namespace ask::sim
