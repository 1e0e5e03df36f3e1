// Scheduler, its time-driven part: tick() (GPU memory released long enough ago, load
// timeouts, keep_alive and replica expiry, drain-wait limits) and next_wakeup(), when an idle
// instance expires or stops at once (expiry(), settle_idle()), and the crash-loop backoff
// (backoff_until()). The rest of the state machine is in scheduler.cpp; docs/scheduler.md.

#include "router/scheduler.h"

#include <algorithm>
#include <optional>
#include <string>

#include "router/scheduler_text.h"

namespace ask::router {
namespace {

using scheduler_detail::span_text;

} // namespace

// --- time ------------------------------------------------------------------------------

void Scheduler::tick() {
  const SteadyTime now = m_clock.now();
  for (GpuState& g : m_gpu) {
    std::erase_if(g.pending, [&](const Release& r) {
      if (now - r.at < std::chrono::nanoseconds(m_options.release_wait)) {
        return false;
      }
      g.trusted += r.bytes;
      return true;
    });
  }
  for (auto& [id, inst] : m_instances) {
    const ModelSpec* m = spec(inst.model);
    if (inst.state == InstanceState::starting && m != nullptr &&
        now - inst.started >= std::chrono::nanoseconds(m->load_timeout)) {
      const std::string why = inst.model + " did not answer /health within " +
                              span_text(m->load_timeout) + " (load_timeout)";
      for (auto& [rid, r] : m_requests) {
        if (r.model == inst.model && std::holds_alternative<Waiting>(r.outcome)) {
          fail(r, core::Error::timeout(why));
        }
      }
      ModelState& st = m_state[inst.model];
      ++st.failures;
      st.last_failure = now;
      st.last_failure_detail = "load timed out after " + span_text(m->load_timeout);
      event(EventRecord::Kind::load_failed, inst.model, id, why);
      stop_instance(inst, "load timed out after " + span_text(m->load_timeout));
    } else if (inst.state == InstanceState::ready) {
      if (const auto at = expiry(inst); at && now >= *at) {
        stop_instance(inst, (inst.prewarm_until ? std::string("prewarmed, but no request came")
                             : is_replica(inst) ? std::string("idle replica")
                                                : "keep_alive " + m->keep_alive.to_string() +
                                                      " expired") +
                                ": idle for " + span_text(now - inst.idle_since));
      }
    }
  }
  for (auto& [rid, r] : m_requests) {
    if (std::holds_alternative<Waiting>(r.outcome) && r.drain_deadline && now >= *r.drain_deadline) {
      event(EventRecord::Kind::cannot_place, r.model, 0, r.wait_reason);
      fail(r, core::Error::overloaded("cannot place " + r.model + " within " +
                                      span_text(drain_wait_of(r.model)) + ": " + r.wait_reason));
    }
  }
  pump();
}

std::optional<SteadyTime> Scheduler::next_wakeup() const {
  const SteadyTime now = m_clock.now();
  std::optional<SteadyTime> next;
  const auto consider = [&next](SteadyTime t) {
    if (!next || t < *next) {
      next = t;
    }
  };
  for (const GpuState& g : m_gpu) {
    for (const Release& r : g.pending) {
      consider(r.at + m_options.release_wait);
    }
  }
  for (const auto& [id, inst] : m_instances) {
    const ModelSpec* m = spec(inst.model);
    if (inst.state == InstanceState::starting && m != nullptr) {
      consider(inst.started + m->load_timeout);
    } else if (const auto at = expiry(inst)) {
      consider(*at);
    }
  }
  for (const auto& [rid, r] : m_requests) {
    if (std::holds_alternative<Waiting>(r.outcome) && r.drain_deadline) {
      consider(*r.drain_deadline);
    }
  }
  if (const auto at = next_due_change()) {
    consider(*at);
  }
  if (next && *next < now) {
    next = now;
  }
  return next;
}

std::optional<SteadyTime> Scheduler::expiry(const Instance& inst) const {
  const ModelSpec* m = spec(inst.model);
  if (m == nullptr || inst.state != InstanceState::ready || inst.in_flight > 0) {
    return std::nullopt;
  }
  const auto keep = m->pinned ? std::nullopt : m->keep_alive.finite();
  if (inst.prewarm_until) { // kept for the request it was loaded for, or keep_alive if longer
    return keep ? std::optional(std::max(*inst.prewarm_until, inst.idle_since + *keep))
                : std::nullopt;
  }
  if (is_replica(inst)) {
    return inst.idle_since + std::min<std::chrono::milliseconds>(
                                 keep.value_or(m_options.replica_idle), m_options.replica_idle);
  }
  if (!keep) {
    return std::nullopt;
  }
  return inst.idle_since + *keep;
}

void Scheduler::settle_idle(Instance& inst) {
  if (inst.state != InstanceState::ready || inst.in_flight > 0) {
    return;
  }
  const ModelSpec* m = spec(inst.model);
  if (m == nullptr) {
    stop_instance(inst, "removed from the configuration");
  } else if (inst.stop_when_idle) {
    stop_instance(inst, inst.stop_reason);
  } else if (!m->pinned && m->keep_alive.is_zero() && !inst.prewarm_until) {
    stop_instance(inst, "keep_alive 0: done");
  }
}

std::optional<SteadyTime> Scheduler::backoff_until(const std::string& model) const {
  const auto it = m_state.find(model);
  if (it == m_state.end() || it->second.failures < 2) {
    return std::nullopt;
  }
  auto wait = m_options.backoff_base;
  for (int i = 2; i < it->second.failures && wait < m_options.backoff_max; ++i) {
    wait *= 2;
  }
  return it->second.last_failure + std::min(wait, m_options.backoff_max);
}

} // namespace ask::router
