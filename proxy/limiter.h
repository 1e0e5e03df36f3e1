#pragma once
// Limiter: at most N requests at once towards a backend or a model (GPUs that misbehave
// under parallel load), then a bounded FIFO queue; beyond that, `overloaded` at once (the
// proxy answers 429 with Retry-After, or falls back). Permits are RAII.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "config/types.h"
#include "core/error.h"

namespace ask::proxy {

class Limiter;

// Holds one slot of a Limiter until destroyed. An empty permit (unlimited) holds nothing.
class Permit {
public:
  Permit() = default;
  Permit(Permit&& other) noexcept : m_limiter(std::exchange(other.m_limiter, nullptr)) {}
  Permit& operator=(Permit&& other) noexcept;
  Permit(const Permit&) = delete;
  Permit& operator=(const Permit&) = delete;
  ~Permit();

private:
  friend class Limiter;
  explicit Permit(Limiter* limiter) : m_limiter(limiter) {}
  Limiter* m_limiter = nullptr;
};

class Limiter {
public:
  using Time = std::chrono::steady_clock::time_point;

  // `max_concurrency` 0 = unlimited (acquire never waits); `max_queue` requests may wait.
  Limiter(std::string scope, std::string name, int max_concurrency, int max_queue);

  // A slot, in arrival order. Errors: overloaded when the queue is full ("queue full"),
  // timeout when `deadline` passes while waiting, cancelled when `cancelled()` turns true
  // (polled every 50 ms while waiting).
  core::Result<Permit> acquire(Time deadline, const std::function<bool()>& cancelled);

  int in_use() const;
  int waiting() const;
  const std::string& scope() const { return m_scope; }
  const std::string& name() const { return m_name; }
  bool limited() const { return m_max > 0; }

private:
  friend class Permit;
  void release();
  // Moves m_serving past tickets whose holders gave up.
  void advance_past_skipped();

  std::string m_scope;
  std::string m_name;
  int m_max;
  int m_max_queue;
  mutable std::mutex m_mutex;
  std::condition_variable m_cv;
  int m_in_use = 0;
  int m_waiting = 0;
  std::uint64_t m_next_ticket = 0;  // handed to each waiter on arrival
  std::uint64_t m_serving = 0;      // the ticket whose turn it is
  std::vector<std::uint64_t> m_skipped; // tickets of waiters that left before their turn
};

// The limiters of a config: one per backend and one per model that sets max_concurrency.
class LimiterSet {
public:
  explicit LimiterSet(const config::Config& config);
  // nullptr when unlimited.
  Limiter* backend(const std::string& name) const;
  Limiter* model(const std::string& name) const;
  // Every limiter, for the queue gauges.
  std::vector<const Limiter*> all() const;

private:
  std::map<std::string, std::unique_ptr<Limiter>, std::less<>> m_backends;
  std::map<std::string, std::unique_ptr<Limiter>, std::less<>> m_models;
};

} // namespace ask::proxy
