// sched_trace's askd replay: the trace run through router::Scheduler itself, over a
// FakeClock and a spawner that starts nothing and only schedules the instance's ready or
// exit event (sched_trace_sim.h has the event loop, slots and memory it shares with the
// baselines).

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "bench/sched_trace_sim.h"
#include "core/clock.h"

namespace ask::bench::sched::detail {
namespace {

// A scheduler whose next_wakeup() keeps answering a time it has already ticked at, with
// nothing else happening, would spin the replay forever; past this many such answers the
// replay stops and reports it.
constexpr std::size_t k_max_stuck_wakeups = 1000;

class AskdReplay {
public:
  AskdReplay(Policy policy, const Rig& rig, const std::vector<SimModel>& models,
             const std::vector<Arrival>& trace, const ReplayOptions& options)
      : m_rig(rig), m_models(models), m_trace(trace), m_options(options),
        m_label(rig.name + "/" + std::string(to_string(policy))), m_base(m_clock.now()),
        m_spawner(*this),
        m_sched(m_clock, m_spawner, rig.inventory, specs(models),
                scheduler_options(policy, options)),
        m_tickets(tickets_of(trace)), m_slots(m_tickets, m_events), m_memory(rig) {
    for (std::size_t i = 0; i < models.size(); ++i) {
      m_index.emplace(models[i].spec.name, i);
    }
    m_metrics.peak.assign(m_memory.size(), 0);
    m_metrics.cold_by_model.assign(models.size(), 0);
  }

  Metrics run() {
    std::size_t next = 0;
    Ms last_tick = -1;
    bool event_since_tick = true;
    while (true) {
      const Ms te = m_events.next_at();
      const Ms ta = next < m_trace.size() ? m_trace[next].at : k_never;
      Ms tw = wakeup();
      if (tw != k_never && tw <= last_tick && !event_since_tick) {
        if (++m_metrics.stuck_wakeups > k_max_stuck_wakeups) {
          m_metrics.problems += "next_wakeup() stayed at a time already ticked; replay stopped; ";
          break;
        }
        tw = last_tick + 1;
      }
      const Ms t = std::min({te, ta, tw});
      if (t == k_never) {
        break;
      }
      if (t > give_up_at(m_trace)) {
        m_metrics.problems += "still busy a day after the last arrival; replay stopped; ";
        break;
      }
      m_clock.advance(std::chrono::milliseconds(t - now()));
      if (te == t) {
        handle(m_events.pop());
        event_since_tick = true;
      } else if (ta == t) {
        arrive(next++);
        event_since_tick = true;
      } else {
        m_sched.tick();
        last_tick = t;
        event_since_tick = false;
        poll();
      }
      count_events();
    }
    summarise(m_tickets, m_models.size(), m_metrics);
    return m_metrics;
  }

private:
  // Starts and stops nothing: it only schedules the instance's ready (after the model's
  // load time) or exit, which the replay loop then tells the scheduler.
  class SimSpawner final : public router::Spawner {
  public:
    explicit SimSpawner(AskdReplay& owner) : m_owner(owner) {}
    void start(router::InstanceId id, const router::ModelSpec& model,
               const router::Plan& plan) override {
      m_owner.on_start(id, model, plan);
    }
    void stop(router::InstanceId id) override { m_owner.on_stop(id); }

  private:
    AskdReplay& m_owner;
  };

  struct Live {
    std::size_t model = 0;
    std::vector<std::uint64_t> bytes;
    bool stopping = false;
    bool cold = false;   // loaded with no other instance of its model up (not a replica)
    bool waited = false; // a request waited for it to be ready (a cold start)
    Ms ready_at = k_never;
  };

  static std::vector<router::ModelSpec> specs(const std::vector<SimModel>& models) {
    std::vector<router::ModelSpec> out;
    out.reserve(models.size());
    for (const SimModel& m : models) {
      out.push_back(m.spec);
    }
    return out;
  }
  static router::SchedulerOptions scheduler_options(Policy policy, const ReplayOptions& options) {
    router::SchedulerOptions o;
    o.eviction = policy == Policy::askd_seed ? router::EvictionOrder::seed_score
                                             : router::EvictionOrder::reload_cost;
    o.due_horizon = std::chrono::milliseconds(options.due_horizon_ms);
    o.prewarm = options.prewarm;
    return o;
  }

  Ms now() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(m_clock.now() - m_base).count();
  }
  Ms wakeup() const {
    const auto at = m_sched.next_wakeup();
    if (!at) {
      return k_never;
    }
    // Rounded up: a timer is due at or after its deadline, never before.
    const auto ns = (*at - m_base).count();
    return std::max<Ms>(now(), (ns + 999'999) / 1'000'000);
  }

  void on_start(router::InstanceId id, const router::ModelSpec& spec, const router::Plan& plan) {
    if (m_live.contains(id)) {
      m_metrics.problems += "start of live instance " + std::to_string(id) + "; ";
    }
    Live live;
    live.model = m_index.at(spec.name);
    live.bytes = plan_bytes(m_rig, plan);
    const bool replica = std::any_of(m_live.begin(), m_live.end(), [&](const auto& kv) {
      return kv.second.model == live.model && !kv.second.stopping;
    });
    live.cold = !replica;
    if (replica) {
      ++m_metrics.replica_loads;
    } else {
      ++m_metrics.cold_loads;
      ++m_metrics.cold_by_model[live.model];
    }
    m_memory.add(live.bytes, m_metrics);
    m_events.push(now() + m_models[live.model].load_ms, EventKind::ready, id);
    m_live[id] = std::move(live);
  }
  void on_stop(router::InstanceId id) {
    const auto it = m_live.find(id);
    if (it == m_live.end() || it->second.stopping) {
      m_metrics.problems += "stop of an instance not running: " + std::to_string(id) + "; ";
      return;
    }
    it->second.stopping = true;
    m_events.push(now() + m_options.exit_ms, EventKind::exited, id);
  }

  void handle(const Event& e) {
    switch (e.kind) {
    case EventKind::ready:
      if (const auto it = m_live.find(e.id); it != m_live.end()) {
        it->second.ready_at = now();
      }
      m_sched.ready(e.id);
      break;
    case EventKind::exited:
      if (const auto it = m_live.find(e.id); it != m_live.end()) {
        m_memory.remove(it->second.bytes);
        m_live.erase(it);
      }
      m_sched.exited(e.id, {});
      break;
    case EventKind::done: {
      m_slots.complete(e.id, now());
      m_sched.finish(m_tickets[e.id].rid);
      break;
    }
    case EventKind::expire:
      break;
    }
    poll();
  }

  void arrive(std::size_t t) {
    Ticket& ticket = m_tickets[t];
    ticket.rid = m_sched.submit(m_models[ticket.model].spec.name);
    const router::Outcome out = m_sched.outcome(ticket.rid);
    if (const auto* a = std::get_if<router::Assigned>(&out)) {
      m_slots.assign(a->instance, m_models[ticket.model].spec.parallel, t, now());
    } else if (std::holds_alternative<router::Waiting>(out)) {
      ticket.cold = true;
      m_waiting.push_back(t);
    } else {
      fail(t);
    }
    poll();
  }

  void fail(std::size_t t) {
    Ticket& ticket = m_tickets[t];
    ticket.failed = true;
    ticket.unplaceable = !placeable(m_rig, m_models[ticket.model]);
    m_sched.finish(ticket.rid); // forgets it
  }

  // Hands over every waiting request the scheduler has decided, in arrival order, until
  // nothing changes (forgetting a failed one lets the scheduler decide again).
  void poll() {
    bool changed = true;
    while (changed) {
      changed = false;
      for (std::size_t k = 0; k < m_waiting.size();) {
        const std::size_t t = m_waiting[k];
        const router::Outcome out = m_sched.outcome(m_tickets[t].rid);
        if (std::holds_alternative<router::Waiting>(out)) {
          ++k;
          continue;
        }
        m_waiting.erase(m_waiting.begin() + static_cast<std::ptrdiff_t>(k));
        changed = true;
        if (const auto* a = std::get_if<router::Assigned>(&out)) {
          count_cold_start(a->instance, m_tickets[t]);
          m_slots.assign(a->instance, m_models[m_tickets[t].model].spec.parallel, t, now());
        } else {
          fail(t);
        }
      }
    }
  }

  // A waiting request was handed to `instance`: if that is a cold load that became ready
  // after the request came, the request waited for it (a prewarm ready before its request
  // came never counts: that request is handed to it on arrival).
  void count_cold_start(router::InstanceId instance, const Ticket& ticket) {
    const auto it = m_live.find(instance);
    if (it != m_live.end() && it->second.cold && !it->second.waited &&
        ticket.arrival < it->second.ready_at) {
      it->second.waited = true;
      ++m_metrics.cold_starts;
    }
  }

  void count_events() {
    for (const router::EventRecord& e : m_sched.take_events()) {
      if (m_options.event_log != nullptr) {
        const Ms at = std::chrono::duration_cast<std::chrono::milliseconds>(e.at - m_base).count();
        std::fprintf(
            m_options.event_log, "%s %02lld:%02lld:%06.3f %-12s %-10s #%llu %s\n", m_label.c_str(),
            static_cast<long long>(at / 3'600'000), static_cast<long long>(at / 60'000 % 60),
            static_cast<double>(at % 60'000) / 1000, std::string(router::to_string(e.kind)).c_str(),
            e.model.c_str(), static_cast<unsigned long long>(e.instance), e.detail.c_str());
      }
      if (e.kind == router::EventRecord::Kind::stop && e.detail.starts_with("evicted")) {
        ++m_metrics.evictions;
      }
      if (e.kind == router::EventRecord::Kind::load && e.detail.starts_with("prewarm")) {
        ++m_metrics.prewarms;
      }
      if (e.kind == router::EventRecord::Kind::stop && e.detail.starts_with("prewarmed")) {
        ++m_metrics.prewarms_unused;
      }
    }
  }

  const Rig& m_rig;
  const std::vector<SimModel>& m_models;
  const std::vector<Arrival>& m_trace;
  ReplayOptions m_options;
  std::string m_label; // rig/policy, for the event log
  core::FakeClock m_clock;
  router::SteadyTime m_base;
  SimSpawner m_spawner;
  router::Scheduler m_sched;
  EventQueue m_events;
  std::vector<Ticket> m_tickets;
  Slots m_slots;
  Memory m_memory;
  Metrics m_metrics;
  std::map<std::string, std::size_t> m_index;
  std::map<router::InstanceId, Live> m_live;
  std::vector<std::size_t> m_waiting; // tickets the scheduler has not decided yet
};

} // namespace

Metrics replay_askd(Policy policy, const Rig& rig, const std::vector<SimModel>& models,
                    const std::vector<Arrival>& trace, const ReplayOptions& options) {
  return AskdReplay(policy, rig, models, trace, options).run();
}

} // namespace ask::bench::sched::detail
