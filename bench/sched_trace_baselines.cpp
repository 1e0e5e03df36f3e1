// sched_trace's baselines: the lru-models-max, swap and ollama policies, modelled on
// llama.cpp's router mode, llama-swap and Ollama, over the event loop, slots and memory
// accounting that askd's replay uses too (sched_trace_sim.h).
//
// One simulator, three policies. Each holds at most one instance per model (none of the
// three runs replicas) and the same slots as askd.
// - lru-models-max (llama.cpp router mode): at most models_max instances; a request for a
//   model not loaded starts it, first unloading the least recently used idle instance when
//   the count is reached (the load begins once that one has exited; with every instance
//   busy the request waits). No memory accounting: the load goes where the memory it can
//   see is free (as llama-server's --fit would), else where it would go on an idle machine,
//   overlapping what is there; every load that pushes a GPU past its cap is an overcommit
//   (an out-of-memory failure in reality; here it proceeds so the rest can be measured). No
//   idle unload (router mode has none) unless baseline_ttl.
// - swap (llama-swap's default group): one model at a time, requests in arrival order
//   behind one lock: a request for another model waits for the running one's requests to
//   finish, then for its exit and the new load; requests behind it wait too. No ttl (its
//   default) unless baseline_ttl.
// - ollama: memory-aware with the same caps. One pending queue handled in order (its
//   processPending loop): a loaded (or loading) model is used; else the model is loaded if
//   it fits and fewer than 3 × GPUs are loaded; else one runner is unloaded — the idle one
//   with the shortest keep_alive (ties: least recently used), or, when all are busy, the
//   shortest-keep_alive one once it drains — and the queue waits for its exit before trying
//   again. keep_alive as configured.

#include <algorithm>
#include <deque>
#include <limits>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "bench/sched_trace_sim.h"
#include "core/duration.h"

namespace ask::bench::sched::detail {
namespace {

class BaselineReplay {
public:
  BaselineReplay(Policy policy, const Rig& rig, const std::vector<SimModel>& models,
                 const std::vector<Arrival>& trace, const ReplayOptions& options)
      : m_policy(policy), m_rig(rig), m_models(models), m_trace(trace), m_options(options),
        m_tickets(tickets_of(trace)), m_slots(m_tickets, m_events), m_memory(rig) {
    for (const SimModel& m : models) {
      m_placeable.push_back(placeable(rig, m));
    }
    m_metrics.peak.assign(m_memory.size(), 0);
    m_metrics.cold_by_model.assign(models.size(), 0);
  }

  Metrics run() {
    std::size_t next = 0;
    while (true) {
      const Ms te = m_events.next_at();
      const Ms ta = next < m_trace.size() ? m_trace[next].at : k_never;
      m_now = std::min(te, ta);
      if (m_now == k_never) {
        break;
      }
      if (m_now > give_up_at(m_trace)) {
        m_metrics.problems += "still busy a day after the last arrival; replay stopped; ";
        break;
      }
      if (te == m_now) {
        handle(m_events.pop());
      } else {
        arrive(next++);
      }
    }
    summarise(m_tickets, m_models.size(), m_metrics);
    return m_metrics;
  }

private:
  enum class State { queued, loading, ready, stopping };
  struct Instance {
    std::uint64_t id = 0;
    std::size_t model = 0;
    State state = State::queued;
    std::vector<std::uint64_t> bytes;
    Ms last_used = 0;
    bool unload_when_idle = false;
    std::uint64_t epoch = 0; // bumped by every request: an older expire event is stale
    std::uint64_t after = 0; // queued: starts loading when this instance has exited
  };

  const SimModel& model_of(const Instance& inst) const { return m_models[inst.model]; }

  Instance* live_of(std::size_t model) {
    for (auto& [id, inst] : m_instances) {
      if (inst.model == model && inst.state != State::stopping) {
        return &inst;
      }
    }
    return nullptr;
  }
  std::size_t live_count() const {
    return static_cast<std::size_t>(
        std::count_if(m_instances.begin(), m_instances.end(),
                      [](const auto& kv) { return kv.second.state != State::stopping; }));
  }
  bool stopping_any() const {
    return std::any_of(m_instances.begin(), m_instances.end(),
                       [](const auto& kv) { return kv.second.state == State::stopping; });
  }
  bool keeps_alive() const { return m_policy == Policy::ollama || m_options.baseline_ttl; }

  // The plan on what this policy's accounting leaves free; none when it does not fit.
  std::optional<std::vector<std::uint64_t>> fit_free(std::size_t model) const {
    router::Inventory inv = m_rig.inventory;
    for (std::size_t g = 0; g < inv.gpus.size(); ++g) {
      router::Gpu& gpu = inv.gpus[g];
      gpu.cap_bytes = m_memory.available(g);
      gpu.total_bytes = std::max(gpu.total_bytes, gpu.cap_bytes);
      gpu.free_bytes.reset();
      gpu.reserve_bytes = 0;
    }
    auto plan = router::place(m_models[model].spec.estimate, inv, m_models[model].spec.placement);
    if (!plan) {
      return std::nullopt;
    }
    return plan_bytes(m_rig, *plan);
  }
  // The plan on the rig with nothing else loaded (the model is known to be placeable).
  std::vector<std::uint64_t> layout_alone(std::size_t model) const {
    auto plan = router::place(m_models[model].spec.estimate, m_rig.inventory,
                              m_models[model].spec.placement);
    return plan ? plan_bytes(m_rig, *plan) : std::vector<std::uint64_t>(m_memory.size(), 0);
  }

  Instance& create(std::size_t model) {
    Instance inst;
    inst.id = m_next_id++;
    inst.model = model;
    inst.last_used = m_now;
    return m_instances.emplace(inst.id, std::move(inst)).first->second;
  }
  void start_load(Instance& inst, std::vector<std::uint64_t> bytes) {
    inst.bytes = std::move(bytes);
    inst.state = State::loading;
    m_memory.add(inst.bytes, m_metrics);
    ++m_metrics.cold_loads;
    ++m_metrics.cold_by_model[inst.model];
    m_events.push(m_now + model_of(inst).load_ms, EventKind::ready, inst.id);
  }
  void stop(Instance& inst) {
    inst.state = State::stopping;
    m_events.push(m_now + m_options.exit_ms, EventKind::exited, inst.id);
  }
  void evict(Instance& inst) {
    ++m_metrics.evictions;
    if (m_slots.in_flight(inst.id) == 0) {
      stop(inst);
    } else {
      inst.unload_when_idle = true;
    }
  }
  void dispatch(std::size_t t, Instance& inst) {
    ++inst.epoch;
    inst.last_used = m_now;
    m_slots.assign(inst.id, model_of(inst).spec.parallel, t, m_now);
  }
  // An instance with nothing in flight: unload it if asked to or as keep_alive says.
  void settle_idle(Instance& inst) {
    if (inst.state != State::ready || m_slots.in_flight(inst.id) > 0) {
      return;
    }
    if (inst.unload_when_idle) {
      stop(inst);
      return;
    }
    const core::Duration keep = model_of(inst).spec.keep_alive;
    if (!keeps_alive() || keep.is_forever()) {
      return;
    }
    if (keep.is_zero()) {
      stop(inst);
    } else {
      m_events.push(m_now + keep.value().count(), EventKind::expire, inst.id, inst.epoch);
    }
  }

  void handle(const Event& e) {
    switch (e.kind) {
    case EventKind::ready:
      if (const auto it = m_instances.find(e.id); it != m_instances.end()) {
        it->second.state = State::ready;
        it->second.last_used = m_now;
      }
      break;
    case EventKind::exited:
      if (const auto it = m_instances.find(e.id); it != m_instances.end()) {
        m_memory.remove(it->second.bytes);
        m_instances.erase(it);
      }
      m_awaiting = m_awaiting == e.id ? 0 : m_awaiting;
      for (auto& [id, inst] : m_instances) {
        if (inst.state == State::queued && inst.after == e.id) {
          start_load(inst, fit_free(inst.model).value_or(layout_alone(inst.model)));
        }
      }
      break;
    case EventKind::done: {
      const std::uint64_t id = m_slots.complete(e.id, m_now);
      if (const auto it = m_instances.find(id); it != m_instances.end()) {
        it->second.last_used = m_now;
        settle_idle(it->second);
      }
      break;
    }
    case EventKind::expire:
      if (const auto it = m_instances.find(e.id);
          it != m_instances.end() && it->second.state == State::ready &&
          it->second.epoch == e.epoch && m_slots.in_flight(e.id) == 0) {
        stop(it->second);
      }
      break;
    }
    pump();
    // An instance that became ready with nothing handed to it starts its idle period now.
    if (e.kind == EventKind::ready) {
      if (const auto it = m_instances.find(e.id); it != m_instances.end()) {
        settle_idle(it->second);
      }
    }
  }

  void arrive(std::size_t t) {
    Ticket& ticket = m_tickets[t];
    if (!m_placeable[ticket.model]) {
      ticket.failed = true;
      ticket.unplaceable = true;
      return;
    }
    m_pending.push_back(t);
    pump();
    ticket.cold = ticket.instance == 0;
  }

  void pump() {
    switch (m_policy) {
    case Policy::lru_models_max:
      pump_lru();
      break;
    case Policy::swap:
      pump_swap();
      break;
    case Policy::ollama:
      pump_ollama();
      break;
    case Policy::askd:
    case Policy::askd_seed:
      break;
    }
  }

  void pump_lru() {
    for (std::size_t k = 0; k < m_pending.size();) {
      const std::size_t t = m_pending[k];
      const std::size_t model = m_tickets[t].model;
      Instance* inst = live_of(model);
      if (inst != nullptr && inst->state == State::ready) {
        dispatch(t, *inst);
        m_pending.erase(m_pending.begin() + static_cast<std::ptrdiff_t>(k));
        continue;
      }
      if (inst == nullptr) {
        if (live_count() < static_cast<std::size_t>(m_options.models_max)) {
          Instance& fresh = create(model);
          start_load(fresh, fit_free(model).value_or(layout_alone(model)));
        } else if (Instance* victim = least_recent_idle()) {
          evict(*victim);
          Instance& fresh = create(model);
          fresh.after = victim->id;
        }
      }
      ++k;
    }
  }
  Instance* least_recent_idle() {
    Instance* best = nullptr;
    for (auto& [id, inst] : m_instances) {
      if (inst.state == State::ready && m_slots.in_flight(id) == 0 &&
          (best == nullptr || inst.last_used < best->last_used)) {
        best = &inst;
      }
    }
    return best;
  }

  void pump_swap() {
    while (!m_pending.empty()) {
      const std::size_t t = m_pending.front();
      const std::size_t model = m_tickets[t].model;
      Instance* current = nullptr;
      for (auto& [id, inst] : m_instances) {
        current = inst.state != State::stopping ? &inst : current;
      }
      if (current != nullptr && current->model == model) {
        if (current->state != State::ready) {
          return; // loading
        }
        dispatch(t, *current);
        m_pending.pop_front();
        continue;
      }
      if (current != nullptr) {
        if (m_slots.in_flight(current->id) == 0) {
          ++m_metrics.evictions;
          stop(*current);
        }
        return; // busy: its requests finish first
      }
      if (!stopping_any()) {
        start_load(create(model), layout_alone(model));
      }
      return;
    }
  }

  void pump_ollama() {
    const std::size_t max_loaded =
        static_cast<std::size_t>(m_options.ollama_loaded_per_gpu) * m_memory.size();
    for (std::size_t k = 0; k < m_pending.size();) {
      const std::size_t t = m_pending[k];
      const std::size_t model = m_tickets[t].model;
      if (Instance* inst = live_of(model)) {
        if (inst->state == State::ready) {
          dispatch(t, *inst);
          m_pending.erase(m_pending.begin() + static_cast<std::ptrdiff_t>(k));
        } else {
          ++k; // loading: it waits for that load, the queue moves on
        }
        continue;
      }
      if (m_awaiting != 0) {
        return; // an unload is under way for the request ahead
      }
      if (live_count() < max_loaded) {
        if (auto bytes = fit_free(model)) {
          start_load(create(model), std::move(*bytes));
          ++k;
          continue;
        }
      }
      Instance* victim = ollama_victim();
      if (victim == nullptr) {
        return; // only loads and exits under way: wait for them
      }
      m_awaiting = victim->id;
      evict(*victim);
      return;
    }
  }
  Instance* ollama_victim() {
    std::vector<Instance*> loaded;
    for (auto& [id, inst] : m_instances) {
      if (inst.state == State::ready && !inst.unload_when_idle) {
        loaded.push_back(&inst);
      }
    }
    const auto keep = [this](const Instance* i) {
      const core::Duration d = model_of(*i).spec.keep_alive;
      return d.is_forever() ? std::numeric_limits<Ms>::max() : d.value().count();
    };
    std::sort(loaded.begin(), loaded.end(), [&](const Instance* a, const Instance* b) {
      if (keep(a) != keep(b)) {
        return keep(a) < keep(b);
      }
      return a->last_used != b->last_used ? a->last_used < b->last_used : a->id < b->id;
    });
    for (Instance* i : loaded) {
      if (m_slots.in_flight(i->id) == 0) {
        return i;
      }
    }
    return loaded.empty() ? nullptr : loaded.front();
  }

  Policy m_policy;
  const Rig& m_rig;
  const std::vector<SimModel>& m_models;
  const std::vector<Arrival>& m_trace;
  ReplayOptions m_options;
  EventQueue m_events;
  std::vector<Ticket> m_tickets;
  Slots m_slots;
  Memory m_memory;
  Metrics m_metrics;
  std::vector<bool> m_placeable;
  std::map<std::uint64_t, Instance> m_instances;
  std::deque<std::size_t> m_pending; // tickets not yet handed to an instance, arrival order
  std::uint64_t m_next_id = 1;
  std::uint64_t m_awaiting = 0; // ollama: the runner whose exit the queue waits for
  Ms m_now = 0;
};

} // namespace

Metrics replay_baseline(Policy policy, const Rig& rig, const std::vector<SimModel>& models,
                        const std::vector<Arrival>& trace, const ReplayOptions& options) {
  Metrics m = BaselineReplay(policy, rig, models, trace, options).run();
  m.cold_starts = m.cold_loads; // each load starts for the request that then waits for it
  return m;
}

} // namespace ask::bench::sched::detail
