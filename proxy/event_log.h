#pragma once
// EventLog: askd's bounded, numbered history of what happened, read by GET /api/events and the
// operator page (docs/proxy.md). The scheduler's state changes (load, ready, stop, crash, …),
// each finished request (`request`, its request-log line), alias and pin changes all go into
// one sequence, so that one Last-Event-ID resumes a reader wherever it left off.
// Thread-safe; publish() never blocks on readers.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace ask::proxy {

// One entry of the history.
struct RouterEvent {
  std::uint64_t seq = 0; // 1, 2, 3, … in order; the SSE event id
  std::string kind;      // "load", "ready", "stop", "exit", "crash", "request", "alias", …
  nlohmann::json data;   // {"model", "instance", "detail", "time", …}
};

class EventLog {
public:
  // Keeps the newest `capacity` events (at least 1) for readers that lag.
  explicit EventLog(std::size_t capacity = 1'024);

  // Appends an event and wakes the readers; returns its sequence number.
  std::uint64_t publish(std::string kind, nlohmann::json data);

  // Events with a sequence number above `after`, oldest first, waiting until `deadline` for
  // the first one. `resumed` is false when some after `after` were already dropped (the
  // reader should re-read the whole state). Empty when none came in time.
  struct Events {
    std::vector<RouterEvent> events;
    bool resumed = true;
  };
  Events after(std::uint64_t after, std::chrono::steady_clock::time_point deadline) const;

  // The newest `n` events of `kind` still held, oldest first (GET /api/requests).
  std::vector<RouterEvent> newest(std::string_view kind, std::size_t n) const;

  // The sequence number of the newest event, 0 before the first.
  std::uint64_t last() const;
  void set_capacity(std::size_t capacity);

private:
  mutable std::mutex m_mutex;
  mutable std::condition_variable m_changed;
  std::deque<RouterEvent> m_history; // guarded by m_mutex
  std::uint64_t m_last = 0;          // guarded by m_mutex
  std::size_t m_capacity;            // guarded by m_mutex
};

} // namespace ask::proxy
