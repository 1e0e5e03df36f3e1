#include "proxy/limiter.h"

#include <algorithm>

namespace ask::proxy {

Permit& Permit::operator=(Permit&& other) noexcept {
  if (this != &other) {
    if (m_limiter != nullptr) {
      m_limiter->release();
    }
    m_limiter = std::exchange(other.m_limiter, nullptr);
  }
  return *this;
}

Permit::~Permit() {
  if (m_limiter != nullptr) {
    m_limiter->release();
  }
}

Limiter::Limiter(std::string scope, std::string name, int max_concurrency, int max_queue)
    : m_scope(std::move(scope)), m_name(std::move(name)), m_max(std::max(0, max_concurrency)),
      m_max_queue(std::max(0, max_queue)) {}

core::Result<Permit> Limiter::acquire(Time deadline, const std::function<bool()>& cancelled) {
  if (m_max == 0) {
    return Permit();
  }
  std::unique_lock lock(m_mutex);
  if (m_in_use < m_max && m_waiting == 0) {
    ++m_in_use;
    return Permit(this);
  }
  if (m_waiting >= m_max_queue) {
    return core::fail(core::Error::overloaded(
        m_scope + " " + m_name + ": queue full (" + std::to_string(m_in_use) + " running, " +
        std::to_string(m_waiting) + " waiting)"));
  }
  const std::uint64_t ticket = m_next_ticket++;
  ++m_waiting;
  auto leave = [&](core::Error error) -> core::Result<Permit> {
    --m_waiting;
    // Our ticket may be the one being served: pass the turn on. Tickets behind us are
    // renumbered implicitly by skipping ours.
    m_skipped.push_back(ticket);
    advance_past_skipped();
    m_cv.notify_all();
    return core::fail(std::move(error));
  };
  for (;;) {
    if (ticket == m_serving && m_in_use < m_max) {
      --m_waiting;
      ++m_in_use;
      ++m_serving;
      advance_past_skipped();
      m_cv.notify_all();
      return Permit(this);
    }
    if (cancelled && cancelled()) {
      return leave(core::Error::cancelled("gave up waiting for " + m_scope + " " + m_name));
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      return leave(core::Error::timeout("waited too long for a free slot of " + m_scope + " " +
                                        m_name));
    }
    m_cv.wait_until(lock, std::min(deadline, now + std::chrono::milliseconds(50)));
  }
}

void Limiter::advance_past_skipped() {
  for (auto it = std::find(m_skipped.begin(), m_skipped.end(), m_serving); it != m_skipped.end();
       it = std::find(m_skipped.begin(), m_skipped.end(), m_serving)) {
    m_skipped.erase(it);
    ++m_serving;
  }
}

void Limiter::release() {
  std::lock_guard lock(m_mutex);
  --m_in_use;
  m_cv.notify_all();
}

int Limiter::in_use() const {
  std::lock_guard lock(m_mutex);
  return m_in_use;
}

int Limiter::waiting() const {
  std::lock_guard lock(m_mutex);
  return m_waiting;
}


LimiterSet::LimiterSet(const config::Config& config) {
  for (const config::Backend& b : config.backends) {
    if (b.max_concurrency > 0) {
      m_backends[b.name] =
          std::make_unique<Limiter>("backend", b.name, b.max_concurrency, b.max_queue);
    }
  }
  for (const config::Model& m : config.models) {
    if (m.max_concurrency > 0) {
      m_models[m.name] = std::make_unique<Limiter>("model", m.name, m.max_concurrency, m.max_queue);
    }
  }
}

Limiter* LimiterSet::backend(const std::string& name) const {
  auto it = m_backends.find(name);
  return it == m_backends.end() ? nullptr : it->second.get();
}

Limiter* LimiterSet::model(const std::string& name) const {
  auto it = m_models.find(name);
  return it == m_models.end() ? nullptr : it->second.get();
}

std::vector<const Limiter*> LimiterSet::all() const {
  std::vector<const Limiter*> out;
  for (const auto& [name, l] : m_backends) {
    out.push_back(l.get());
  }
  for (const auto& [name, l] : m_models) {
    out.push_back(l.get());
  }
  return out;
}

} // namespace ask::proxy
