#pragma once
// llama-server's slots: --parallel N requests generate at once; more wait ("deferred")
// until a slot frees, in arrival order. /slots and /metrics read the state. Thread-safe.

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

namespace ask::sim {

struct SlotState {
  bool busy = false;
  long long task_id = 0;
  long long prompt_tokens = 0;
  long long decoded = 0;         // tokens generated so far
  long long remaining = 0;       // tokens left before the limit
  nlohmann::ordered_json params; // the request's sampling parameters, as /slots shows them
};

class SlotPool;

// A held slot; released on destruction.
class SlotLease {
public:
  SlotLease(SlotPool& pool, std::size_t id) : m_pool(&pool), m_id(id) {}
  SlotLease(SlotLease&& other) noexcept : m_pool(other.m_pool), m_id(other.m_id) {
    other.m_pool = nullptr;
  }
  SlotLease& operator=(SlotLease&&) = delete;
  ~SlotLease();

  std::size_t id() const { return m_id; }
  // Progress shown in /slots.
  void progress(long long decoded, long long remaining);
  // Frees the slot now rather than at destruction.
  void release();

private:
  SlotPool* m_pool;
  std::size_t m_id;
};

class SlotPool {
public:
  // `slots` = 0 means unlimited (Ollama mode); `n_ctx` is each slot's context.
  // `on_queue` is told +1 / -1 as requests start and stop waiting (called with the pool's
  // lock held: it must not call back into the pool).
  SlotPool(std::size_t slots, long long n_ctx, std::function<void(int delta)> on_queue = {});

  // Waits for a free slot in arrival order. `give_up` is polled while waiting (every
  // ~10 ms); when it returns true the wait ends with nullopt.
  std::optional<SlotLease> acquire(long long prompt_tokens, nlohmann::ordered_json params,
                                   const std::function<bool()>& give_up);

  std::size_t size() const { return m_states.size(); }
  long long n_ctx() const { return m_n_ctx; }
  std::size_t busy() const;
  std::size_t deferred() const;
  // llama-server's GET /slots body.
  nlohmann::ordered_json to_json() const;

private:
  friend class SlotLease;
  void release(std::size_t id);
  void update(std::size_t id, long long decoded, long long remaining);
  std::size_t free_slot() const; // size() when none; m_mutex held

  mutable std::mutex m_mutex;
  std::condition_variable m_freed;
  std::vector<SlotState> m_states;
  bool m_unlimited;
  long long m_n_ctx;
  long long m_next_task = 0;
  unsigned long long m_next_ticket = 0;
  std::deque<unsigned long long> m_queue; // waiting tickets, oldest first
  std::function<void(int)> m_on_queue;
};

} // namespace ask::sim
