// Scheduler, its room: what a GPU has free for a new instance (our accounting against the
// last reading), whether a model fits, room held for an earlier waiting request, which idle
// instances to evict, and room kept for models due soon. The decisions that use these are in
// scheduler.cpp; docs/scheduler.md gives the policy.

#include "router/scheduler.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace ask::router {
namespace {

double room_seconds(std::chrono::nanoseconds d) { return std::chrono::duration<double>(d).count(); }

constexpr std::size_t k_min_due_gaps = 3; // gaps it takes to call a model due
constexpr double k_due_share = 0.75;

// Whether a model quiet for `quiet` seconds is due within `horizon`: of its remembered gaps
// that have not gone by (with a horizon's slack, as a periodic job runs a little late or
// early), three quarters or more end within the horizon. Too few such gaps: not due.
bool is_due(const std::vector<double>& gaps, double quiet, double horizon) {
  std::size_t open = 0;
  std::size_t ending = 0;
  for (double g : gaps) {
    if (g > quiet - horizon) {
      ++open;
      ending += g <= quiet + horizon ? 1 : 0;
    }
  }
  return open >= k_min_due_gaps &&
         static_cast<double>(ending) >= k_due_share * static_cast<double>(open);
}

} // namespace

void Scheduler::reserve(const Plan& plan) {
  m_reserved.resize(m_inventory.gpus.size(), 0);
  for (const Charge& c : plan.charges()) {
    for (std::size_t g = 0; g < m_inventory.gpus.size(); ++g) {
      if (m_inventory.gpus[g].id == c.device) {
        m_reserved[g] += c.bytes;
      }
    }
  }
}

bool Scheduler::has_waiting(std::string_view model) const {
  return std::any_of(m_requests.begin(), m_requests.end(), [&](const auto& kv) {
    return kv.second.model == model && std::holds_alternative<Waiting>(kv.second.outcome);
  });
}

bool Scheduler::is_replica(const Instance& inst) const {
  return std::any_of(m_instances.begin(), m_instances.end(), [&](const auto& kv) {
    const Instance& other = kv.second;
    return other.model == inst.model && other.id < inst.id &&
           other.state != InstanceState::stopping && !other.stop_when_idle;
  });
}

std::uint64_t Scheduler::available(std::size_t g, const std::vector<InstanceId>& freed,
                                   bool trust_pending) const {
  const Gpu& gpu = m_inventory.gpus[g];
  const auto is_freed = [&freed](InstanceId id) {
    return std::find(freed.begin(), freed.end(), id) != freed.end();
  };
  std::uint64_t ours = 0;
  std::uint64_t unseen = 0; // ours, not yet in the reading
  std::uint64_t seen_freed = 0;
  for (const auto& [id, inst] : m_instances) {
    for (const Share& s : inst.shares) {
      if (s.gpu != g) {
        continue;
      }
      // Mapped file pages (`unread`) never show as used in a reading: subtracted while the
      // instance lives, never added back when it goes.
      if (is_freed(id)) {
        seen_freed += s.seen ? s.bytes - std::min(s.unread, s.bytes) : 0;
        continue;
      }
      ours += s.bytes;
      unseen += s.seen ? std::min(s.unread, s.bytes) : s.bytes;
    }
  }
  if (g < m_reserved.size()) {
    ours += m_reserved[g]; // room an earlier waiting request is being given
  }
  std::uint64_t avail = gpu.cap_bytes > ours ? gpu.cap_bytes - ours : 0;
  const GpuState& st = m_gpu[g];
  if (st.reading) {
    std::uint64_t free = *st.reading + st.trusted + seen_freed;
    for (const Release& r : st.pending) {
      free += trust_pending ? r.bytes : 0;
    }
    const std::uint64_t minus =
        gpu.reserve_bytes + unseen + (g < m_reserved.size() ? m_reserved[g] : 0);
    avail = std::min(avail, free > minus ? free - minus : 0);
  }
  return avail;
}

std::optional<Plan> Scheduler::fit(const ModelSpec& m, const std::vector<InstanceId>& freed,
                                   bool trust_pending, NoFit* why) const {
  Inventory inv = m_inventory;
  for (std::size_t g = 0; g < inv.gpus.size(); ++g) {
    Gpu& gpu = inv.gpus[g];
    const std::uint64_t a = available(g, freed, trust_pending);
    gpu.cap_bytes = a;
    gpu.total_bytes = std::max(gpu.total_bytes, a);
    gpu.free_bytes.reset();
    gpu.reserve_bytes = 0;
  }
  auto plan = place(m.estimate, inv, m.placement);
  if (!plan) {
    if (why != nullptr) {
      *why = std::move(plan.error());
    }
    return std::nullopt;
  }
  return std::move(*plan);
}

double Scheduler::eviction_key(const Instance& inst) const {
  const SteadyTime now = m_clock.now();
  std::uint64_t bytes = 0;
  for (const Share& s : inst.shares) {
    bytes += s.bytes;
  }
  const double gib = static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0);
  const double idle_s = room_seconds(now - inst.idle_since);
  if (is_replica(inst)) {
    return -std::numeric_limits<double>::infinity(); // its model stays warm in the other one
  }
  if (m_options.eviction == EvictionOrder::seed_score) {
    return -(std::log(idle_s + 1) + 1 / std::log2(gib + 1 + 1e-9));
  }
  const auto it = m_state.find(inst.model);
  const ModelState st = it == m_state.end() ? ModelState{} : it->second;
  const double tau = room_seconds(m_options.rate_decay);
  const double rate = st.rate_score * std::exp(-room_seconds(now - st.last_request) / tau) / tau;
  double horizon = room_seconds(m_options.reuse_horizon);
  if (const auto at = expiry(inst)) {
    horizon = std::min(horizon, std::max(0.0, room_seconds(*at - now)));
  }
  const double reuse = 1 - std::exp(-rate * horizon);
  const double reload_s = st.last_load.count() > 0 ? room_seconds(st.last_load) : 1 + gib / 2;
  return reuse * reload_s / std::max(gib, 1.0 / 1024);
}

std::vector<const ModelSpec*> Scheduler::due_cold() const {
  std::vector<const ModelSpec*> out;
  if (m_options.due_horizon.count() <= 0) {
    return out;
  }
  const SteadyTime now = m_clock.now();
  const double horizon = room_seconds(m_options.due_horizon);
  for (const ModelSpec& m : m_models) {
    const auto it = m_state.find(m.name);
    if (it == m_state.end() || it->second.last_request == SteadyTime{} ||
        !is_due(it->second.gaps, room_seconds(now - it->second.last_request), horizon)) {
      continue;
    }
    const bool up = std::any_of(m_instances.begin(), m_instances.end(), [&](const auto& kv) {
      return kv.second.model == m.name && kv.second.state != InstanceState::stopping &&
             !kv.second.stop_when_idle;
    });
    if (const auto until = backoff_until(m.name); up || (until && now < *until)) {
      continue;
    }
    out.push_back(&m);
  }
  return out;
}

bool Scheduler::leaves_room(const ModelSpec& m, const Plan& plan) {
  const std::vector<const ModelSpec*> due = due_cold();
  if (due.empty()) {
    return true;
  }
  // Room on its way out counts as room: a replica draining for a due model is not replaced.
  std::vector<InstanceId> leaving;
  for (const auto& [id, inst] : m_instances) {
    if (inst.state == InstanceState::stopping || inst.stop_when_idle) {
      leaving.push_back(id);
    }
  }
  std::vector<const ModelSpec*> fitting;
  for (const ModelSpec* other : due) {
    if (other->name != m.name && fit(*other, leaving, true, nullptr)) {
      fitting.push_back(other);
    }
  }
  if (fitting.empty()) {
    return true;
  }
  const std::vector<std::uint64_t> before = m_reserved;
  reserve(plan); // as if the replica were there
  const bool room = std::all_of(fitting.begin(), fitting.end(), [&](const ModelSpec* other) {
    return fit(*other, leaving, true, nullptr).has_value();
  });
  m_reserved = before;
  return room;
}

void Scheduler::drain_for_due() {
  for (const ModelSpec* m : due_cold()) {
    std::vector<InstanceId> freed; // on its way out already
    std::vector<Instance*> replicas;
    for (auto& [id, inst] : m_instances) {
      const ModelSpec* other = spec(inst.model);
      if (inst.state == InstanceState::stopping || inst.stop_when_idle) {
        freed.push_back(id);
      } else if (inst.model != m->name && (other == nullptr || !other->pinned) &&
                 is_replica(inst)) {
        replicas.push_back(&inst);
      }
    }
    // A waiting request makes its own room (serve()); room on its way out may be enough.
    if (replicas.empty() || has_waiting(m->name) || fit(*m, freed, true, nullptr)) {
      continue;
    }
    // The fewest replicas it needs gone, the least busy first.
    std::stable_sort(replicas.begin(), replicas.end(), [](const Instance* a, const Instance* b) {
      return a->in_flight < b->in_flight;
    });
    std::vector<Instance*> chosen;
    for (Instance* inst : replicas) {
      freed.push_back(inst->id);
      chosen.push_back(inst);
      if (fit(*m, freed, true, nullptr)) {
        break;
      }
    }
    if (!fit(*m, freed, true, nullptr)) {
      continue; // replicas alone would not make room: a request for it will evict when it comes
    }
    for (std::size_t k = chosen.size(); k-- > 0;) {
      std::vector<InstanceId> without = freed;
      std::erase(without, chosen[k]->id);
      if (fit(*m, without, true, nullptr)) {
        freed = std::move(without);
        chosen.erase(chosen.begin() + static_cast<std::ptrdiff_t>(k));
      }
    }
    for (Instance* inst : chosen) {
      const std::string reason = "replica scaled down: " + m->name + " is due";
      if (inst->in_flight == 0) {
        stop_instance(*inst, reason);
      } else {
        inst->stop_when_idle = true;
        inst->stop_reason = reason;
        event(EventRecord::Kind::stop, inst->model, inst->id,
              reason + " (once its requests finish)");
      }
    }
  }
}

void Scheduler::prewarm_due() {
  if (!m_options.prewarm) {
    return;
  }
  const SteadyTime now = m_clock.now();
  for (const ModelSpec* m : due_cold()) {
    ModelState& st = m_state[m->name];
    // Once per quiet gap; a request already waiting for it loads it itself.
    if (st.last_prewarm >= st.last_request || has_waiting(m->name)) {
      continue;
    }
    const bool group_busy =
        !m->group.empty() && std::any_of(m_instances.begin(), m_instances.end(), [&](const auto& kv) {
          const ModelSpec* other = spec(kv.second.model);
          return other != nullptr && other->group == m->group && other->name != m->name;
        });
    if (group_busy) {
      continue; // never stops a member of its exclusive group
    }
    auto plan = fit(*m, {}, false, nullptr);
    if (!plan) {
      continue; // nothing is evicted for a request that has not come
    }
    st.last_prewarm = now;
    const InstanceId id = start(*m, std::move(*plan), "prewarm: due soon, by its usual gap");
    m_instances.at(id).prewarm_until = now + 2 * m_options.due_horizon + st.last_load;
  }
}

std::optional<SteadyTime> Scheduler::next_due_change() const {
  const bool replicas = std::any_of(m_instances.begin(), m_instances.end(), [&](const auto& kv) {
    return kv.second.state != InstanceState::stopping && !kv.second.stop_when_idle &&
           is_replica(kv.second);
  });
  if ((!replicas && !m_options.prewarm) || m_options.due_horizon.count() <= 0) {
    return std::nullopt;
  }
  // Only replicas (leaves_room, drain_for_due) and prewarm care. is_due() changes only where
  // a gap enters or leaves the window around the quiet time; a millisecond past it, so that
  // rounding does not land on the wrong side.
  const SteadyTime now = m_clock.now();
  const auto horizon = std::chrono::nanoseconds(m_options.due_horizon);
  std::optional<SteadyTime> next;
  for (const auto& [name, st] : m_state) {
    for (double g : st.gaps) {
      const auto gap =
          std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(g));
      for (const SteadyTime at : {st.last_request + gap - horizon + std::chrono::milliseconds(1),
                                  st.last_request + gap + horizon + std::chrono::milliseconds(1)}) {
        if (at > now && (!next || at < *next)) {
          next = at;
        }
      }
    }
  }
  return next;
}

Scheduler::Evictions Scheduler::choose_evictions(const ModelSpec& m,
                                                const std::vector<InstanceId>& stopping) const {
  struct Candidate {
    InstanceId id;
    int tier; // 0: idle; 1: a busy replica, which drains (no new requests) before it stops
    double key;
    SteadyTime idle_since;
  };
  std::vector<Candidate> pool;
  for (const auto& [id, inst] : m_instances) {
    const ModelSpec* other = spec(inst.model);
    // A replica still loading holds no request: cancelled first.
    if (inst.state == InstanceState::starting && inst.model != m.name &&
        (other == nullptr || !other->pinned) && is_replica(inst)) {
      pool.push_back({id, 0, -std::numeric_limits<double>::infinity(), inst.started});
      continue;
    }
    // Never an instance whose model has requests waiting: they would only load it again.
    if (inst.state != InstanceState::ready || inst.model == m.name ||
        (other != nullptr && other->pinned) || has_waiting(inst.model)) {
      continue;
    }
    if (inst.in_flight == 0) {
      pool.push_back({id, 0, eviction_key(inst), inst.idle_since});
    } else if (!inst.stop_when_idle && is_replica(inst)) {
      pool.push_back({id, 1, static_cast<double>(inst.in_flight), inst.idle_since});
    }
  }
  std::sort(pool.begin(), pool.end(), [](const Candidate& a, const Candidate& b) {
    if (a.tier != b.tier) {
      return a.tier < b.tier;
    }
    if (a.key != b.key) {
      return a.key < b.key;
    }
    return a.idle_since != b.idle_since ? a.idle_since < b.idle_since : a.id < b.id;
  });
  std::vector<InstanceId> freed = stopping;
  std::vector<InstanceId> chosen;
  bool fits = false;
  for (const Candidate& c : pool) {
    freed.push_back(c.id);
    chosen.push_back(c.id);
    if (fit(m, freed, true, nullptr)) {
      fits = true;
      break;
    }
  }
  if (!fits) {
    return {};
  }
  // Keep only what is needed: drop victims, most valuable first, while it still fits (an
  // early victim on a GPU the model cannot use frees nothing it needs).
  for (std::size_t k = chosen.size(); k-- > 0;) {
    std::vector<InstanceId> without = stopping;
    for (std::size_t j = 0; j < chosen.size(); ++j) {
      if (j != k) {
        without.push_back(chosen[j]);
      }
    }
    if (fit(m, without, true, nullptr)) {
      chosen.erase(chosen.begin() + static_cast<std::ptrdiff_t>(k));
    }
  }
  std::vector<InstanceId> all = stopping;
  all.insert(all.end(), chosen.begin(), chosen.end());
  auto plan = fit(m, all, true, nullptr);
  return {std::move(chosen), plan ? std::move(*plan) : Plan{}};
}

} // namespace ask::router
