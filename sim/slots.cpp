#include "sim/slots.h"

#include <algorithm>
#include <chrono>

namespace ask::sim {

SlotLease::~SlotLease() {
  release();
}

void SlotLease::release() {
  if (m_pool != nullptr) {
    m_pool->release(m_id);
    m_pool = nullptr;
  }
}

void SlotLease::progress(long long decoded, long long remaining) {
  if (m_pool != nullptr) {
    m_pool->update(m_id, decoded, remaining);
  }
}

SlotPool::SlotPool(std::size_t slots, long long n_ctx, std::function<void(int)> on_queue)
    : m_states(slots), m_unlimited(slots == 0), m_n_ctx(n_ctx), m_on_queue(std::move(on_queue)) {}

std::size_t SlotPool::free_slot() const {
  for (std::size_t i = 0; i < m_states.size(); ++i) {
    if (!m_states[i].busy) {
      return i;
    }
  }
  return m_states.size();
}

std::optional<SlotLease> SlotPool::acquire(long long prompt_tokens, nlohmann::ordered_json params,
                                           const std::function<bool()>& give_up) {
  std::unique_lock lock(m_mutex);
  if (m_unlimited && free_slot() == m_states.size()) {
    m_states.emplace_back();
  }
  const unsigned long long ticket = m_next_ticket++;
  m_queue.push_back(ticket);
  std::size_t slot = free_slot();
  const bool waits = m_queue.size() > 1 || slot == m_states.size();
  if (waits && m_on_queue) {
    m_on_queue(+1);
  }
  for (;;) {
    slot = free_slot();
    if (m_queue.front() == ticket && slot < m_states.size()) {
      m_queue.pop_front();
      if (waits && m_on_queue) {
        m_on_queue(-1);
      }
      m_states[slot] = SlotState{true, m_next_task++, prompt_tokens, 0, 0, std::move(params)};
      m_freed.notify_all(); // the next in line may find a slot too
      return SlotLease(*this, slot);
    }
    m_freed.wait_for(lock, std::chrono::milliseconds(10));
    if (give_up()) {
      m_queue.erase(std::find(m_queue.begin(), m_queue.end(), ticket));
      if (waits && m_on_queue) {
        m_on_queue(-1);
      }
      m_freed.notify_all();
      return std::nullopt;
    }
  }
}

void SlotPool::release(std::size_t id) {
  std::lock_guard lock(m_mutex);
  m_states[id].busy = false;
  m_states[id].params = nullptr;
  m_freed.notify_all();
}

void SlotPool::update(std::size_t id, long long decoded, long long remaining) {
  std::lock_guard lock(m_mutex);
  m_states[id].decoded = decoded;
  m_states[id].remaining = remaining;
}

std::size_t SlotPool::busy() const {
  std::lock_guard lock(m_mutex);
  return static_cast<std::size_t>(
      std::count_if(m_states.begin(), m_states.end(), [](const SlotState& s) { return s.busy; }));
}

std::size_t SlotPool::deferred() const {
  std::lock_guard lock(m_mutex);
  // The front of the queue may be about to take a free slot; count only real waiters.
  return m_queue.size() - (m_queue.empty() || free_slot() == m_states.size() ? 0 : 1);
}

nlohmann::ordered_json SlotPool::to_json() const {
  std::lock_guard lock(m_mutex);
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (std::size_t i = 0; i < m_states.size(); ++i) {
    const SlotState& s = m_states[i];
    nlohmann::ordered_json slot = {
        {"id", i}, {"n_ctx", m_n_ctx}, {"speculative", false}, {"is_processing", s.busy}};
    if (s.busy) {
      slot["id_task"] = s.task_id;
      slot["n_prompt_tokens"] = s.prompt_tokens;
      slot["n_prompt_tokens_processed"] = s.prompt_tokens;
      slot["n_prompt_tokens_cache"] = 0;
      slot["params"] = s.params;
      slot["next_token"] = nlohmann::ordered_json::array({{{"has_next_token", true},
                                                           {"has_new_line", false},
                                                           {"n_remain", s.remaining},
                                                           {"n_decoded", s.decoded}}});
    }
    out.push_back(std::move(slot));
  }
  return out;
}

} // namespace ask::sim
