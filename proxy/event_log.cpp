#include "proxy/event_log.h"

#include <algorithm>

namespace ask::proxy {

EventLog::EventLog(std::size_t capacity) : m_capacity(std::max<std::size_t>(1, capacity)) {}

std::uint64_t EventLog::publish(std::string kind, nlohmann::json data) {
  std::uint64_t seq = 0;
  std::vector<RouterEvent> dropped; // freed after the lock: readers and publishers wait less
  {
    std::lock_guard lock(m_mutex);
    seq = ++m_last;
    m_history.push_back({seq, std::move(kind), std::move(data)});
    while (m_history.size() > m_capacity) {
      dropped.push_back(std::move(m_history.front()));
      m_history.pop_front();
    }
  }
  m_changed.notify_all();
  return seq;
}

EventLog::Events EventLog::after(std::uint64_t after,
                                 std::chrono::steady_clock::time_point deadline) const {
  std::unique_lock lock(m_mutex);
  m_changed.wait_until(lock, deadline, [&] { return m_last > after; });
  Events out;
  // The oldest kept is m_last - size + 1: anything between `after` and it is lost.
  const std::uint64_t oldest = m_last - m_history.size() + 1;
  out.resumed = m_history.empty() || after + 1 >= oldest || after >= m_last;
  for (const RouterEvent& e : m_history) {
    if (e.seq > after) {
      out.events.push_back(e);
    }
  }
  return out;
}

std::vector<RouterEvent> EventLog::newest(std::string_view kind, std::size_t n) const {
  std::vector<RouterEvent> out;
  std::lock_guard lock(m_mutex);
  for (auto it = m_history.rbegin(); it != m_history.rend() && out.size() < n; ++it) {
    if (it->kind == kind) {
      out.push_back(*it);
    }
  }
  std::reverse(out.begin(), out.end());
  return out;
}

std::uint64_t EventLog::last() const {
  std::lock_guard lock(m_mutex);
  return m_last;
}

void EventLog::set_capacity(std::size_t capacity) {
  std::lock_guard lock(m_mutex);
  m_capacity = std::max<std::size_t>(1, capacity);
  while (m_history.size() > m_capacity) {
    m_history.pop_front();
  }
}

} // namespace ask::proxy
